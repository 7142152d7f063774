"""The shared test kit: small dialogues, scripted policies, tools and judges, and scripted judge-model
answers, used by the tests and by the benchmark scripts (which run outside pytest).

Re-exported here: `dialogues`, `fakes`, `judge_answers`. Imported by module: `messages` (message records
to write dialogues with), `annotation` (annotation dialogues and annotator answers), `processes`
(SIGKILL-and-resume runs of the CLI), `paper_equations` and `paper_comparison` (the paper's reward
equations, plainly, beside cm2's).

Nothing in cm2's production packages imports this package (an import contract in pyproject.toml checks
it). Test helpers for one area only stay beside their tests (`tests/<area>/*_builders.py`); test servers,
endpoint outages and tiny models live in `cm2.llm.testing`.
"""

from cm2.testing.dialogues import (
    LOOKUP_CALL,
    call_dialogue,
    call_item,
    lookup_dialogue,
    reply_item,
    sample_dialogue,
    tool_spec,
    two_turn_dialogue,
    weather_dialogue,
    weather_tool,
)
from cm2.testing.fakes import EchoTools, RuleJudge, ScriptedPolicy, even_length, made_a_call
from cm2.testing.judge_answers import judge_prompt, reply_judge

__all__ = [
    "LOOKUP_CALL",
    "EchoTools",
    "RuleJudge",
    "ScriptedPolicy",
    "call_dialogue",
    "call_item",
    "even_length",
    "judge_prompt",
    "lookup_dialogue",
    "made_a_call",
    "reply_item",
    "reply_judge",
    "sample_dialogue",
    "tool_spec",
    "two_turn_dialogue",
    "weather_dialogue",
    "weather_tool",
]
