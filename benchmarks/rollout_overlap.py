"""Do concurrent episodes overlap their waits? 64 episodes with simulated policy, tool and judge latency.

Each episode replays a 3-turn dialogue; every assistant step waits on the policy (and on the
tools when it calls one), and every step is judged with a latency of its own. Judging runs
while the next step generates. Goal: 64 concurrent episodes finish within 1.2x the time of the
slowest single episode run alone.

    python benchmarks/rollout_overlap.py [--episodes 64] [--policy-ms 40] [--tool-ms 30] [--judge-ms 60]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from cm2.rollout.episode import EpisodeRunner, run_episodes
from cm2.rollout.policy import Generation, SamplingConfig
from cm2.schema import Message, ToolSpec
from cm2.testing import EchoTools, RuleJudge, call_dialogue, made_a_call


class LatentPolicy:
    """Two steps per turn: a tool call, then a reply; each answer takes `latency` seconds (+-20%)."""

    def __init__(self, latency: float, seed: int):
        self.latency = latency
        self.rng = random.Random(seed)

    async def respond(self, messages: list[Message], tools: list[ToolSpec], sampling: SamplingConfig) -> Generation:
        await asyncio.sleep(self.latency * self.rng.uniform(0.8, 1.2))
        if messages[-1].role == "user":
            return Generation(text='<think>t</think>\n<tool_call>{"name": "lookup", "arguments": {}}</tool_call>')
        return Generation(text="<think>t</think>\n\ndone")


async def timed(runner: EpisodeRunner, episodes: int) -> float:
    start = time.perf_counter()
    await run_episodes(runner, [(call_dialogue(3, "bench"), 0)], group_size=episodes, concurrency=episodes)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--policy-ms", type=float, default=40)
    parser.add_argument("--tool-ms", type=float, default=30)
    parser.add_argument("--judge-ms", type=float, default=60)
    args = parser.parse_args()

    def runner(seed: int) -> EpisodeRunner:
        return EpisodeRunner(
            LatentPolicy(args.policy_ms / 1000, seed),
            lambda d: EchoTools(latency_s=args.tool_ms / 1000),
            RuleJudge(made_a_call, latency_s=args.judge_ms / 1000),
        )

    singles = [asyncio.run(timed(runner(seed), 1)) for seed in range(8)]
    slowest = max(singles)
    serial_estimate = sum(singles) / len(singles) * args.episodes
    together = asyncio.run(timed(runner(0), args.episodes))
    print(f"single episode: slowest {slowest:.3f} s, mean {sum(singles) / len(singles):.3f} s (8 runs)")
    print(f"{args.episodes} episodes concurrently: {together:.3f} s")
    print(f"ratio to slowest single: {together / slowest:.2f}x (goal <= 1.2x)")
    print(f"run one after another, they would take about {serial_estimate:.1f} s")


if __name__ == "__main__":
    main()
