# GPU machine, after device_setup.sh: does a compile cache carried from an earlier machine take the compilation
# out of the experiment's first evaluation, RL's first probe and RL's first step? Two short experiments one after
# the other (SFT 1 epoch, held-out evaluation of SFT, RL 2 steps), the first with an empty cache folder, the
# second with what the first left there; `CACHE=1 device_collect.sh` brings the cache home. Detached: poll
# with `tail ~/cache_check.log`. Each experiment's stage times are in ~/cc_{cold,warm}/seed0/*/stage.json.
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 HF_HUB_OFFLINE=1 USE_HUB_KERNELS=NO \
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True TORCHINDUCTOR_CACHE_DIR=$HOME/cc/inductor TRITON_CACHE_DIR=$HOME/cc/triton
one() {
  start=$(date +%s)
  python3 -m cm2.cli experiment --out ~/cc_$1 --model ~/gemma --seeds 0 --levels trajectory --tool-docs compact \
    --rl-max-steps 2 --group-size 8 --dialogues-per-step 8 --probe-every 20 --probe-dialogues 16 --eval-concurrency 32 \
    --sft-epochs 1 --sft-checkpoints 1 --eval-models sft --rl-budget end --rl-data all --rl-lora \
    --window-attention on > ~/cc_$1.log 2>&1 < /dev/null
  echo "$1: rc $? in $(( $(date +%s) - start )) s, cache $(du -sm ~/cc | cut -f1) MiB"
  python3 - "$1" <<'PY'
import json, sys, os
out = os.path.expanduser(f"~/cc_{sys.argv[1]}/seed0")
for stage in ("sft", "eval_sft", "rl"):
    try: print(" ", stage, json.load(open(f"{out}/{stage}/stage.json"))["seconds"], "s")
    except Exception as e: print(" ", stage, e)
try:
    rows = [r for r in json.load(open(f"{out}/rl/train_log.json")) if "reward" in r]
    print("  rl steps", [(round(r.get("cm2/rollout_seconds", 0), 1), round(r.get("step_time", 0), 1)) for r in rows])
    print("  probes", [(json.loads(l)["step"], json.loads(l)["seconds"]) for l in open(f"{out}/rl/probe.jsonl")])
except Exception as e: print("  rl", e)
PY
}
# setsid: the device tool ends what a call leaves in its own process group (the first try, run 12, lost its
# cold experiment at the end of the launching call)
export -f one
setsid nohup bash -c 'rm -rf ~/cc && one cold && one warm && echo DONE' > ~/cache_check.log 2>&1 < /dev/null &
echo started
