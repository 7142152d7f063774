# GPU machine, a later session: puts back a seed's run that device_fetch.sh brought home, so device_run.sh with
# the same flags (and --rl-lora) goes on where RL stopped. Before it: device_setup.sh; then, one call each, the
# SFT pack's parts that stage_pack.sh cut here: carry [".gpu-stage/up/NN"] with
# `mkdir -p ~/up && cp .gpu-stage/up/NN/* ~/up/` (or, as before, each pack file under ~/sft-pack); this call
# carries [".gpu-stage/state"] (state.tgz or its parts, and pack_md5.txt to check the pack against). Stage records
# hold absolute paths: same user, ~/exp.
set -eu
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1
seed=${SEED:-0}
if ls ~/up/pack.tar.part* > /dev/null 2>&1; then
  mkdir -p ~/sft-pack && cat ~/up/pack.tar.part* | tar -xf - -C ~/sft-pack && rm -rf ~/up
fi
state=${STATE:-.gpu-stage/state}  # the carried folder (one per seed: state, state1, ...)
ls "$state"/state.tgz.part* > /dev/null 2>&1 && cat "$state"/state.tgz.part* > "$state"/state.tgz
tar -xzf "$state"/state.tgz -C ~
if [ -f "$state"/pack_md5.txt ]; then (cd ~/sft-pack && md5sum --quiet -c "$OLDPWD/$state/pack_md5.txt"); fi
# FRESH_RL=1: RL starts over from the restored SFT model (a full fine-tune's checkpoint cannot travel), so the
# stages from RL on run again
[ -n "${FRESH_RL:-}" ] && rm -rf ~/exp/seed$seed/{rl,eval_rl,eval_rl_last,eval,report,results} ~/exp/results
sft=$(python3 -c "import json, pathlib; p = pathlib.Path.home() / 'exp/seed$seed/sft/stage.json'; print(json.loads(p.read_text())['outputs']['final'])")
python3 -m cm2.train.portable unpack ~/sft-pack "$sft"
ls ~/exp/seed$seed/rl 2>/dev/null | grep checkpoint- || echo "no RL checkpoint yet: RL starts from step 0"
