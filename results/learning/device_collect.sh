# GPU machine: copy the experiment's small files to $OUT and print where it stands (safe to run any time).
# WATCH=S: first wait up to S seconds, ending early when the experiment exits, so that one call after another keeps
# the machine (it goes back 30 s after a call: run 12 lost its run between two polls).
mkdir -p $OUT
for _ in $(seq $(( ${WATCH:-0} / 5 ))); do pgrep -f "cm2.cli experiment" > /dev/null || break; sleep 5; done
tar czf $OUT/exp.tgz --exclude='*.safetensors' --exclude='*.bin' --exclude='*.pt' --exclude='checkpoint-*' \
  --exclude='trajectories.jsonl' --exclude='tokenizer.json' --exclude='rollouts*.jsonl' -C ~ exp exp.log 2>/dev/null
# TRAJ=1: also every RL rollout, verdicts included (~3 KB a rollout gzipped), for reading what RL learned
# (over 15 MiB, as for two seeds or 100 steps, in parts trajectories.tgz.part00 ..., which store_run.sh joins)
[ -n "${TRAJ:-}" ] && (cd ~ && tar czf - exp/seed*/rl*/trajectories.jsonl 2>/dev/null | split -b 15M -d - $OUT/trajectories.tgz.part)
# STATE=1: also the run folder as device_fetch.sh 0 brings it (RL's newest checkpoint included, ~30 MiB for a
# LoRA run), so that with --rl-checkpoint-every a machine taken back mid-run loses only the steps since then
[ -n "${STATE:-}" ] && bash "$(dirname "$0")/device_state.sh" | grep -v "^left behind"
# CACHE=1: also torch.compile's caches (~/cc, device_run.sh), for the next session's .gpu-stage/cc
[ -n "${CACHE:-}" ] && [ -d ~/cc ] && tar czf - -C ~ cc | split -b 15M -d - $OUT/cc.tgz.part
clean() { tr '\r' '\n' < "$1" | grep -v "it/s\]\|s/it\]\|examples/s\]\|^\s*$" | tail -$2; }
clean ~/exp.log 8
# with --parallel a seed's RL and evaluations run in child processes that log under the seed's folder
for f in ~/exp/logs/*.log ~/exp/seed*/logs/*.log; do [ -f "$f" ] && echo "== $f" && clean $f ${SHOWN:-6}; done 2>/dev/null
python3 - <<'PY'
import glob, json, os
for f in sorted(glob.glob(os.path.expanduser('~/exp/seed*/rl/train_log.json'))):
    try: log = json.load(open(f))
    except Exception as e: print(f, e); continue
    rows = [r for r in log if 'reward' in r]
    print(f.split('/')[-3], len(rows), 'steps; reward', [round(r['reward'], 2) for r in rows][-12:],
          'flat', [r.get('cm2/flat_groups') for r in rows][-5:], 'rollout_s', [round(r.get('cm2/rollout_seconds', 0), 1) for r in rows][-3:])
    if rows:  # where the last step's rollout time went (cm2.rollout.timing)
        print('  last step', {k.split('/', 1)[1]: round(v, 2) for k, v in rows[-1].items() if k.startswith(('cm2/time/', 'cm2/decoder/'))})
    checked = [(r['step'], round(r['cm2/logprob_gap_mean'], 4), round(r['cm2/logprob_gap_max'], 3)) for r in rows if 'cm2/logprob_gap_mean' in r]
    print('  logprob gap (step, mean, max)', checked[-4:])
for f in sorted(glob.glob(os.path.expanduser('~/exp/seed*/*/stage.json'))):
    out = json.load(open(f)).get('outputs', {})
    s = out.get('scores')
    if isinstance(s, dict):
        print(f.split('/')[-3], s['model'], 'state', round(s['state_match_accuracy'], 3), 'exact', round(s['exact_call_accuracy'], 3), 'checklist', round(s['checklist_score'], 3), s.get('seconds'), 's')
    if 'selected' in out:
        print(f.split('/')[-3], 'sft selected', out['selected'], out.get('validation'))
PY
nvidia-smi --query-gpu=memory.used,utilization.gpu --format=csv,noheader
