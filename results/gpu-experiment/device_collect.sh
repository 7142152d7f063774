# Copies the experiment's small files to $OUT and prints where it stands.
mkdir -p $OUT
tar czf $OUT/exp.tgz --exclude='*.safetensors' --exclude='*.bin' --exclude='*.pt' --exclude='checkpoint-*' \
  --exclude='trajectories.jsonl' --exclude='tokenizer.json' --exclude='tokenizer.model' -C /root exp exp.log 2>/dev/null
(cd /root && ls exp/*/trajectories.jsonl >/dev/null 2>&1 && tar czf $OUT/traj.tgz exp/*/trajectories.jsonl)
clean() { tr '\r' '\n' < "$1" | grep -v "it/s\]\|s/it\]\|examples/s\]\|^\s*$" | tail -$2; }
clean /root/exp.log ${SHOWN:-25}
for f in /root/exp/logs/*.log; do echo "== $f"; clean $f 4; done 2>/dev/null
python3 - <<'PY'
import glob, json
for f in sorted(glob.glob('/root/exp/rl*/train_log.json')):
    try: log = json.load(open(f))
    except Exception as e: print(f, e); continue
    rows = [r for r in log if 'reward' in r]
    print(f.split('/')[-2], 'reward', [round(r['reward'], 3) for r in rows], 'rollout_s', [round(r.get('cm2/rollout_seconds', 0)) for r in rows][-3:], 'turns', [round(r.get('cm2/turns_reached', 0), 2) for r in rows][-3:])
for f in sorted(glob.glob('/root/exp/eval_*/stage.json')):
    s = json.load(open(f))['outputs']['scores']
    print(s['model'], 'exact', round(s['exact_call_accuracy'], 3), 'bfcl', round(s['bfcl_accuracy'], 3), 'checklist', round(s['checklist_score'], 3), s['seconds'], 's')
PY
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
