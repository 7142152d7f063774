# This machine, after a run's files came back: keeps a seed's small records under results/learning/data/RUN.
# Usage: bash results/learning/store_run.sh FETCHED RUN [SEED]   (FETCHED holds exp.tgz, and with TRAJ=1
# trajectories.tgz or its parts)
set -eu
fetched=$1 run=$2 seed=${3:-0}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
tar -xzf "$fetched/exp.tgz" -C "$work"
[ -f "$fetched/trajectories.tgz" ] && tar -xzf "$fetched/trajectories.tgz" -C "$work"
if ls "$fetched"/trajectories.tgz.part* > /dev/null 2>&1; then cat "$fetched"/trajectories.tgz.part* | tar -xzf - -C "$work"; fi
root=$work/$(ls "$work" | grep -v "\.log$" | head -1)  # exp on the device
s=$root/seed$seed
out=$here/data/$run
mkdir -p "$out"
# A run resumed from an older checkpoint than the stored records reached (a machine lost with its newest one)
# does not extend them: its pieces are not the stored pieces plus more. Keep the stored records aside, not
# overwritten (run 15 did this by hand: data/run13/lost_steps_61_99).
stored=$out/seed${seed}_rl_pieces.jsonl fresh=$s/rl/pieces.jsonl
if [ -f "$stored" ] && [ -f "$fresh" ] && ! head -c "$(stat -c %s "$stored")" "$fresh" | cmp -s - "$stored"; then
  aside=$out/replaced_seed${seed}_$(date -u +%Y%m%dT%H%M%S)
  mkdir -p "$aside" && cp -p "$out"/seed${seed}[._]* "$aside"/
  echo "seed $seed's stored pieces are not a start of the fetched run's: the stored records are kept in $aside"
fi
cp "$s/demo_config.json" "$out/seed${seed}_demo_config.json"
# with --parallel, RL and the evaluations log in the seed's own logs/ (one child each): appended after its log
for log in "$root/logs/seed$seed.log" "$s"/logs/*.log; do
  [ -f "$log" ] && echo "== $(basename "$log")" && tr '\r' '\n' < "$log" | grep -v "it/s\]\|s/it\]\|examples/s\]\|^\s*$"
done > "$out/seed$seed.log.new"
if [ -s "$out/seed$seed.log.new" ]; then mv "$out/seed$seed.log.new" "$out/seed$seed.log"; else rm -f "$out/seed$seed.log.new"; fi
for stage in sft rl; do  # an RL run paused on its time budget has no record yet
  [ -f "$s/$stage/stage.json" ] && cp "$s/$stage/stage.json" "$out/seed${seed}_${stage}_stage.json"
done
[ -f "$s/rl/pieces.jsonl" ] && cp "$s/rl/pieces.jsonl" "$out/seed${seed}_rl_pieces.jsonl"
cp "$s/rl/train_log.json" "$out/seed${seed}_rl_train_log.json"
cp "$s/rl/rl_config.json" "$out/seed${seed}_rl_config.json"
[ -f "$s/rl/best.json" ] && cp "$s/rl/best.json" "$out/seed${seed}_rl_best.json"
[ -f "$s/rl/probe.jsonl" ] && cp "$s/rl/probe.jsonl" "$out/seed${seed}_probe.jsonl"
for e in "$s"/eval_*; do
  name=${e##*/eval_}
  [ -f "$e/dialogue_scores.jsonl" ] && cp "$e/dialogue_scores.jsonl" "$out/seed${seed}_${name}_dialogue_scores.jsonl"
  # the held-out play itself, for heldout_diff.py
  [ -f "$e/checklist_trajectories.jsonl" ] && gzip -nc "$e/checklist_trajectories.jsonl" \
    > "$out/seed${seed}_${name}_heldout_trajectories.jsonl.gz"
done
[ -f "$s/filter/heldout.jsonl" ] && gzip -nc "$s/filter/heldout.jsonl" > "$out/seed${seed}_heldout.jsonl.gz"
for f in results.json results.md; do [ -f "$s/results/$f" ] && cp "$s/results/$f" "$out/seed${seed}_$f"; done
# the seeds' summary only once this seed is in it (a paused seed's is empty)
[ -f "$s/eval/stage.json" ] && for f in "$root"/results/seeds.*; do [ -f "$f" ] && cp "$f" "$out/"; done
if [ -f "$s/rl/trajectories.jsonl" ]; then
  python "$here/reward_vs_bfcl.py" "$s" > "$out/seed${seed}_reward_vs_bfcl.txt"
  gzip -nc "$s/rl/reward_vs_bfcl.json" > "$out/seed${seed}_reward_vs_bfcl.json.gz"
fi
[ -f "$out/seed${seed}_probe.jsonl" ] && (cd "$here" && python plot_run.py "data/$run/seed${seed}_rl_train_log.json" \
  "${run}_curves.png" "data/$run/seed${seed}_probe.jsonl" > /dev/null)
echo "kept in $out:"; ls "$out"
echo "unpacked run: $root"
