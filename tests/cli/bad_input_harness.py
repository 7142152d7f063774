"""Run every data-facing verb over the bad-input corpus in process and tally what went wrong.

A run goes wrong when it raises (a traceback), logs a traceback, exits 0 although nothing in its input
was usable, leaves an output behind after such a failure, spends LLM requests on it, or fails without
naming the input file. For inputs with a good record beside the bad one, a verb that needs no LLM must
still succeed and name the bad record's file.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import click
import typer
from bad_corpus import Case, base_record, build_corpus, trajectory_lines
from click.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import FakeOpenAIServer


@dataclass
class Env:
    """What every verb's command line may point at besides the bad input."""

    root: Path
    base_url: str
    dialogues: Path
    trajectories: Path

    def llm(self, section: str = "llm") -> list[str]:
        return ["--set", f"{section}={{model: fake-model, base_url: '{self.base_url}', api_key_env: null}}"]


Argv = Callable[[Path, Path, Env], list[str]]
Outputs = Callable[[Path], list[Path]]


@dataclass(frozen=True)
class Verb:
    """A verb as the harness drives it: its command line for an input in a fresh work folder, the outputs it
    must not leave after a failure, whether it calls an LLM, and which inputs it reads."""

    name: str
    argv: Argv
    outputs: Outputs
    llm: bool = False
    reads: str = "dialogues"  # or "trajectories"
    replaces_checklists: bool = False
    mixed: bool = True
    passes_through: frozenset[str] = frozenset()
    """Cases the verb may accept: it copies the record and never reads the faulty part."""
    input_name: str | None = None
    """The name errors give the input, when the harness puts it somewhere else (default: its own)."""


def _out(work: Path) -> list[Path]:
    return [work / "out.jsonl"]


def _sft_config(source: Path, work: Path) -> Path:
    config = work / "sft.yaml"
    body = {"model": {"path": str(work / "no-model")}, "data": {"path": str(source)}, "output_dir": str(work / "run")}
    config.write_text(json.dumps(body))
    return config


def _rl_config(source: Path, work: Path) -> Path:
    config = work / "rl.yaml"
    body = {"model": {"path": str(work / "no-model")}, "data": str(source), "output_dir": str(work / "run")}
    config.write_text(json.dumps(body))
    return config


def _run_dir(source: Path, work: Path) -> Path:
    run = work / "run"
    run.mkdir()
    (run / "trajectories.jsonl").symlink_to(source.resolve())
    return run


def _job(verb: str, side: str, *options: str, name: str | None = None, llm: bool = True, **more: Any) -> Verb:
    """An annotation verb (`cm2 label` and kin): neither OUT nor its side file may be left after a failure."""

    def argv(source: Path, work: Path, env: Env) -> list[str]:
        return [verb, str(source), str(work / "out.jsonl"), "--no-progress", *options, *(env.llm() if llm else [])]

    outputs: Outputs = lambda work: [work / "out.jsonl", work / f"out.{side}.jsonl"]  # noqa: E731
    return Verb(name or verb, argv, outputs, llm=llm, **more)


def _judge_argv(trajectories: Path, dialogues: Path, work: Path, env: Env) -> list[str]:
    """`cm2 judge` on these inputs, no tables, no verdict cache, the fake endpoint."""
    out = str(work / "out.jsonl")
    return [
        "judge",
        str(trajectories),
        str(dialogues),
        out,
        "--show",
        "0",
        "--set",
        "judge.cache_path=null",
        *env.llm("judge.llm"),
    ]


# One case of each kind, for the fast test (the slow one runs them all).
FAST_CASES = {
    "empty",
    "binary",
    "bom-garbage",
    "latin1",
    "gzip-truncated",
    "parquet-garbage",
    "json-deep-item",
    "dir-empty",
    "dir-named-jsonl",
    "deep-array",
    "deep-object",
    "deep-field",
    "deep-arguments",
    "surrogate",
    "nan",
    "truncated",
    "not-json",
    "messages-string",
    "role-int",
    "weight-negative",
    "weights-sum-5.4",
    "dependence-cycle",
    "dependence-unknown",
    "evidence-turn-past-end",
    "empty-extra-turns",
    "duplicate-item-ids",
    "ok-bom",
    "ok-crlf",
    "ok-duplicate-ids",
}

# Faults inside text that only some verbs parse (a tool call's arguments string).
UNPARSED: frozenset[str] = frozenset()

VERBS: list[Verb] = [
    Verb(
        "data convert", lambda s, w, e: ["data", "convert", str(s), str(w / "out.jsonl")], _out, passes_through=UNPARSED
    ),
    Verb(
        "data convert parquet",
        lambda s, w, e: ["data", "convert", str(s), str(w / "out.parquet")],
        lambda w: [w / "out.parquet"],
        passes_through=UNPARSED,
    ),
    Verb("data filter", lambda s, w, e: ["data", "filter", str(s), str(w / "out.jsonl")], _out),
    Verb(
        "data split",
        lambda s, w, e: ["data", "split", str(s), str(w / "split"), "--skip-invalid"],
        lambda w: [w / "split" / "split_manifest.json", w / "split" / "rl_train.jsonl"],
        passes_through=UNPARSED,
    ),
    Verb(
        "data stats",
        lambda s, w, e: ["data", "stats", str(s), "--out", str(w / "stats"), "--no-plots"],
        lambda w: [w / "stats" / "stats.json"],
        passes_through=UNPARSED,
    ),
    Verb(
        "data add-recovery",
        lambda s, w, e: ["data", "add-recovery", str(s), str(w / "out.jsonl"), "--tools", "simulated"],
        _out,
        passes_through=UNPARSED,
    ),
    _job("label", "failures", "--from-reference-calls", name="label reference", llm=False, replaces_checklists=True),
    _job("label", "failures", replaces_checklists=True),
    _job("filter-llm", "rejected"),
    _job("compress-cot", "failures"),
    Verb("judge dialogues", lambda s, w, e: _judge_argv(e.trajectories, s, w, e), _out, llm=True),
    Verb("judge trajectories", lambda s, w, e: _judge_argv(s, e.dialogues, w, e), _out, llm=True, reads="trajectories"),
    Verb(
        "eval checklist",
        lambda s, w, e: [
            "eval",
            "checklist",
            str(s),
            *e.llm("policy"),
            *e.llm("judge.llm"),
            "--out",
            str(w / "eval"),
        ],
        lambda w: [w / "eval"],
        llm=True,
        mixed=False,
    ),
    Verb(
        "view",
        lambda s, w, e: ["view", str(s), "--dialogues", str(e.dialogues), "--out", str(w / "view.html")],
        lambda w: [w / "view.html"],
        reads="trajectories",
    ),
    Verb(
        "report",
        lambda s, w, e: ["report", str(_run_dir(s, w)), "--out", str(w / "report"), "--dialogues", str(e.dialogues)],
        lambda w: [w / "report"],
        reads="trajectories",
        mixed=False,
        input_name="trajectories.jsonl",
    ),
    Verb(
        "train sft",
        lambda s, w, e: ["train", "sft", "--config", str(_sft_config(s, w))],
        lambda w: [w / "run"],
        mixed=False,
    ),
    Verb(
        "train rl",
        lambda s, w, e: ["train", "rl", "--config", str(_rl_config(s, w))],
        lambda w: [w / "run"],
        mixed=False,
    ),
]

# Checklist faults that `cm2 label` may ignore: it writes new checklists.
CHECKLIST_SEMANTICS = {
    "weights-sum-5.4",
    "evidence-turn-past-end",
    "evidence-step-past-end",
    "dependence-unknown",
    "dependence-self",
    "dependence-cycle",
    "empty-extra-turns",
    "duplicate-item-ids",
}
# Garbage that any file reader must survive, used for verbs reading trajectories.
TRAJECTORY_CASES = {
    "empty",
    "blank-lines",
    "binary",
    "nul-bytes",
    "bom-garbage",
    "latin1",
    "gzip-garbage",
    "parquet-garbage",
    "json-garbage",
    "json-deep",
    "json-deep-item",
    "dir-empty",
    "dir-text",
    "dir-bad-parquet",
    "deep-array",
    "deep-object",
    "deep-unclosed",
    "not-json",
    "array-line",
    "null-line",
    "surrogate",
    "nan",
    "truncated",
    "deep-arguments",
    "messages-string",
}


@dataclass
class Tally:
    """Runs and what went wrong in them, with one example line per fault."""

    runs: int = 0
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    """Time spent per verb."""
    faults: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def add(self, fault: str, verb: str, case: Case, detail: str) -> None:
        self.faults[fault] += 1
        if len(self.examples) < 5000:
            self.examples.append(f"{fault}: {verb} on {case.name}: {detail[:300]}")


class _TracebackCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.tracebacks.append(record.getMessage())


@contextmanager
def _catch_logged_tracebacks() -> Iterator[_TracebackCatcher]:
    catcher = _TracebackCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        yield catcher
    finally:
        root.removeHandler(catcher)


def _trajectory_corpus(cases: list[Case], root: Path) -> list[Case]:
    good = trajectory_lines(base_record())
    picked = [c for c in cases if c.name in TRAJECTORY_CASES]
    mixed = []
    for case in picked:
        if case.path.is_file() and case.path.suffix == ".jsonl" and case.name in set(TRAJECTORY_CASES):
            bad = case.path.read_text(encoding="utf-8", errors="replace").strip()
            if not bad:
                continue
            lines = [*good, bad]
            path = root / "mixed-trajectories" / case.path.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogateescape")
            mixed.append(Case(f"mixed-{case.name}", path, False))
    return picked + mixed


def _inputs_for(verb: Verb, cases: list[Case], trajectory_cases: list[Case]) -> list[Case]:
    chosen = trajectory_cases if verb.reads == "trajectories" else cases
    return [c for c in chosen if verb.mixed or c.hopeless]


def _hopeless(verb: Verb, case: Case) -> bool:
    if (verb.replaces_checklists and case.name in CHECKLIST_SEMANTICS) or case.name in verb.passes_through:
        return False
    return case.hopeless


def _invoke(runner: CliRunner, command: click.Command, argv: list[str]) -> tuple[Any, list[str]]:
    with _catch_logged_tracebacks() as catcher:
        result = runner.invoke(command, argv, env={"COLUMNS": "400"}, prog_name="cm2")
    return result, catcher.tracebacks


def _judge(verb: Verb, case: Case, work: Path, result: Any, logged: list[str], spent: int, tally: Tally) -> None:
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    exception = result.exception
    if exception is not None and not isinstance(exception, SystemExit):
        tally.add("traceback", verb.name, case, f"{type(exception).__name__}: {exception}")
    elif "Traceback (most recent call last)" in output or logged:
        tally.add("traceback", verb.name, case, (logged or [output])[0])
    hopeless = _hopeless(verb, case)
    if hopeless:
        if result.exit_code == 0:
            tally.add("exit 0 on nothing usable", verb.name, case, output.strip().splitlines()[-1:].__str__())
        left = [str(p) for p in verb.outputs(work) if p.exists()]
        if left:
            tally.add("output left behind", verb.name, case, ", ".join(left))
        if spent:
            tally.add("LLM spent on nothing usable", verb.name, case, f"{spent} requests")
        name = verb.input_name or case.path.name
        if not any(name in line for line in output.splitlines()):
            tally.add("input file not named", verb.name, case, output.strip()[-300:])
    elif not verb.llm and case.name.startswith("mixed-") and _hopeless(verb, Case(case.name[6:], case.path, True)):
        if result.exit_code != 0:
            tally.add("good record lost", verb.name, case, output.strip()[-300:])
        elif not any(case.path.name in line for line in output.splitlines()):
            tally.add("bad record not reported", verb.name, case, output.strip()[-300:])


def run_harness(
    root: Path, *, verbs: list[Verb] | None = None, cases: set[str] | None = None, mixed: bool = True
) -> Tally:
    """Build the corpus under `root` and run `verbs` (default: all) over it, or over the named `cases` and
    their mixed versions."""
    corpus = build_corpus(root / "corpus", mixed=mixed)
    trajectory_cases = _trajectory_corpus(corpus, root / "corpus")
    if cases is not None:
        corpus = [c for c in corpus if c.name.removeprefix("mixed-") in cases]
        trajectory_cases = [c for c in trajectory_cases if c.name.removeprefix("mixed-") in cases]
    record = base_record()
    dialogues = root / "good-dialogues.jsonl"
    dialogues.write_text(json.dumps(record) + "\n" + json.dumps({**record, "uuid": "good-" + record["uuid"]}) + "\n")
    trajectories = root / "good-trajectories.jsonl"
    good_too = [line.replace(record["uuid"], "good-" + record["uuid"]) for line in trajectory_lines(record)]
    trajectories.write_text("\n".join([*trajectory_lines(record), *good_too]) + "\n")
    runner = CliRunner()
    # built once (typer's runner rebuilds it per call, 60 ms); typer's bundled click has click's interface
    command = cast(click.Command, typer.main.get_command(app))
    tally = Tally()
    with FakeOpenAIServer(lambda body: json.dumps({"verdicts": []})) as server:
        env = Env(root, server.base_url, dialogues, trajectories)
        for verb in verbs or VERBS:
            for n, case in enumerate(_inputs_for(verb, corpus, trajectory_cases)):
                work = root / "work" / verb.name.replace(" ", "-") / f"{n}-{case.name}"
                work.mkdir(parents=True)
                before = server.request_count
                started = time.perf_counter()
                cwd = os.getcwd()
                os.chdir(work)  # anything written to a default place lands in the work folder
                try:
                    result, logged = _invoke(runner, command, verb.argv(case.path, work, env))
                finally:
                    os.chdir(cwd)
                tally.runs += 1
                tally.seconds[verb.name] += time.perf_counter() - started
                _judge(verb, case, work, result, logged, server.request_count - before, tally)
    return tally


def main(argv: list[str]) -> int:
    """`python tests/cli/bad_input_harness.py [--fast] [VERB …]`: run the sweep and print the tally."""
    import sys
    import tempfile

    fast = "--fast" in argv
    names = [arg for arg in argv if arg != "--fast"]
    verbs = [verb for verb in VERBS if not names or verb.name in names]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        tally = run_harness(Path(folder), verbs=verbs, cases=FAST_CASES if fast else None)
    print(f"{tally.runs} runs in {time.perf_counter() - started:.1f} s; faults: {sum(tally.faults.values())}")
    for fault, count in tally.faults.most_common():
        print(f"  {fault}: {count}")
    for example in tally.examples[:20]:
        print(f"    {example}", file=sys.stderr)
    return 1 if tally.faults else 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
