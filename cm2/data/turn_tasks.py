"""Per-turn tasks: one RL task per turn of a dialogue, the earlier turns given as reference history.

Task t of a dialogue shows the reference messages of turns 0..t-1 as context (the environment replays
their tool calls first, so it starts in the reference state), plays turn t alone and scores it on turn
t's checklist. Every turn is trained, not only those a rollout reaches, and a dialogue of T turns gives
T tasks.
"""

from __future__ import annotations

from cm2.schema import Dialogue

TASK_SEPARATOR = "@turn"


def turn_task_uuid(uuid: str, turn: int) -> str:
    """The uuid of task `turn` of dialogue `uuid`."""
    return f"{uuid}{TASK_SEPARATOR}{turn}"


def source_uuid(task_uuid: str) -> str:
    """The dialogue a task came from (the uuid itself when it is not a per-turn task)."""
    return task_uuid.rsplit(TASK_SEPARATOR, 1)[0] if TASK_SEPARATOR in task_uuid else task_uuid


def turn_tasks(dialogue: Dialogue) -> list[Dialogue]:
    """One task per turn that every checklist of `dialogue` covers; keeps extra fields (e.g. a benchmark id)."""
    if dialogue.context or dialogue.first_turn:
        raise ValueError(f"dialogue {dialogue.uuid}: already a per-turn task")
    turns = dialogue.turns()
    covered = min((len(checklist) for checklist in dialogue.checklists), default=0)
    system = [dialogue.system] if dialogue.system else []
    tasks = []
    for turn in turns[:covered]:
        history = dialogue.messages[len(system) : turn.start]
        task = dialogue.model_copy(
            update={
                "uuid": turn_task_uuid(dialogue.uuid, turn.index),
                "messages": [*system, *turn.messages],
                "checklists": [[checklist[turn.index]] for checklist in dialogue.checklists],
                "context": history,
                "first_turn": turn.index,
            },
            deep=True,
        )
        tasks.append(task)
    return tasks


def expand_turn_tasks(dialogues: dict[str, Dialogue]) -> dict[str, Dialogue]:
    """Every dialogue's per-turn tasks, by task uuid."""
    return {task.uuid: task for dialogue in dialogues.values() for task in turn_tasks(dialogue)}
