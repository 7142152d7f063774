"""The verdict cache: repeated or shared prefixes cost nothing, across runs with a SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from judge_builders import call, dialogue, reply, rule_judge, tool, trajectory, user

from cm2.judge import CachedVerdict, ChecklistJudge, JudgeConfig, VerdictCache
from cm2.llm.fake import ScriptedLLM


def always(item_id: str, turn: int, step: int) -> bool:
    return step == 1


def test_judging_the_same_trajectory_again_costs_nothing() -> None:
    llm = ScriptedLLM(rule_judge(always))
    judge = ChecklistJudge(llm, JudgeConfig(mode="batched"))
    first = asyncio.run(judge.judge(trajectory(), dialogue()))
    calls = len(llm.requests)
    second = asyncio.run(judge.judge(trajectory(rollout=1), dialogue()))
    assert len(llm.requests) == calls
    assert second.usage.calls == 0 and second.usage.cache_hits == first.usage.llm
    assert [v.satisfied for v in second.verdicts] == [v.satisfied for v in first.verdicts]


def test_rollouts_sharing_a_prefix_share_verdicts() -> None:
    shared = [user("What is the weather in Paris?"), call("get_weather", {"city": "Paris"}), tool({"temp_c": 20})]
    a = trajectory([*shared, reply("It is 20 °C.")], rollout=0)
    b = trajectory([*shared, reply("Warm, 20 degrees.")], rollout=1)
    llm = ScriptedLLM(rule_judge(always))
    judge = ChecklistJudge(llm, JudgeConfig(mode="per_item"))
    asyncio.run(judge.judge(a, dialogue()))
    before = len(llm.requests)
    result = asyncio.run(judge.judge(b, dialogue()))
    assert result.usage.cache_hits == 2  # step 0 of turn 0: C1, C2 (C3 has no reply to judge yet)
    assert len(llm.requests) - before == result.usage.calls == 3  # step 1 differs: asked


def test_identical_questions_in_flight_are_asked_once() -> None:
    async def slow(request):
        await asyncio.sleep(0.01)
        return rule_judge(always)(request)

    llm = ScriptedLLM(slow)
    judge = ChecklistJudge(llm, JudgeConfig(mode="batched"))
    results = asyncio.run(judge.judge_many([(trajectory(rollout=i), dialogue()) for i in range(4)]))
    assert len(llm.requests) == 4  # the steps of one trajectory, not four times that
    assert [r.rollout for r in results] == [0, 1, 2, 3]
    assert sum(r.usage.calls for r in results) == 4
    assert all(r.verdicts == results[0].verdicts for r in results)


def test_the_sqlite_cache_survives_a_new_judge(tmp_path: Path) -> None:
    path = tmp_path / "verdicts.sqlite"
    llm = ScriptedLLM(rule_judge(always))
    config = JudgeConfig(mode="batched", cache_path=path, model="judge-a")
    asyncio.run(ChecklistJudge(llm, config).judge(trajectory(), dialogue()))
    calls = len(llm.requests)
    again = asyncio.run(ChecklistJudge(llm, config).judge(trajectory(), dialogue()))
    assert len(llm.requests) == calls and again.usage.calls == 0
    # another judge model is another key
    other = asyncio.run(
        ChecklistJudge(llm, config.model_copy(update={"model": "judge-b"})).judge(trajectory(), dialogue())
    )
    assert other.usage.calls == calls


def test_unavailable_verdicts_are_not_cached() -> None:
    answers = iter(["broken"] + ['{"analysis": "", "satisfied": true}'] * 20)
    llm = ScriptedLLM(lambda request: next(answers))
    judge = ChecklistJudge(llm, JudgeConfig(mode="per_item", attempts=1))
    messages = [user("Hi"), reply("Hello")]
    one = asyncio.run(judge.judge(trajectory(messages), dialogue()))
    assert one.usage.unavailable == 1
    two = asyncio.run(judge.judge(trajectory(messages), dialogue()))
    assert two.usage.unavailable == 0 and two.usage.calls == 1  # asked again
    three = asyncio.run(judge.judge(trajectory(messages), dialogue()))
    assert three.usage.calls == 0 and three.usage.cache_hits == 1


def test_lru_evicts_the_least_recently_used(tmp_path: Path) -> None:
    cache = VerdictCache(size=2)
    for key in "abc":
        cache.put(key, CachedVerdict(satisfied=True))
    assert cache.get("a") is None and cache.get("b") is not None and len(cache) == 2
    cache.put("d", CachedVerdict(satisfied=False))  # evicts c (b was just used)
    assert cache.get("c") is None and cache.get("b") is not None
    disk = VerdictCache(size=1, path=tmp_path / "c.sqlite")
    disk.put("x", CachedVerdict(satisfied=True, votes=[True, None], reason="r"))
    disk.put("y", CachedVerdict(satisfied=False))
    assert disk.get("x") == CachedVerdict(satisfied=True, votes=[True, None], reason="r")
    assert len(disk) == 2
    disk.close()
