"""`cm2 data …`: conversion, rule filters, splits and statistics (the work: `cm2.data`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cm2.cli.guard import EXIT_BAD_INPUT, check_paths, fail, fail_on
from cm2.cli.options import InputFormat, configured, split_values
from cm2.cli.root import app
from cm2.console import print_problems, print_table, progress, say
from cm2.data.convert import convert_file
from cm2.data.filters.config import FilterConfig
from cm2.data.filters.files import default_report_path, filter_file, nothing_kept_message
from cm2.data.io import count_records, file_format
from cm2.data.raw import FileFormat
from cm2.data.split import SplitConfig
from cm2.data.split_run import manifest_notes, manifest_table, run_split
from cm2.data.stats import STATS_NAME, stats_file, write_stats
from cm2.data.tokens import load_token_counter

data_app = typer.Typer(no_args_is_help=True)
app.add_typer(data_app, name="data", help="Ingest, filter, split and describe dialogue data.")

Source = Annotated[Path, typer.Argument(metavar="IN", help="Input file or dataset directory.", exists=True)]
ToOpt = Annotated[FileFormat | None, typer.Option("--to", help="Output file format (default: from OUT's name).")]
Show = Annotated[int, typer.Option("--show", help="How many bad input records to list.", min=0)]


@data_app.command("convert")
def convert(
    source: Source,
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Output path (replaced atomically).")],
    to: ToOpt = None,
    as_: Annotated[
        Literal["same", "cm2", "nemotron", "openai"],
        typer.Option("--as", help="Output record format; `same` keeps each record's own."),
    ] = "same",
    from_: InputFormat = None,
    read_as: Annotated[
        Literal["auto", "cm2", "nemotron", "openai"],
        typer.Option("--read-as", help="Input record format; `auto` detects it per record."),
    ] = "auto",
    strict: Annotated[bool, typer.Option("--strict", help="Stop at the first bad record and write nothing.")] = False,
    show: Show = 20,
) -> None:
    """Convert IN to OUT, validating every record; bad records are skipped and listed."""
    check_paths([source], files=[target])
    out_format = file_format(target, to)
    with progress(f"converting {source.name}", count_records(source, from_)) as tick:
        written, skipped = convert_file(
            source,
            target,
            to=None if as_ == "same" else as_,
            read_as=None if read_as == "auto" else read_as,
            in_format=from_,
            out_format=out_format,
            strict=strict,
            tick=tick,
        )
    say(f"converted {written}, skipped {len(skipped)} → {target}")
    print_problems(skipped, show, "  skipped", err=False)


@data_app.command("filter")
@configured(FilterConfig, "rules", "require_think")
def filter_command(
    source: Source,
    target: Annotated[Path, typer.Argument(metavar="OUT", help="Kept records, unchanged (replaced atomically).")],
    report_path: Annotated[
        Path | None, typer.Option("--report", help="Report JSON (default: OUT with '.report.json' appended).")
    ] = None,
    disable: Annotated[
        list[str] | None,
        typer.Option("--disable", metavar="RULE", help="Rule to switch off (repeatable or comma-separated)."),
    ] = None,
    from_: InputFormat = None,
    to: ToOpt = None,
    show: Show = 10,
    *,
    settings: FilterConfig,
    config: Path | None,
) -> None:
    """Run the rule filters over IN; write the passing records to OUT and a per-rule report."""
    report_file = report_path or default_report_path(target)
    check_paths([source, config], files=[target, report_file])
    settings = settings.without(split_values(disable) or [])
    out_format = file_format(target, to)
    with progress(f"filtering {source.name}", count_records(source, from_)) as tick:
        report = filter_file(source, target, report_file, settings, in_format=from_, out_format=out_format, tick=tick)
    print_table(*report.table())
    say(report.totals())
    print_problems([(m.location, m.error) for m in report.malformed_inputs], show, "  malformed", err=False)
    if (message := nothing_kept_message(report, report_file)) is not None:
        raise fail(message, EXIT_BAD_INPUT)
    say(f"report → {report_file}")


@data_app.command("split")
@configured(
    SplitConfig,
    "seed",
    "cold_start",
    "rl",
    "rl_val",
    *(f"rl_filter.{name}" for name in ("min_turns", "min_tool_calls", "min_distinct_tools")),
    "exclude_rl_eligible_from_cold_start=exclude-rl-eligible",
)
def split(
    source: Source,
    outdir: Annotated[Path, typer.Argument(metavar="OUTDIR", help="Where the three sets and the manifest go.")],
    fmt: InputFormat = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Leave unreadable records out (listed in the manifest).")
    ] = False,
    *,
    settings: SplitConfig,
    config: Path | None,
) -> None:
    """Split IN into OUTDIR/cold_start.jsonl, rl_train.jsonl, rl_val.jsonl and split_manifest.json.

    Order is a hash of (seed, uuid): the same seed gives the same sets whatever the input order. Sizes: a
    count, a fraction of the candidates (0.5) or "all".
    """
    check_paths([source, config], dirs=[outdir])
    # RuntimeError: the input changed while it was split
    with progress(f"splitting {source.name}") as tick, fail_on(RuntimeError, code=EXIT_BAD_INPUT):
        manifest = run_split(
            source, outdir, settings, fmt=fmt, skip_invalid=skip_invalid, progress=lambda _, n: tick(completed=n)
        )
    print_table(*manifest_table(manifest))
    say(*manifest_notes(manifest, outdir))
    print_problems([(item.location, item.error or "") for item in manifest.invalid], 5, "left out")


@data_app.command("stats")
def stats(
    source: Source,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write stats.json and one <metric>.png histogram per metric here.")
    ] = None,
    tokenizer: Annotated[
        str,
        typer.Option(
            help='Hugging Face tokenizer (local path or cached name) for exact token counts, or "approx" for the '
            "fast tokenizer-free estimate (about ±10% on English and JSON; see cm2/data/tokens.py)."
        ),
    ] = "approx",
    fmt: InputFormat = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Write PNG histograms (with --out).")] = True,
    show: Show = 5,
) -> None:
    """Count turns, steps, tool calls, tools, messages and tokens per dialogue of IN and summarise them."""
    check_paths([source], dirs=[out])
    counter = load_token_counter(tokenizer)
    problems: list[tuple[str, str]] = []
    with progress(f"measuring {source.name}") as tick:
        report = stats_file(source, counter, problems, fmt=fmt, progress=lambda n: tick(completed=n))
    print_table(*report.table())
    print_problems(problems, show, "  skipped", err=False)
    if out is not None:
        written = write_stats(report, out, plots)
        say(f"wrote {out / STATS_NAME}" + (f" and {written} histograms" if written else ""))
