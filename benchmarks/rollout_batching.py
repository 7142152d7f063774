"""How many generate calls do concurrent episodes cost? The in-process policy's batching, old rule vs new.

On the first GPU learning run (results/learning) a GRPO step's rollouts took 22-125 s where the rollout-speed
benchmark predicted about 1 s. Episodes whose rows stop early came back while the batch was still decoding and
were sent off, 5 ms later, as a batch of their own; on the GPU each such call costs a whole padded decode of the
static cache. The new rule holds requests while a batch is generating and sends them together once none has
arrived for a window. This counts the generate calls and rows per call for the same episodes under both rules:
real BFCL dialogues on BFCL's real backends, the deterministic checklist judge, a tiny random model whose rows
stop at random points (every 7th token id stops), all turns played until 8,000 tokens of context (the tiny
model's byte-level vocabulary needs about 4x the tokens of Gemma's).

    python benchmarks/rollout_batching.py [--dialogues 4] [--group 4] [--max-new-tokens 24]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cm2.benchmarks.bfcl.dialogue import entry_to_dialogue
from cm2.benchmarks.bfcl.environment import BfclEnvironment, bfcl_entry_id, load_entry, load_ground_truth
from cm2.judge import ChecklistJudge
from cm2.llm import LLMError
from cm2.llm.fake import ScriptedLLM
from cm2.llm.testing.tiny_model import build_tiny_model
from cm2.rollout.episode import EpisodeConfig, EpisodeLimitsConfig, EpisodeRunner, run_episodes
from cm2.rollout.hf_policy import TransformersPolicy
from cm2.rollout.policy import SamplingConfig
from cm2.schema import Dialogue


def dialogues(count: int) -> list[Dialogue]:
    ids = [f"multi_turn_base_{i}" for i in range(count)]
    return [entry_to_dialogue(load_entry(i), load_ground_truth(i), tool_docs="compact") for i in ids]


def run(model_dir: Path, jobs: list[Dialogue], group: int, max_new_tokens: int, hold: bool) -> dict[str, float]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa").eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    stops = list(range(0, model.config.vocab_size, 7))
    policy = TransformersPolicy(model, tokenizer, stop_token_ids=stops, max_batch_size=64, hold_while_busy=hold)
    judge = ChecklistJudge(ScriptedLLM(lambda request: LLMError("every item is decided in code")))
    config = EpisodeConfig(
        limits=EpisodeLimitsConfig(max_turns=30, max_steps_per_turn=4, max_context_tokens=8_000),
        sampling=SamplingConfig(temperature=1.0, max_new_tokens=max_new_tokens, seed=0),
        early_stop=False,
    )
    runner = EpisodeRunner(policy, lambda d: BfclEnvironment.from_entry(bfcl_entry_id(d)), judge, config)
    started = time.perf_counter()
    trajectories = policy.drive(run_episodes(runner, [(d, 0) for d in jobs], group_size=group, concurrency=64))
    seconds = time.perf_counter() - started
    steps = sum(len(t.metadata["steps"]) for t in trajectories)
    return {
        "seconds": seconds,
        "calls": policy.generate_calls,
        "steps": steps,
        "rows_per_call": steps / policy.generate_calls,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=int, default=4)
    parser.add_argument("--group", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()
    jobs = dialogues(args.dialogues)
    with tempfile.TemporaryDirectory() as folder:
        model_dir = build_tiny_model(Path(folder))
        old = run(model_dir, jobs, args.group, args.max_new_tokens, hold=False)
        new = run(model_dir, jobs, args.group, args.max_new_tokens, hold=True)
    episodes = args.dialogues * args.group
    print(f"{episodes} episodes ({args.dialogues} BFCL dialogues x {args.group}), every turn played")
    for name, result in (("old: a batch every 5 ms", old), ("new: held while busy", new)):
        print(
            f"{name:26} generate calls {result['calls']:5.0f}  steps {result['steps']:5.0f}  "
            f"rows per call {result['rows_per_call']:5.2f}  wall {result['seconds']:6.1f} s"
        )
    print(
        f"generate calls, old / new: {old['calls'] / new['calls']:.2f}x; wall (CPU), old / new: "
        f"{old['seconds'] / new['seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
