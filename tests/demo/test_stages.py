"""Stage plumbing: finished stages are skipped, a changed setting reruns that stage and what follows,
resumable stages pick up only what was started with the same settings."""

import contextlib
import io
from pathlib import Path
from typing import Any

from rich.console import Console

from cm2.demo.stages import MARKER, Stage, StageRunner, read_record


def _pipeline(
    out: Path,
    calls: list[str],
    settings: dict[str, Any],
    fail_at: str | None = None,
    only: set[str] | None = None,
    console: Console | None = None,
) -> StageRunner:
    def work(name: str) -> Any:
        def run(folder: Path) -> dict[str, Any]:
            calls.append(name)
            partial = folder / "partial.txt"
            partial.write_text((partial.read_text() if partial.exists() else "") + "x")
            if name == fail_at:
                raise RuntimeError(f"{name} broke")
            return {"name": name, "setting": settings.get(name)}

        return run

    runner = StageRunner(out, console or Console(quiet=True))
    stages = _stages(settings, work)
    for i, stage in enumerate(stages, 1):
        if only is None or stage.name in only:
            runner.run(stage, i, len(stages))
        else:
            runner.advance(stage)
    return runner


def _stages(settings: dict[str, Any], work: Any) -> list[Stage]:
    return [
        Stage("a", "first", settings.get("a"), work("a")),
        Stage("b", "second", settings.get("b"), work("b")),
        Stage("c", "third, resumable", settings.get("c"), work("c"), clean=False),
    ]


def _plan(out: Path, settings: dict[str, Any]) -> list[str]:
    runner = StageRunner(out, None)
    return [runner.plan(stage) for stage in _stages(settings, lambda name: None)]


def test_the_plan_says_what_a_run_would_do_and_changes_nothing(tmp_path: Path) -> None:
    calls: list[str] = []
    settings = {"a": 1, "b": 2, "c": 3}
    assert _plan(tmp_path, settings) == ["runs", "runs", "runs"]
    with contextlib.suppress(RuntimeError):
        _pipeline(tmp_path, calls, settings, fail_at="c")
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    assert _plan(tmp_path, settings) == ["done", "done", "resumes"]
    assert _plan(tmp_path, {**settings, "c": 30}) == ["done", "done", "restarts"]
    assert _plan(tmp_path, {**settings, "b": 20}) == ["done", "reruns", "restarts"]
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before
    calls.clear()
    _pipeline(tmp_path, calls, {**settings, "b": 20})  # as planned: b and c run, c from scratch
    assert calls == ["b", "c"] and (tmp_path / "c" / "partial.txt").read_text() == "x"
    assert _plan(tmp_path, {**settings, "b": 20}) == ["done", "done", "done"]


def test_rerun_skips_finished_stages(tmp_path: Path) -> None:
    calls: list[str] = []
    _pipeline(tmp_path, calls, {"a": 1, "b": 2, "c": 3})
    assert calls == ["a", "b", "c"]
    runner = _pipeline(tmp_path, calls, {"a": 1, "b": 2, "c": 3})
    assert calls == ["a", "b", "c"] and all(r.skipped for r in runner.results)
    record = read_record(tmp_path / "b")
    assert record is not None and record.outputs == {"name": "b", "setting": 2} and record.seconds >= 0


def test_a_changed_setting_reruns_its_stage_and_the_later_ones(tmp_path: Path) -> None:
    calls: list[str] = []
    _pipeline(tmp_path, calls, {"a": 1, "b": 2, "c": 3})
    calls.clear()
    _pipeline(tmp_path, calls, {"a": 1, "b": 20, "c": 3})
    assert calls == ["b", "c"]
    # the resumable stage was started under other settings: its folder was emptied, not resumed
    assert (tmp_path / "c" / "partial.txt").read_text() == "x"


def test_an_interrupted_stage_resumes_only_when_allowed(tmp_path: Path) -> None:
    calls: list[str] = []
    settings = {"a": 1, "b": 2, "c": 3}
    for fail in ("b", "c"):
        with contextlib.suppress(RuntimeError):
            _pipeline(tmp_path / fail, calls, settings, fail_at=fail)
        assert not (tmp_path / fail / fail / MARKER).exists()
        calls.clear()
        _pipeline(tmp_path / fail, calls, settings)
        assert calls == ([fail, "c"] if fail == "b" else ["c"])
    assert (tmp_path / "b" / "b" / "partial.txt").read_text() == "x"  # clean stage: started over
    assert (tmp_path / "c" / "c" / "partial.txt").read_text() == "xx"  # resumable: kept what it had


def test_an_unfinished_resumable_stage_started_over_says_so(tmp_path: Path) -> None:
    calls: list[str] = []
    with contextlib.suppress(RuntimeError):
        _pipeline(tmp_path, calls, {"a": 1, "b": 2, "c": 3}, fail_at="c")
    console = Console(record=True, file=io.StringIO(), width=200)
    _pipeline(tmp_path, calls, {"a": 1, "b": 2, "c": 30}, console=console)
    assert (tmp_path / "c" / "partial.txt").read_text() == "x"  # started over
    assert "settings changed since c was started: its unfinished run" in console.export_text()


def test_stages_run_apart_get_the_fingerprints_of_a_full_run(tmp_path: Path) -> None:
    calls: list[str] = []
    settings = {"a": 1, "b": 2, "c": 3}
    _pipeline(tmp_path / "apart", calls, settings, only={"a"})
    _pipeline(tmp_path / "apart", calls, settings, only={"c"})  # another process, say, while b runs elsewhere
    _pipeline(tmp_path / "apart", calls, settings, only={"b"})
    assert calls == ["a", "c", "b"]
    _pipeline(tmp_path / "whole", calls, settings)
    apart = {n: read_record(tmp_path / "apart" / n) for n in "abc"}
    whole = {n: read_record(tmp_path / "whole" / n) for n in "abc"}
    assert all(apart[n].fingerprint == whole[n].fingerprint for n in "abc")  # type: ignore[union-attr]
    runner = _pipeline(tmp_path / "apart", calls, settings)  # the full run finds everything done
    assert calls == ["a", "c", "b", "a", "b", "c"] and all(r.skipped for r in runner.results)
