"""Judge cost per trajectory: the released scheme against asking open items only, one by one or batched.

    .venv/bin/python benchmarks/judge_cost.py [--trajectories 1000] [--seed 0] [--count approx|chars4]
    .venv/bin/python benchmarks/judge_cost.py --base-url URL/v1 --model NAME [--agreement 50]

Trajectories are generated from the bundled reference dialogue (cm2/data/samples): its user turns are
replayed and the assistant steps varied per turn (tool steps dropped, repeated with other arguments,
failed with the simulator's error object then retried; extra tool steps in turns that had none;
shortened replies; early stops after a turn).

Schemes (same prompts and transcript rendering; no verdict shared between trajectories):
  (a) released  every item at every assistant step, one call each (the released code's scheme)
  (b) per_item  open items only: satisfied items carried, tool-error / check / not-yet-shown items decided in code
  (c) batched   the open items of (b), all in one call per step
  (c+cache)     (c) with one verdict cache over all trajectories (shared prefixes are free)
The cost runs use a counting backend: a deterministic rule answers (an item holds when the step under
review shows its focus and a hash of (item, transcript) falls under 70%), and prompt tokens are the
tokenizer-free estimate of `cm2.data.tokens.ApproxTokenCounter` over the system and user messages
(`--count chars4`: characters / 4); `--share` sets the 70%. Goal: (c) costs at most 1/5 of (a)'s prompt tokens.

With `--base-url`, the first `--agreement` trajectories are also judged by a real model under (a) and
(c), and their verdicts compared: the satisfied state of each (turn, step, item) (released verdicts
accumulate within a turn: once true, true), the state at the end of each turn, and the trajectory reward.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import hashlib
import json
import random
import time
from collections.abc import Sequence
from typing import Any

from cm2.data import read_dialogues
from cm2.data.samples import sample_path
from cm2.data.tokens import ApproxTokenCounter
from cm2.judge import ChecklistJudge, JudgeConfig, TrajectoryJudgement
from cm2.llm import ChatRequest, ChatResponse, LLMClient, Usage
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Message, Trajectory, Turn
from cm2.scoring import score_trajectory
from cm2.tools.result import error_object

# --- trajectories ---------------------------------------------------------------------------------------


def _tool_step(step_messages: list[Message], rng: random.Random, tag: str) -> list[dict[str, Any]]:
    """A copy of a tool-call step with another argument value and a plausible answer."""
    assistant, *tools = (m.dump() for m in step_messages)
    for call in assistant.get("tool_calls") or []:
        args = json.loads(call["function"]["arguments"]) if isinstance(call["function"]["arguments"], str) else {}
        args = {key: f"{value} {tag}" if isinstance(value, str) else value for key, value in args.items()}
        call["function"]["arguments"] = json.dumps(args)
        call["id"] = f"call_{tag}_{rng.getrandbits(32):x}"
    for tool, call in zip(tools, assistant.get("tool_calls") or [], strict=False):
        tool["tool_call_id"] = call["id"]
        tool["content"] = json.dumps({"results": [], "note": f"nothing found for the {tag} query"})
    return [assistant, *tools]


def _invented_step(dialogue: Dialogue, rng: random.Random, thinking: str) -> list[dict[str, Any]]:
    """A tool-call step for a turn whose reference had none."""
    tool = rng.choice(dialogue.tools)
    props = tool.function.parameters.get("properties", {})
    args = {name: f"value-{rng.randint(1, 99)}" for name in props}
    call_id = f"call_extra_{rng.getrandbits(32):x}"
    return [
        {
            "role": "assistant",
            "content": f"<think>\n{thinking[: rng.randint(200, 800)]}\n</think>",
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": tool.name, "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": json.dumps({"status": "ok", "items": rng.randint(0, 5)})},
    ]


def _vary_turn(dialogue: Dialogue, turn: Turn, rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [turn.user.dump()]
    steps = turn.steps
    thinking = " ".join(s.assistant.think.thinking or "" for s in steps) or "I should look this up first."
    if not any(s.calls for s in steps) and dialogue.tools and rng.random() < 0.35:
        for _ in range(rng.randint(1, 2)):
            out += _invented_step(dialogue, rng, thinking)
    for step in steps:
        messages = [step.assistant, *step.tool_messages]
        if step.calls:
            if rng.random() < 0.15:
                continue  # skipped the call
            if rng.random() < 0.25:
                out += _tool_step(messages, rng, "first try")
            if rng.random() < 0.2:
                failed = _tool_step(messages, rng, "bad")
                for tool in failed[1:]:
                    tool["content"] = json.dumps(error_object("schema_violation", "argument does not match", None))
                out += failed
            out += [m.dump() for m in messages]
        else:
            final = step.assistant.dump()
            if rng.random() < 0.2:
                split = step.assistant.think
                cut = split.visible[: max(20, len(split.visible) // 3)]
                final["content"] = f"<think>\n{split.thinking or ''}\n</think>\n\n{cut}"
            out.append(final)
    return out


def make_trajectories(dialogue: Dialogue, count: int, seed: int) -> list[Trajectory]:
    """`count` varied rollouts of `dialogue` (deterministic for a seed)."""
    rng = random.Random(seed)
    turns = dialogue.turns()
    trajectories = []
    for rollout in range(count):
        reached = len(turns) if rng.random() < 0.75 else rng.randint(1, len(turns))
        messages = [m for turn in turns[:reached] for m in _vary_turn(dialogue, turn, rng)]
        trajectories.append(
            Trajectory.model_validate(
                {"dialogue_uuid": dialogue.uuid, "rollout": rollout, "group": f"g{rollout // 8}", "messages": messages}
            )
        )
    return trajectories


# --- the counting backend ------------------------------------------------------------------------------


def _block(text: str, tag: str) -> list[dict[str, Any]]:
    body = text.split(f"<{tag}>\n", 1)[1].split(f"\n</{tag}>", 1)[0]
    return [json.loads(line) for line in body.splitlines()]


class CountingLLM:
    """Answers judge prompts by a fixed rule and counts calls and prompt tokens (see the module docstring)."""

    def __init__(self, count: str = "approx", share: int = 70):
        self.calls = 0
        self.prompt_tokens = 0
        self.share = share
        self._approx = ApproxTokenCounter() if count == "approx" else None

    def tokens(self, text: str) -> int:
        return self._approx.count([text])[0] if self._approx else len(text) // 4

    def decide(self, item: dict[str, Any], records: list[dict[str, Any]], digest: str) -> bool:
        last = max(i for i, r in enumerate(records) if r["role"] == "assistant")
        turn = records[last]["turn"]
        in_turn = [r for r in records if r.get("turn") == turn and r["role"] != "user"]
        shown = {
            "assistant.tool_calls": any(r.get("tool_calls") for r in in_turn),
            "tool.content": any(r["role"] == "tool" for r in in_turn),
            "assistant.content.user_visible_reply": any(r.get("reply") for r in in_turn),
            "assistant.content.thinking": any(r.get("thinking") for r in in_turn),
        }[item["focus_on"]]
        draw = int(hashlib.sha256(f"{item['id']}|{digest}".encode()).hexdigest()[:8], 16) % 100
        return shown and draw < self.share

    async def chat(self, request: ChatRequest) -> ChatResponse:
        prompt = request.messages[-1]["content"]
        records, items = _block(prompt, "transcript"), _block(prompt, "criteria")
        digest = hashlib.sha256(prompt.split("<criteria>")[0].encode()).hexdigest()
        answers = [{"id": i["id"], "analysis": "rule", "satisfied": self.decide(i, records, digest)} for i in items]
        batched = "verdicts" in json.dumps(request.json_schema)
        text = json.dumps({"verdicts": answers} if batched else {k: answers[0][k] for k in ("analysis", "satisfied")})
        tokens = sum(self.tokens(str(m["content"])) for m in request.messages)
        self.calls += 1
        self.prompt_tokens += tokens
        parsed = json.loads(text)
        return ChatResponse(
            text=text, parsed=parsed, usage=Usage(prompt_tokens=tokens, completion_tokens=self.tokens(text))
        )


# --- runs ----------------------------------------------------------------------------------------------

SCHEMES = {"(a) released": "released", "(b) per_item": "per_item", "(c) batched": "batched"}


async def judge_all(
    client: LLMClient,
    mode: str,
    dialogue: Dialogue,
    trajectories: Sequence[Trajectory],
    shared_cache: bool,
    model: str = "",
) -> list[TrajectoryJudgement]:
    """Judge each trajectory; without `shared_cache`, every trajectory gets its own judge and no cache."""
    config = JudgeConfig(mode=mode, model=model, cache_size=100_000 if shared_cache else 0, concurrency=32)
    if shared_cache:  # one judge, one trajectory at a time: later rollouts find earlier verdicts cached
        shared = ChecklistJudge(client, config)
        return [await shared.judge(t, dialogue) for t in trajectories]
    results: list[TrajectoryJudgement] = []
    for start in range(0, len(trajectories), 64):
        chunk = trajectories[start : start + 64]
        results += await asyncio.gather(*(ChecklistJudge(client, config).judge(t, dialogue) for t in chunk))
    return results


def cost_table(dialogue: Dialogue, trajectories: list[Trajectory], count: str, share: int) -> None:
    n = len(trajectories)
    steps = sum(sum(t.steps_per_turn()) for t in trajectories)
    print(f"{n} trajectories of dialogue {dialogue.uuid}: {steps / n:.2f} assistant steps per trajectory")
    print(f"{'scheme':<16}{'calls/traj':>12}{'prompt tok/traj':>17}{'compl. tok/traj':>17}{'items asked/traj':>18}"
          f"{'vs (a)':>9}{'time s':>8}")  # fmt: skip
    rows = [(name, mode, False) for name, mode in SCHEMES.items()] + [("(c+cache)", "batched", True)]
    base = ratio = 0.0
    for name, mode, shared in rows:
        client = CountingLLM(count, share)
        start = time.perf_counter()
        results = asyncio.run(judge_all(client, mode, dialogue, trajectories, shared))
        elapsed = time.perf_counter() - start
        prompt = sum(r.usage.prompt_tokens for r in results)
        completion = sum(r.usage.completion_tokens for r in results)
        asked = sum(r.usage.llm for r in results)
        base = base or prompt
        print(f"{name:<16}{client.calls / n:>12.2f}{prompt / n:>17,.0f}{completion / n:>17,.0f}{asked / n:>18.2f}"
              f"{prompt / base:>9.3f}{elapsed:>8.1f}")  # fmt: skip
        if name == "(c) batched":
            ratio = prompt / base
    verdict = "meets" if ratio <= 0.2 else "misses"
    print(f"(c)/(a) prompt tokens = {ratio:.3f} ({1 / ratio:.1f}x fewer); {verdict} the goal of <= 0.200")


def states(result: TrajectoryJudgement) -> dict[tuple[int, int, str], bool | None]:
    """Satisfied state after each step: released verdicts accumulate (true once, true for the turn)."""
    out: dict[tuple[int, int, str], bool | None] = {}
    for v in sorted(result.verdicts, key=lambda v: (v.turn, v.step)):
        before = out.get((v.turn, v.step - 1, v.item))
        out[(v.turn, v.step, v.item)] = True if before is True or v.satisfied is True else v.satisfied
    return out


def agreement(client: LLMClient, model: str, dialogue: Dialogue, trajectories: list[Trajectory]) -> None:
    a = asyncio.run(judge_all(client, "released", dialogue, trajectories, False, model))
    c = asyncio.run(judge_all(client, "batched", dialogue, trajectories, False, model))
    cells = same = unknown = end_cells = end_same = 0
    rewards = RewardConfig()
    diffs = []
    for t, ra, rc in zip(trajectories, a, c, strict=True):
        sa, sc = states(ra), states(rc)
        last: dict[tuple[int, str], int] = {}
        for key in sa:
            last[(key[0], key[2])] = max(last.get((key[0], key[2]), -1), key[1])
            if sa[key] is None or sc.get(key) is None:
                unknown += 1
                continue
            cells += 1
            same += sa[key] == sc[key]
        for (turn, item), step in last.items():
            x, y = sa[(turn, step, item)], sc.get((turn, step, item))
            if x is not None and y is not None:
                end_cells += 1
                end_same += x == y
        ga = score_trajectory(dialogue, t.model_copy(update={"verdicts": ra.verdicts}), rewards).reward(rewards.mode)
        gc = score_trajectory(dialogue, t.model_copy(update={"verdicts": rc.verdicts}), rewards).reward(rewards.mode)
        diffs.append(abs(ga - gc))
    n = len(trajectories)
    print(f"agreement (a) vs (c) on {n} trajectories with model {model!r}:")
    print(f"  per step: {same}/{cells} satisfied states agree ({same / max(cells, 1):.1%}); {unknown} cells unknown")
    print(f"  end of turn: {end_same}/{end_cells} agree ({end_same / max(end_cells, 1):.1%})")
    print(
        f"  trajectory reward: mean |R(a) - R(c)| = {sum(diffs) / n:.3f}; equal in {sum(d < 1e-9 for d in diffs)}/{n}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trajectories", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", choices=["approx", "chars4"], default="approx")
    parser.add_argument("--share", type=int, default=70, help="%% of shown items the counting rule satisfies")
    parser.add_argument("--base-url", help="OpenAI-compatible endpoint of a real judge model for the agreement run")
    parser.add_argument("--model", default="judge")
    parser.add_argument("--api-key-env", default=None)
    parser.add_argument("--agreement", type=int, default=50, help="trajectories judged by the real model")
    args = parser.parse_args()

    dialogue = next(iter(read_dialogues(sample_path())))
    trajectories = make_trajectories(dialogue, args.trajectories, args.seed)
    cost_table(dialogue, trajectories, args.count, args.share)
    sanity = CountingLLM(args.count, args.share)
    print("sanity check of the agreement measure with the counting backend (equal by construction):")
    agreement(sanity, "counting-rule", dialogue, trajectories[:50])
    if args.base_url:
        from cm2.llm.config import LLMConfig
        from cm2.llm.factory import make_client

        config = LLMConfig(model=args.model, base_urls=[args.base_url], api_key_env=args.api_key_env)
        agreement(
            make_client(config, role="judge"), args.model, dialogue, copy.deepcopy(trajectories[: args.agreement])
        )


if __name__ == "__main__":
    main()
