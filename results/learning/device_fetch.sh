# GPU machine: bring a seed's run back so the next session can go on with it (RL in pieces, `--rl-lora`, or RL
# afresh from this SFT model; see README, "What it takes to finish"). The device tool returns at most 8 files a
# call, 16 MiB each and 64 MiB together, so larger files come back in 15 MiB parts.
#   bash results/learning/device_fetch.sh 0   the run folder without model weights (RL checkpoints of LoRA
#                                             runs included: ~22 MiB) as state.tgz, the SFT pack's file list and
#                                             its md5 sums
#   bash results/learning/device_fetch.sh K   the K-th file (K >= 1) of the SFT model's pack (bf16 shards of
#                                             60 MiB: four parts, NAME.part00 to NAME.part03)
# Locally, join the parts (`cat NAME.part* > NAME`, then `md5sum -c` against pack_md5.txt) and put each file
# of 60 MiB in a folder of its own under .gpu-stage/sft<K>/ (git-ignored; the small files share one): the next
# session carries one such folder a call (64 MiB at most).
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
  # a piece stopped on its budget still writes its record and final models after its last step: wait for the
  # experiment to exit (up to WAIT seconds, default 300), or the state misses them (run 10's piece 1 did)
  for _ in $(seq $(( ${WAIT:-300} / 5 ))); do pgrep -f "cm2.cli experiment" > /dev/null || break; sleep 5; done
  pgrep -f "cm2.cli experiment" > /dev/null && echo "warning: the experiment is still running; the state may be partial" >&2
  # files over 50 MiB (full model weights, a full fine-tune's optimizer) and tokenizers stay behind: the SFT
  # model travels as its pack (tokenizer included); a LoRA checkpoint (adapter, optimizer) comes along
  (cd ~ && find exp -type f -size +50M) > /tmp/left_behind.txt
  tar -czf /tmp/state.tgz -X /tmp/left_behind.txt --exclude=tokenizer.json --exclude=trajectories.jsonl -C ~ exp
  # a LoRA run's checkpoint makes it about 25 MiB: parts (state.tgz.part00, ...) that device_restore.sh joins
  if [ "$(stat -c %s /tmp/state.tgz)" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M -d /tmp/state.tgz "$OUT/state.tgz.part"
  else
    cp /tmp/state.tgz "$OUT/"
  fi
  sed 's/^/left behind: /' /tmp/left_behind.txt
  ls ~/sft-pack | tee "$OUT/pack_files.txt"
  (cd ~/sft-pack && md5sum -- *) > "$OUT/pack_md5.txt"
else
  f=$(ls ~/sft-pack | sed -n "${k}p")
  [ -n "$f" ] || { echo "no file $k in ~/sft-pack" >&2; exit 2; }
  if [ "$(stat -c %s ~/sft-pack/"$f")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M -d ~/sft-pack/"$f" "$OUT/$f.part"
  else
    cp ~/sft-pack/"$f" "$OUT/"
  fi
  echo "$f ($(du -m ~/sft-pack/"$f" | cut -f1) MiB), file $k of $(ls ~/sft-pack | wc -l)"
fi
du -sm "$OUT"
