#!/usr/bin/env bash
# GRPO with checklist rewards on a Ray cluster (several nodes) with VeRL 0.9.1 and cm2's plugin.
#
# Every node needs the same Python environment with `pip install 'cm2[verl]'` and VeRL's inference engine
# (e.g. `pip install 'verl[vllm]'`): VeRL loads cm2 through the installed `verl.plugins` entry point in
# every Ray worker. The data files, the policy checkpoint and CM2_TRAJECTORIES_DIR must be on storage
# every node sees. Check a node with `python -m cm2.integrations.verl`.
#
# Start the cluster first:   head:   ray start --head --port=6379 --dashboard-host=0.0.0.0
#                            others: ray start --address=HEAD_IP:6379
# Serve the judge/simulator model where every node reaches it (e.g. vllm serve ... --port 8001).
# Prepare the data once: python -m cm2.integrations.verl.prepare rl.jsonl /shared/data/train.parquet
# Then, from any machine that reaches the head's dashboard:
#   RAY_ADDRESS=http://HEAD_IP:8265 CM2_NNODES=4 CM2_GPUS_PER_NODE=8 CM2_POLICY=/shared/models/sft \
#   CM2_TRAIN_FILES=/shared/data/train.parquet CM2_VAL_FILES=/shared/data/val.parquet \
#   CM2_JUDGE_URL=http://JUDGE_IP:8001/v1 examples/verl/run_ray_cluster.sh [hydra overrides...]
# CM2_VARIANT=small selects configs/verl/variant/small.yaml. Extra arguments are hydra overrides.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${RAY_ADDRESS:?set RAY_ADDRESS to the Ray dashboard, e.g. http://HEAD_IP:8265}"
: "${CM2_TRAIN_FILES:?set CM2_TRAIN_FILES to the prepared Parquet file on shared storage}"
: "${CM2_POLICY:?set CM2_POLICY to the policy checkpoint on shared storage}"
: "${CM2_JUDGE_URL:?set CM2_JUDGE_URL to the judge endpoint (.../v1)}"
CM2_NNODES="${CM2_NNODES:-2}"
CM2_GPUS_PER_NODE="${CM2_GPUS_PER_NODE:-8}"

# Only the config folder travels with the job; code comes from each node's installed cm2.
RUNTIME_ENV="$(python3 -c 'import json, sys; print(json.dumps({"working_dir": sys.argv[1]}))' "$REPO/configs/verl")"

# Everything run-specific goes in as explicit hydra overrides, so no remote process depends on CM2_* variables.
ARGS=(
  "data.train_files=$CM2_TRAIN_FILES"
  "data.val_files=${CM2_VAL_FILES:-$CM2_TRAIN_FILES}"
  "actor_rollout_ref.model.path=$CM2_POLICY"
  "trainer.nnodes=$CM2_NNODES"
  "trainer.n_gpus_per_node=$CM2_GPUS_PER_NODE"
  "cm2.judge.llm.base_urls=['$CM2_JUDGE_URL']"
  "cm2.simulator.llm.base_urls=['${CM2_SIMULATOR_URL:-$CM2_JUDGE_URL}']"
)
if [[ -n "${CM2_VARIANT:-}" ]]; then ARGS+=("variant=$CM2_VARIANT"); fi
if [[ -n "${CM2_TRAJECTORIES_DIR:-}" ]]; then ARGS+=("cm2.trajectories_dir=$CM2_TRAJECTORIES_DIR"); fi

# The job's entrypoint runs in the uploaded config folder on the head node, where hydra needs the folder's
# absolute path: `bash -c` expands $PWD there (Ray quotes each entrypoint argument).
COMMAND='python3 -m verl.trainer.main_ppo --config-path="$PWD" --config-name=cm2_grpo'
for arg in "${ARGS[@]}" "$@"; do COMMAND+=" $(printf '%q' "$arg")"; done
exec ray job submit --address="$RAY_ADDRESS" --runtime-env-json="$RUNTIME_ENV" -- bash -c "$COMMAND"
