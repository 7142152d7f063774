"""Small dialogues, trajectories and scripted judge answers shared by the judge tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cm2.llm import ChatRequest
from cm2.schema import Dialogue, Trajectory
from cm2.testing import judge_prompt
from cm2.tools.result import error_object

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "units": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def call(name: str, arguments: dict[str, Any], call_id: str = "c1", think: str = "look it up") -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": f"<think>\n{think}\n</think>",
        "tool_calls": [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}
        ],
    }


def tool(content: Any, call_id: str = "c1", name: str = "get_weather") -> dict[str, Any]:
    text = content if isinstance(content, str) else json.dumps(content)
    return {"role": "tool", "content": text, "tool_call_id": call_id, "name": name}


def reply(text: str, think: str = "answer now") -> dict[str, Any]:
    return {"role": "assistant", "content": f"<think>\n{think}\n</think>\n\n{text}"}


def item(item_id: str, focus: str, weight: float, deps: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": item_id,
        "focus_on": focus,
        "question": f"Question {item_id}?",
        "pass_condition": f"Condition {item_id}.",
        "weight": weight,
        "dependence": deps or [],
        **extra,
    }


def reference_messages() -> list[dict[str, Any]]:
    return [
        user("What is the weather in Paris?"),
        call("get_weather", {"city": "Paris"}),
        tool({"temp_c": 20}),
        reply("It is 20 °C in Paris."),
        user("And in Rome?"),
        call("get_weather", {"city": "Rome"}, call_id="c2"),
        tool({"temp_c": 25}, call_id="c2"),
        reply("It is 25 °C in Rome."),
    ]


def dialogue(checklist: list[list[dict[str, Any]]] | None = None) -> Dialogue:
    """A two-turn weather dialogue; turn 0 has items C1 (call), C2 (tool result), C3 (reply, needs C1)."""
    if checklist is None:
        checklist = [
            [
                item("C1", "assistant.tool_calls", 0.4),
                item("C2", "tool.content", 0.2),
                item("C3", "assistant.content.user_visible_reply", 0.4, ["C1"]),
            ],
            [item("D1", "assistant.tool_calls", 0.5), item("D2", "assistant.content.user_visible_reply", 0.5, ["D1"])],
        ]
    return Dialogue.model_validate(
        {"uuid": "dlg-1", "messages": reference_messages(), "tools": TOOLS, "checklists": [checklist]}
    )


def trajectory(messages: list[dict[str, Any]] | None = None, rollout: int = 0, group: str | None = "g") -> Trajectory:
    return Trajectory.model_validate(
        {
            "dialogue_uuid": "dlg-1",
            "rollout": rollout,
            "group": group,
            "messages": messages if messages is not None else reference_messages(),
            "tools": TOOLS,
        }
    )


def criteria(request: ChatRequest) -> list[dict[str, Any]]:
    """The item records a judge request asks about."""
    return judge_prompt(request.messages[-1]["content"])[1]


def transcript(request: ChatRequest) -> list[dict[str, Any]]:
    """The message records of a judge request's transcript."""
    return judge_prompt(request.messages[-1]["content"])[0]


def step_of(request: ChatRequest) -> tuple[int, int]:
    """(turn, step) of the step under review: the last assistant record."""
    last = [r for r in transcript(request) if r["role"] == "assistant"][-1]
    return last["turn"], last["step"]


Rule = Callable[[str, int, int], bool]


def rule_judge(rule: Rule) -> Callable[[ChatRequest], str]:
    """A ScriptedLLM handler answering every asked item with `rule(item_id, turn, step)`, per-item or batched."""

    def handler(request: ChatRequest) -> str:
        turn, step = step_of(request)
        asked = criteria(request)
        answers = [{"id": c["id"], "analysis": "ok", "satisfied": rule(c["id"], turn, step)} for c in asked]
        if "verdicts" in json.dumps(request.json_schema):
            return json.dumps({"verdicts": answers})
        return json.dumps({"analysis": answers[0]["analysis"], "satisfied": answers[0]["satisfied"]})

    return handler


def asked_ids(requests: list[ChatRequest]) -> list[tuple[int, int, str]]:
    """(turn, step, item) of every item asked, in request order."""
    return [(*step_of(r), c["id"]) for r in requests for c in criteria(r)]


def content_judge(body: dict[str, Any]) -> str:
    """A deterministic judge reading the prompt: call items hold when the step under review calls a tool,
    result items when a tool answered it, reply items when it says something to the user."""
    records, asked = judge_prompt(body["messages"][-1]["content"])
    last = max(i for i, r in enumerate(records) if r["role"] == "assistant")
    step = records[last]
    answered = any(r["role"] == "tool" for r in records[last:])
    focus = {
        "assistant.tool_calls": bool(step.get("tool_calls")),
        "tool.content": answered,
        "assistant.content.user_visible_reply": bool(step.get("reply")),
    }
    answers = [{"id": c["id"], "analysis": "read the step", "satisfied": focus[c["focus_on"]]} for c in asked]
    if "verdicts" in json.dumps(body.get("response_format") or {}) or len(answers) > 1:
        return json.dumps({"verdicts": answers})
    return json.dumps({"analysis": answers[0]["analysis"], "satisfied": answers[0]["satisfied"]})


def write_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """Three rollouts of dialogue dlg-1 in group g0 (reference, premature reply, failed call) and the dialogue."""
    failed = [
        user("What is the weather in Paris?"),
        call("get_weather", {"city": 75}),
        tool(error_object("schema_violation", "city must be a string", "get_weather")),
        reply("Sorry, I could not look it up."),
        *reference_messages()[4:],
    ]
    rollouts = [reference_messages(), [user("What is the weather in Paris?"), reply("Sunny, surely.")], failed]
    trajectories = tmp_path / "rollouts.jsonl"
    lines = [
        json.dumps({"dialogue_uuid": "dlg-1", "group": "g0", "rollout": i, "messages": m})
        for i, m in enumerate(rollouts)
    ]
    trajectories.write_text("\n".join(lines) + "\n")
    dialogues = tmp_path / "dialogues.jsonl"
    dialogues.write_text(json.dumps(dialogue().dump()) + "\n")
    return trajectories, dialogues
