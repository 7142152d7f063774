"""The checklist judge: which items to ask at which step, per-item or batched prompts, votes,
deterministic checks, and a verdict cache.

    judge = ChecklistJudge(make_client(llm_config), JudgeConfig(mode="batched"))
    result = await judge.judge(trajectory, dialogue)     # TrajectoryJudgement: verdicts + usage

Verdicts cover every (turn, assistant step, item) of the turns the trajectory reached; `step` is the
assistant step's index inside its turn, from 0. See `cm2.judge.judge` for the rules. The judge gives
verdicts only: `cm2.scoring` turns them into rewards, `cm2.judging` is the `cm2 judge` command's application.
"""

from cm2.judge.cache import CachedVerdict, VerdictCache, cache_key
from cm2.judge.checks import call_meets, constraint_holds, values_equal
from cm2.judge.config import JudgeConfig, JudgeMode, TiePolicy
from cm2.judge.judge import ChecklistJudge, JudgeInputError
from cm2.judge.result import ItemDecision, JudgeUsage, TrajectoryJudgement
from cm2.judge.step import StepToJudge
from cm2.judge.tool_errors import is_tool_error
from cm2.judge.transcript import encode_data, render_context, trajectory_turns
from cm2.judge.votes import majority

__all__ = [
    "CachedVerdict",
    "ChecklistJudge",
    "ItemDecision",
    "JudgeConfig",
    "JudgeInputError",
    "JudgeMode",
    "JudgeUsage",
    "StepToJudge",
    "TiePolicy",
    "TrajectoryJudgement",
    "VerdictCache",
    "cache_key",
    "call_meets",
    "constraint_holds",
    "encode_data",
    "is_tool_error",
    "majority",
    "render_context",
    "trajectory_turns",
    "values_equal",
]
