"""The judge over real HTTP: OpenAIBackend against the OpenAI-compatible test server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from judge_builders import content_judge, dialogue, trajectory

from cm2.judge import ChecklistJudge, JudgeConfig, TrajectoryJudgement
from cm2.llm.config import LLMConfig
from cm2.llm.openai_backend import OpenAIBackend
from cm2.llm.testing import FakeOpenAIServer, FaultConfig


def judge_over_http(server: FakeOpenAIServer, config: JudgeConfig, **llm: Any) -> TrajectoryJudgement:
    settings = LLMConfig(model="judge-model", base_urls=[server.base_url], api_key_env=None, backoff_base_s=0.0, **llm)

    async def run() -> TrajectoryJudgement:
        async with OpenAIBackend(settings) as backend:
            return await ChecklistJudge(backend, config).judge(trajectory(), dialogue())

    return asyncio.run(run())


def test_batched_judging_over_http_survives_faults_and_format_fallback() -> None:
    # the server rejects json_schema response formats (like llama-cpp-python) and fails two requests
    faults = FaultConfig(plan=["error_500", "error_429"], reject_response_formats=["json_schema"])
    with FakeOpenAIServer(content_judge, faults=faults) as server:
        result = judge_over_http(server, JudgeConfig(mode="batched", model="judge-model"))
        bodies = server.requests
    verdicts = {(v.turn, v.step, v.item): v.satisfied for v in result.verdicts}
    assert verdicts == {
        (0, 0, "C1"): True, (0, 0, "C2"): True, (0, 0, "C3"): False, (0, 1, "C1"): True, (0, 1, "C2"): True,
        (0, 1, "C3"): True, (1, 0, "D1"): True, (1, 0, "D2"): False, (1, 1, "D1"): True, (1, 1, "D2"): True,
    }  # fmt: skip
    assert {v.source for v in result.verdicts} == {"llm", "carried", "check"}
    assert result.usage.calls == 4 and result.usage.prompt_tokens > 0
    answered = [b for b in bodies if (b.get("response_format") or {}).get("type") != "json_schema"]
    assert len(answered) >= 4
    assert all(b["model"] == "judge-model" and b["temperature"] == 0.0 for b in bodies)
    system = bodies[-1]["messages"][0]
    assert system["role"] == "system" and "<transcript>" in system["content"]


def test_a_judge_endpoint_that_never_answers_gives_unavailable_verdicts() -> None:
    with FakeOpenAIServer(lambda body: "no verdict here") as server:
        result = judge_over_http(
            server, JudgeConfig(mode="per_item", attempts=2), max_retries=0, json_attempts=1, structured_output="plain"
        )
    unavailable = [v for v in result.verdicts if v.source == "unavailable"]
    assert all(v.satisfied is None and v.reason and "after 2 attempts" in v.reason for v in unavailable)
    assert result.usage.unavailable == 8 and result.usage.check == 2  # replies cannot be judged before one exists
    assert server.request_count == 16  # every item asked where it can be (none ever satisfied), twice each
    assert json.loads(json.dumps(result.model_dump(mode="json")))["verdicts"][0]["satisfied"] is None
