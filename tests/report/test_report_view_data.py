"""The viewer's data from real episodes and real `cm2 judge` output: verdicts, flips, sources, rewards."""

import asyncio
import json
from pathlib import Path

import pytest
from report_builders import SCHEDULE, SCRIPT_BREAK, XSS, make_judge

from cm2.judging.runner import judge_files
from cm2.report import ViewSource, build_view, load_records
from cm2.report.html import script_json
from cm2.report.view import view_sources
from cm2.report.view_models import RolloutView
from cm2.reward import RewardConfig
from cm2.schema import Dialogue, Trajectory


def view_of(groups: list[list[Trajectory]], dialogue: Dialogue, step: int, variant: str) -> RolloutView:
    rollout = SCHEDULE[step].index(variant)
    data = build_view([ViewSource(t) for t in groups[step]], {dialogue.uuid: dialogue}, RewardConfig(), title="t")
    return data.rollouts[rollout]


def test_a_reply_before_the_evidence_is_satisfied_without_a_flip(
    groups: list[list[Trajectory]], dialogue: Dialogue
) -> None:
    view = view_of(groups, dialogue, 0, "simulated")
    first, second = view.turns[0].steps
    cells = {cell.item: cell for cell in first.cells}
    # C2 needs C1 (tool content); both hold after step 0, so C2 was not eligible and earns nothing.
    assert (cells["C2"].status, cells["C2"].flip, cells["C2"].eligible) == ("sat", 0.0, False)
    assert (cells["C1"].status, cells["C1"].flip) == ("sat", 1.0)
    assert (cells["C4"].status, cells["C4"].flip) == ("sat", 1.0)  # no dependencies
    assert {cell.status for cell in second.cells} == {"carried"}
    assert first.results[0].source == "simulated" and first.calls[0].name.startswith("get_the_last_games")
    assert first.reward == pytest.approx(0.25 + 0.2 + 0.1)  # C0, C1, C4
    assert view.turns[2].final["C1"] == "fail" and "fail" in view.statuses


def test_tool_errors_and_unavailable_verdicts_are_shown_as_such(
    groups: list[list[Trajectory]], dialogue: Dialogue
) -> None:
    view = view_of(groups, dialogue, 0, "schema")
    step = view.turns[0].steps[0]
    assert step.results[0].source == "error" and "error_tool_call" in step.results[0].content
    assert {c.item: c.source for c in step.cells}["C0"] == "tool_error"
    flaky = view.turns[1].steps[0].cells
    assert {c.status for c in flaky} == {"unk"} and flaky[0].source == "unavailable"
    assert "judge call failed" in (flaky[0].reason or "") or "unusable answer" in (flaky[0].reason or "")
    assert view.turns[1].final == {"C0": "unk", "C1": "unk", "C2": "unk", "C3": "unk"}
    assert view.stop_reason == "judge_unavailable" and view.statuses == ["sat", "unk"]


def test_rewards_and_advantages_agree_with_what_the_trainer_recorded(
    groups: list[list[Trajectory]], dialogue: Dialogue
) -> None:
    group = groups[2]
    data = build_view([ViewSource(t) for t in group], {dialogue.uuid: dialogue}, RewardConfig(), title="t")
    # the schema rollout lacks verdicts: dropped (no advantage, out of the group's mean), as the trainer does
    valid = [t.rewards["trajectory"] for t in group if t.rewards["valid"]]
    assert len(valid) == 3
    mean = sum(valid) / len(valid)
    for trajectory, view in zip(group, data.rollouts, strict=True):
        assert view.reward == trajectory.rewards["trajectory"] and view.reward_source == "recorded"
        assert not view.notes
        want = trajectory.rewards["trajectory"] - mean if trajectory.rewards["valid"] else 0.0
        assert view.advantage == pytest.approx(want)
        for turn, recorded in zip(view.turns, trajectory.rewards["turns"], strict=False):
            assert turn.reward == recorded
            assert sum(step.reward or 0.0 for step in turn.steps) == pytest.approx(recorded)
            assert all(step.advantage == pytest.approx(view.advantage) for step in turn.steps)


def test_a_recorded_reward_that_the_verdicts_do_not_give_is_flagged(
    groups: list[list[Trajectory]], dialogue: Dialogue
) -> None:
    tampered = [t.model_copy(update={"rewards": {"trajectory": 0.5}}) for t in groups[5]]
    data = build_view([ViewSource(t) for t in tampered], {dialogue.uuid: dialogue}, RewardConfig(), title="t")
    assert "differs from the one recomputed" in data.rollouts[0].notes[0]


def test_without_dialogues_the_raw_verdicts_are_still_shown(groups: list[list[Trajectory]]) -> None:
    data = build_view([ViewSource(t) for t in groups[0]], {}, RewardConfig(), title="t")
    view = data.rollouts[SCHEDULE[0].index("simulated")]
    assert view.checklist_key is None and view.turns[0].items == ["C0", "C1", "C2", "C3", "C4", "C5"]
    assert view.turns[0].steps[1].cells[0].status == "carried" and view.turns[0].steps[0].cells[0].flip is None
    assert view.reward_source == "recorded" and view.advantage is None
    assert any("--dialogues" in note for note in data.notes)


def judged_file(tmp_path: Path, groups: list[list[Trajectory]], dialogues_file: Path) -> tuple[Path, Path]:
    trajectories = tmp_path / "trajectories.jsonl"
    trajectories.write_text("".join(json.dumps(t.dump()) + "\n" for t in groups[1]))
    out = tmp_path / "judged.jsonl"
    judge = make_judge()
    # the schema rollout has unavailable verdicts: accepted, so that the viewer shows them
    asyncio.run(judge_files(trajectories, dialogues_file, out, judge, RewardConfig(level="turn"), allow_partial=True))
    return out, trajectories


def test_judge_output_with_its_trajectories(
    tmp_path: Path, groups: list[list[Trajectory]], dialogue: Dialogue, dialogues_file: Path
) -> None:
    judged, trajectories = judged_file(tmp_path, groups, dialogues_file)
    sources, notes, _ = view_sources(judged, trajectories)
    assert not notes and all(s.trajectory is not None and s.judged is not None for s in sources)
    data = build_view(sources, {dialogue.uuid: dialogue}, RewardConfig(), title="t")
    records = load_records(judged).judged
    for view, record in zip(data.rollouts, records, strict=True):
        assert (view.reward, view.reward_source, view.level) == (record.reward, "judge", "turn")
        assert [[s.advantage for s in t.steps] for t in view.turns] == record.advantages
        assert view.turns[0].user is not None and view.turns[0].steps[0].cells
    sources, notes, _ = view_sources(judged)
    assert "without their trajectory" in notes[0] and all(s.trajectory is None for s in sources)
    bare = build_view(sources, {dialogue.uuid: dialogue}, RewardConfig(), title="t").rollouts[0]
    assert bare.turns[0].user is None and bare.turns[0].steps[0].cells and "messages are not shown" in bare.notes[0]


def test_policy_text_cannot_leave_the_data_script(groups: list[list[Trajectory]], dialogue: Dialogue) -> None:
    view = view_of(groups, dialogue, 1, "xss")
    assert XSS in view.turns[0].steps[1].reply and view.turns[0].steps[1].thinking == SCRIPT_BREAK
    data = build_view([ViewSource(t) for t in groups[1]], {dialogue.uuid: dialogue}, RewardConfig(), title="t")
    text = str(script_json(data))
    assert "<" not in text and ">" not in text and "&" not in text
    assert XSS in json.dumps(json.loads(text))  # the text itself survives, escaped only for the page
