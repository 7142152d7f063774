# GPU machine: bring a seed's run back so the next session can go on with it (RL in pieces, `--rl-lora`, or RL
# afresh from this SFT model; see README, "What it takes to finish"). The device tool returns at most 8 files a
# call, 16 MiB each and 64 MiB together, so larger files come back in 15 MiB parts.
#   bash results/learning/device_fetch.sh 0   the run folder without model weights (RL checkpoints of LoRA
#                                             runs included: ~22 MiB) as state.tgz, the SFT pack's file list and
#                                             its md5 sums
#   bash results/learning/device_fetch.sh K   the K-th file (K >= 1) of the SFT model's pack (bf16 shards of
#                                             60 MiB: four parts, NAME.part00 to NAME.part03)
# Here: `UP=.gpu-stage/up<S> bash results/learning/stage_pack.sh DIR pack_md5.txt`, DIR holding what came back of
# the pack (NAME or its parts NAME.partNN), joins and checks the files and cuts them into the parts that the next
# session carries up, one call each (device_restore.sh puts them back).
set -eu
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1
seed=${SEED:-0}
pack=$HOME/sft-pack-seed$seed  # not ~/sft-pack: device_restore.sh puts a restored seed's pack there
mkdir -p "$OUT"
if [ ! -f "$pack/portable.json" ]; then
  sft=$(python3 -c "import json, pathlib; p = pathlib.Path.home() / 'exp/seed$seed/sft/stage.json'; print(json.loads(p.read_text())['outputs']['final'])")
  python3 -m cm2.train.portable pack "$sft" "$pack" >&2
fi
k=${1:-0}
if [ "$k" = 0 ]; then
  # a piece stopped on its budget still writes its record and final models after its last step: wait for the
  # experiment to exit (up to WAIT seconds, default 300), or the state misses them (run 10's piece 1 did)
  for _ in $(seq $(( ${WAIT:-300} / 5 ))); do pgrep -f "cm2.cli experiment" > /dev/null || break; sleep 5; done
  pgrep -f "cm2.cli experiment" > /dev/null && echo "warning: the experiment is still running; the state may be partial" >&2
  bash "$(dirname "$0")/device_state.sh"
  ls "$pack" | tee "$OUT/pack_files.txt"
  (cd "$pack" && md5sum -- *) > "$OUT/pack_md5.txt"
else
  f=$(ls "$pack" | sed -n "${k}p")
  [ -n "$f" ] || { echo "no file $k in $pack" >&2; exit 2; }
  if [ "$(stat -c %s "$pack/$f")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M -d "$pack/$f" "$OUT/$f.part"
  else
    cp "$pack/$f" "$OUT/"
  fi
  echo "$f ($(du -m "$pack/$f" | cut -f1) MiB), file $k of $(ls "$pack" | wc -l)"
fi
du -sm "$OUT"
