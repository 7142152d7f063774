"""Per-call cost of the hybrid tool simulator's decisions that need no LLM.

    .venv/bin/python benchmarks/tools_simulator.py [--calls 10000]

Over a dialogue with a 12-parameter tool and 50 recorded calls, prints calls per CPU-second for: replaying
a recorded call (canonical-JSON lookup), rejecting a schema-violating call with the cached validator, the
same with the validator cache cleared before every call (the baseline: what building a validator per call
costs), and answering a repeated simulated call from the episode memo (the LLM is an instant scripted fake,
so the first simulated call's figure is the simulator's own overhead: prompt building included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Callable

from cm2.llm.fake import ScriptedLLM
from cm2.schema import Dialogue, FunctionCall, ToolCall
from cm2.tools import HybridToolSimulator
from cm2.tools.schema_check import _validator

PROPS = {f"field_{i}": {"type": "string", "maxLength": 64} for i in range(8)}
PROPS |= {"count": {"type": "integer", "minimum": 0}, "ratio": {"type": "number"}, "flag": {"type": "boolean"}}
PROPS |= {"kind": {"type": "string", "enum": ["a", "b", "c"]}}
SPEC = {"name": "search", "description": "Search.", "parameters": {"type": "object", "properties": PROPS}}


def dialogue(recorded: int) -> Dialogue:
    messages: list[dict[str, object]] = [{"role": "user", "content": "go"}]
    for i in range(recorded):
        args = {"field_0": f"q{i}", "count": i, "kind": "a"}
        messages.append({"role": "assistant", "content": "", "tool_calls": [call(args).model_dump()]})
        messages.append({"role": "tool", "content": json.dumps({"hits": [i, i + 1]})})
    messages.append({"role": "assistant", "content": "done"})
    return Dialogue.model_validate({"uuid": "bench", "messages": messages, "tools": [{"function": SPEC}]})


def call(arguments: dict[str, object]) -> ToolCall:
    return ToolCall(function=FunctionCall(name="search", arguments=json.dumps(arguments)))


def rate(
    n: int, make: Callable[[int], ToolCall], sim: Callable[[], HybridToolSimulator], before: Callable[[], None]
) -> float:
    async def run() -> float:
        env = sim()
        spent = 0.0
        for i in range(n):
            before()
            start = time.process_time()
            await env.call(make(i))
            spent += time.process_time() - start
        return n / spent

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10000)
    n = parser.parse_args().calls
    base = HybridToolSimulator(dialogue(50), ScriptedLLM(lambda r: '{"hits": []}'))
    noop = lambda: None  # noqa: E731
    replay = rate(n, lambda i: call({"kind": "a", "count": i % 50, "field_0": f"q{i % 50}"}), base.new_episode, noop)
    bad = lambda i: call({"field_0": "x" * 65, "count": i})  # noqa: E731
    cached = rate(n, bad, base.new_episode, noop)
    uncached = rate(n // 10, bad, base.new_episode, _validator.cache_clear)
    first = rate(n // 10, lambda i: call({"field_1": f"new{i}"}), base.new_episode, noop)
    episode = base.new_episode()
    memo = rate(n, lambda i: call({"field_1": "same"}), lambda: episode, noop)
    print(f"replayed recorded call           {replay:12,.0f} calls/CPU-s")
    print(f"schema violation, cached         {cached:12,.0f} calls/CPU-s")
    print(f"schema violation, rebuilt (base) {uncached:12,.0f} calls/CPU-s   cache gain x{cached / uncached:.1f}")
    print(f"first simulated call (fake LLM)  {first:12,.0f} calls/CPU-s")
    print(f"memo hit                         {memo:12,.0f} calls/CPU-s   vs first simulated x{memo / first:.1f}")


if __name__ == "__main__":
    main()
