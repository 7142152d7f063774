"""Flips, per-step rewards and advantages recomputed from recorded verdicts (hand-built rollouts)."""

import pytest

from cm2.report.scoring import RolloutInput, rollout_groups, score_all
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Verdict
from cm2.scoring import RolloutScores, rollout_scores, score_group


def dialogue() -> Dialogue:
    """One turn: A (weight 0.6) and B (weight 0.4, needs A)."""
    items = [
        {"id": "A", "focus_on": "assistant.tool_calls", "question": "A?", "weight": 0.6},
        {
            "id": "B",
            "focus_on": "assistant.content.user_visible_reply",
            "question": "B?",
            "weight": 0.4,
            "dependence": ["A"],
        },
    ]
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "ok"}]
    return Dialogue.model_validate({"uuid": "d", "messages": messages, "checklists": [[items]]})


def rollout(rollout: int, rows: list[dict[str, bool | None]], group: str = "d:0:0") -> RolloutInput:
    verdicts = [
        Verdict(item=item, turn=0, step=s, satisfied=value) for s, row in enumerate(rows) for item, value in row.items()
    ]
    return RolloutInput("d", group, rollout, 0, verdicts, [len(rows)])


def scored(config: RewardConfig) -> list[RolloutScores]:
    return rollout_scores(score_group(dialogue(), [rollout(0, EARLY), rollout(1, ORDERED)], config))


# Rollout 0 says B before A holds: B is satisfied early and never earns; A flips at step 1.
EARLY: list[dict[str, bool | None]] = [{"A": False, "B": True}, {"A": True}]
# Rollout 1 does it in order: A flips at step 0, B at step 1.
ORDERED: list[dict[str, bool | None]] = [{"A": True, "B": False}, {"B": True}]


def test_an_item_satisfied_before_its_dependency_earns_nothing() -> None:
    early, ordered = scored(RewardConfig())
    assert early.flips[0].rewards.tolist() == [[0.0, 0.0], [1.0, 0.0]]
    assert early.flips[0].states.tolist() == [[False, False], [False, True], [True, True]]
    assert early.step_rewards == [[0.0, pytest.approx(0.6)]]
    assert ordered.step_rewards == [[pytest.approx(0.6), pytest.approx(0.4)]]
    assert (early.reward, ordered.reward) == (pytest.approx(0.6), pytest.approx(1.0))


def test_trajectory_level_puts_the_rollout_advantage_on_every_step() -> None:
    early, ordered = scored(RewardConfig())
    assert early.advantage == pytest.approx(-0.2) and ordered.advantage == pytest.approx(0.2)
    assert early.advantages == [[pytest.approx(-0.2)] * 2]


def test_step_level_advantages_follow_the_items_eligible_at_each_step() -> None:
    config = RewardConfig(level="step")
    early, ordered = scored(config)
    # b[A] = 1 (both flip A): no signal. b[B] = 0.5: only the ordered rollout flips B, at step 1 where it is eligible.
    assert early.advantages == [[0.0, 0.0]]
    assert ordered.advantages == [[0.0, pytest.approx(0.5)]]
    assert early.advantage is None


def test_groups_split_where_rollout_numbers_restart_even_with_the_same_label() -> None:
    inputs = [rollout(i % 2, ORDERED) for i in range(4)] + [rollout(0, ORDERED, group="other")]
    assert rollout_groups(inputs) == [[0, 1], [2, 3], [4]]


def test_rollouts_without_a_known_dialogue_or_with_foreign_items_are_left_unscored() -> None:
    stranger = RolloutInput("elsewhere", None, 0, 0, [], [1])
    foreign = rollout(0, [{"Z": True}], group="z")
    scored, notes = score_all([rollout(0, ORDERED), stranger, foreign], {"d": dialogue()}, RewardConfig())
    assert scored[0] is not None and scored[1] is None and scored[2] is None
    assert any("item 'Z' is not in this turn" in note and "rollout 0" in note for note in notes)
    assert any("'elsewhere'" in note for note in notes)
