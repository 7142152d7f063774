# GPU machine: bring a seed's run back in calls of at most 64 MiB, so the next session can go on with it
# (RL in pieces, `--rl-lora`; see README, "What it takes to finish").
#   bash results/learning/device_fetch.sh 0   the run folder without model weights (RL checkpoints of LoRA
#                                             runs included: ~22 MiB) as state.tgz, and the SFT pack's file list
#   bash results/learning/device_fetch.sh K   the K-th file (K >= 1) of the SFT model's pack (bf16 shards)
# Locally, put file K under .gpu-stage/sft<K>/ (git-ignored); the next session carries one such folder a call.
set -eu
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1
seed=${SEED:-0}
mkdir -p "$OUT"
if [ ! -f ~/sft-pack/portable.json ]; then
  sft=$(python3 -c "import json, pathlib; p = pathlib.Path.home() / 'exp/seed$seed/sft/stage.json'; print(json.loads(p.read_text())['outputs']['final'])")
  python3 -m cm2.train.portable pack "$sft" ~/sft-pack >&2
fi
k=${1:-0}
if [ "$k" = 0 ]; then
  # files over 50 MiB (full model weights, a full fine-tune's optimizer) and tokenizers stay behind: the SFT
  # model travels as its pack (tokenizer included); a LoRA checkpoint (adapter, optimizer) comes along
  (cd ~ && find exp -type f -size +50M) > /tmp/left_behind.txt
  tar -czf "$OUT/state.tgz" -X /tmp/left_behind.txt --exclude=tokenizer.json --exclude=trajectories.jsonl -C ~ exp
  sed 's/^/left behind: /' /tmp/left_behind.txt
  ls ~/sft-pack | tee "$OUT/pack_files.txt"
else
  f=$(ls ~/sft-pack | sed -n "${k}p")
  [ -n "$f" ] || { echo "no file $k in ~/sft-pack" >&2; exit 2; }
  cp ~/sft-pack/"$f" "$OUT/"
  echo "$f ($(du -m ~/sft-pack/"$f" | cut -f1) MiB), file $k of $(ls ~/sft-pack | wc -l)"
fi
du -sm "$OUT"
