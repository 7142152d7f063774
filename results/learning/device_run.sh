# GPU machine: the learning experiment, detached (the device tool's calls are 10 minutes at most; poll with
# device_collect.sh). Three seeds side by side on one GPU, each: SFT with the checkpoint chosen on 16 train
# dialogues, held-out evaluation of base (first seed) and SFT, 100 GRPO steps on per-turn tasks (probing those 16
# dialogues, played whole, every 5 steps), evaluation of RL.
# From run 7 on, SFT leaves RL_DIALOGUES train dialogues to RL alone (the paper's separate RL data; 0: RL trains on
# SFT's dialogues, as in runs 1-6) and compares SFT_CKPTS checkpoints over SFT_EPOCHS epochs (runs 1-6: 3 and 3,
# where the last checkpoint was still the best; run 7: 3 checkpoints over 5 epochs; from run 8 on, 4 over 8, where
# exact calls peaked at the third).
# SEEDS, RL_MIN, EXTRA (more flags) and LOG (the launcher's log, ~/exp.log) change it. A seed does not fit one
# device session: from run 12 on, a session runs two side by side (SEEDS=a,b), one carried over from the last
# session (device_restore.sh), one new.
# The experiment runs from a copy of the source: each device call copies the working tree afresh, and a seed that
# imported a module while one did failed with ModuleNotFoundError (most likely how run 13's seed 0 died on its start)
command=(python3 -m cm2.cli experiment --out ~/exp --model ~/gemma --seeds ${SEEDS:-0,1,2} --levels trajectory
  --tool-docs compact --rl-max-steps 100 --rl-max-minutes ${RL_MIN:-13} --group-size 8 --dialogues-per-step 8
  --probe-every 5 --probe-dialogues 16 --eval-concurrency 32 --rl-dialogues ${RL_DIALOGUES:-48}
  --sft-epochs ${SFT_EPOCHS:-8} --sft-checkpoints ${SFT_CKPTS:-4} ${EXTRA:-})
# PLAN=1: only print what the launch would do with each stage (skip, resume, discard), here or on the device. At
# home, with a state put back under ~/exp, it shows before any device time is spent whether a change of the code
# would discard a run's checkpoints (as save_total_limit did to seed 1's checkpoint-60).
if [ -n "${PLAN:-}" ]; then "${command[@]}" --plan; exit; fi
src=$(mktemp -d "$HOME/cm2-src.XXXXXX")  # one per launch: two launches may come within a second
cp -r cm2 configs pyproject.toml "$src"/ && cd "$src"
export PYTHONPATH=/tmp/site:$src PYTHONUNBUFFERED=1 TRL_EXPERIMENTAL_SILENCE=1 HF_HUB_OFFLINE=1 USE_HUB_KERNELS=NO \
  PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
# torch.compile's caches in one folder, which device_setup.sh fills from an earlier session's (.gpu-stage/cc) and
# `CACHE=1 device_collect.sh` brings home: a held-out evaluation took 119 s with it against 179 s without. Its keys
# hold the GPU's name: entries written on an H100 do not serve an H200 (run 15: RL's first step 264 s)
export TORCHINDUCTOR_CACHE_DIR=$HOME/cc/inductor TRITON_CACHE_DIR=$HOME/cc/triton
setsid nohup "${command[@]}" > "${LOG:-$HOME/exp.log}" 2>&1 < /dev/null &
echo "started pid $!"
