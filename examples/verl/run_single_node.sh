#!/usr/bin/env bash
# GRPO with checklist rewards on one node with VeRL 0.9.1 and cm2's plugin (configs/verl/cm2_grpo.yaml).
#
# Needs: pip install 'cm2[verl]' plus VeRL's inference engine (e.g. pip install 'verl[vllm]'), GPUs, and an
# OpenAI-compatible server for the judge and the tool simulator, e.g. on a GPU kept out of training:
#   CUDA_VISIBLE_DEVICES=7 vllm serve Qwen/Qwen3-30B-A3B --port 8001 &
# Then:
#   CM2_POLICY=/models/cold-start-sft CM2_DIALOGUES=data/rl.jsonl CM2_JUDGE_URL=http://127.0.0.1:8001/v1 \
#     CM2_GPUS_PER_NODE=7 examples/verl/run_single_node.sh [hydra overrides...]
# CM2_VARIANT=small selects the small variant (configs/verl/variant/small.yaml). Extra arguments are hydra
# overrides, e.g. algorithm.cm2.level=turn trainer.total_training_steps=200.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
DATA_DIR="${CM2_DATA_DIR:-$REPO/data/verl}"

# 1. Data: cm2 dialogues with checklists -> VeRL rows (skipped when the Parquet files already exist).
#    Without a separate validation file, the training file is also used for validation.
if [[ -n "${CM2_DIALOGUES:-}" && ! -f "$DATA_DIR/train.parquet" ]]; then
  mkdir -p "$DATA_DIR"
  "$PYTHON" -m cm2.integrations.verl.prepare "$CM2_DIALOGUES" "$DATA_DIR/train.parquet"
  if [[ -n "${CM2_VAL_DIALOGUES:-}" ]]; then
    "$PYTHON" -m cm2.integrations.verl.prepare "$CM2_VAL_DIALOGUES" "$DATA_DIR/val.parquet"
  fi
fi
export CM2_TRAIN_FILES="${CM2_TRAIN_FILES:-$DATA_DIR/train.parquet}"
if [[ -z "${CM2_VAL_FILES:-}" ]]; then
  if [[ -f "$DATA_DIR/val.parquet" ]]; then CM2_VAL_FILES="$DATA_DIR/val.parquet"; else CM2_VAL_FILES="$CM2_TRAIN_FILES"; fi
fi
export CM2_VAL_FILES

# 2. Fail early when VeRL does not load cm2's plugin in this environment (VeRL only logs that at DEBUG).
"$PYTHON" -m cm2.integrations.verl

# 3. Train. The essentials go in as explicit hydra overrides (the YAML's ${oc.env:...} defaults are
#    only resolved later, inside Ray workers).
ARGS=("data.train_files=$CM2_TRAIN_FILES" "data.val_files=$CM2_VAL_FILES")
if [[ -n "${CM2_VARIANT:-}" ]]; then ARGS+=("variant=$CM2_VARIANT"); fi
if [[ -n "${CM2_POLICY:-}" ]]; then ARGS+=("actor_rollout_ref.model.path=$CM2_POLICY"); fi
if [[ -n "${CM2_GPUS_PER_NODE:-}" ]]; then ARGS+=("trainer.n_gpus_per_node=$CM2_GPUS_PER_NODE"); fi
if [[ -n "${CM2_JUDGE_URL:-}" ]]; then ARGS+=("cm2.judge.llm.base_urls=['$CM2_JUDGE_URL']"); fi
SIMULATOR_URL="${CM2_SIMULATOR_URL:-${CM2_JUDGE_URL:-}}"
if [[ -n "$SIMULATOR_URL" ]]; then ARGS+=("cm2.simulator.llm.base_urls=['$SIMULATOR_URL']"); fi
ARGS+=("trainer.nnodes=1")
exec "$PYTHON" -m verl.trainer.main_ppo \
  --config-path="$REPO/configs/verl" \
  --config-name=cm2_grpo \
  "${ARGS[@]}" \
  "$@"
