"""cm2's data model: messages, tools, dialogues, checklists, trajectories."""

from cm2.schema.checklist import (
    FOCUS_VALUES,
    TOOL_FOCUS,
    ArgConstraint,
    Checklist,
    ChecklistItem,
    Evidence,
    FocusOn,
    ToolCallCheck,
    TurnCheck,
    TurnCheckKind,
    TurnChecklist,
)
from cm2.schema.dialogue import AssistantStep, Dialogue, StateReport, Turn, checklist_turn
from cm2.schema.messages import FunctionCall, Message, Role, ThinkSplit, ToolCall, join_think, split_think
from cm2.schema.tools import FunctionSpec, ToolSpec
from cm2.schema.trajectory import StepSpan, StopReason, TokenRecord, Trajectory, Verdict, VerdictSource
from cm2.schema.validation import (
    ChecklistError,
    Issue,
    check_dialogue,
    find_cycle,
    renormalize_weights,
    validate_dialogue,
)

__all__ = [
    "FOCUS_VALUES",
    "TOOL_FOCUS",
    "ArgConstraint",
    "AssistantStep",
    "Checklist",
    "ChecklistError",
    "ChecklistItem",
    "Dialogue",
    "Evidence",
    "FocusOn",
    "FunctionCall",
    "FunctionSpec",
    "Issue",
    "Message",
    "Role",
    "StateReport",
    "StepSpan",
    "StopReason",
    "ThinkSplit",
    "TokenRecord",
    "ToolCall",
    "ToolCallCheck",
    "ToolSpec",
    "Trajectory",
    "Turn",
    "TurnCheck",
    "TurnCheckKind",
    "TurnChecklist",
    "Verdict",
    "VerdictSource",
    "check_dialogue",
    "checklist_turn",
    "find_cycle",
    "join_think",
    "renormalize_weights",
    "split_think",
    "validate_dialogue",
]
