# GPU machine: the run folder ~/exp without model weights, as $OUT/state.tgz or its 15 MiB parts
# (state.tgz.part00, ...), which device_restore.sh puts back. Of an RL run's checkpoints only the newest complete
# one goes (with --rl-checkpoint-every the trainer keeps two). Safe while the experiment runs: it reads a snapshot
# of hard links, so a checkpoint the trainer rotates away mid-copy stays whole, and a resumed piece drops whatever
# the snapshot holds of steps after that checkpoint (cm2.train.resume). Used by device_fetch.sh 0 (after the
# experiment exits) and by `STATE=1 device_collect.sh` (every poll: a machine taken back loses only the steps
# since the newest checkpoint).
set -eu
snap=$HOME/.state-snapshot  # beside ~/exp: hard links need the same file system
rm -rf "$snap" && mkdir -p "$snap" && cp -al "$HOME/exp" "$snap/exp"
find "$snap/exp" -type d -name 'checkpoint-*' -printf '%h\n' | sort -u | while read -r run; do
  newest=$(ls -d "$run"/checkpoint-* | sort -V | while read -r c; do [ -f "$c/trainer_state.json" ] && echo "$c"; done | tail -1)
  for c in "$run"/checkpoint-*; do [ "$c" = "$newest" ] || rm -rf "$c"; done
done
# files over 50 MiB (full model weights, a full fine-tune's optimizer) and tokenizers stay behind: the SFT model
# travels as its pack (device_fetch.sh K), a LoRA checkpoint (adapter, optimizer) comes along
(cd "$snap" && find exp -type f -size +50M) > "$snap/left_behind.txt"
# exit 1: a file grew while read (a log being appended to); the archive is whole
tar -czf "$snap/state.tgz" -X "$snap/left_behind.txt" --exclude=tokenizer.json --exclude=trajectories.jsonl \
  -C "$snap" exp || [ $? = 1 ]
if [ "$(stat -c %s "$snap/state.tgz")" -gt $((15 * 1024 * 1024)) ]; then
  split -b 15M -d "$snap/state.tgz" "$OUT/state.tgz.part"
else
  cp "$snap/state.tgz" "$OUT/"
fi
sed 's/^/left behind: /' "$snap/left_behind.txt"
(cd "$snap" && find exp -type d -name 'checkpoint-*' | sed 's/^/checkpoint: /')
rm -rf "$snap"
