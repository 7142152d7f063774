"""`python -m cm2.integrations.verl.prepare IN OUT.parquet`: cm2 dialogues with checklists -> VeRL rows.

IN is any file cm2 reads (JSONL, JSON, Parquet, a saved HF dataset; cm2, OpenAI, Nemotron or
released-CM2 records). OUT is one Parquet file for `data.train_files` / `data.val_files`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cm2.data import count_records, read_dialogues
from cm2.integrations.verl.rows import RowReport, verl_rows, write_rows

app = typer.Typer(add_completion=False, help=__doc__)


def load_tokenizer(path: str, chat_template: Path | None = None) -> Any:
    """A tokenizer (and optionally a chat template file) to measure first prompts with."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if chat_template is not None:
        tokenizer.chat_template = chat_template.read_text(encoding="utf-8")
    return tokenizer


def prepare(
    source: str | Path,
    out: str | Path,
    *,
    fmt: str | None = None,
    agent_name: str = "cm2_agent",
    data_source: str = "cm2",
    tokenizer: Any = None,
    max_prompt_length: int | None = None,
    progress: bool = False,
) -> RowReport:
    """Convert `source` to VeRL rows in `out` (atomic); unreadable records are errors with locations."""
    errors: list[tuple[str, str]] = []
    dialogues = read_dialogues(source, fmt, errors)
    if progress:
        from tqdm import tqdm

        dialogues = tqdm(dialogues, total=count_records(source, fmt), desc="dialogues", unit="dlg")
    report = RowReport()
    rows = verl_rows(
        dialogues,
        agent_name=agent_name,
        data_source=data_source,
        tokenizer=tokenizer,
        max_prompt_length=max_prompt_length,
        report=report,
    )
    written = write_rows(str(out), _stop_on_errors(rows, errors, source))
    if written == 0:
        Path(out).unlink(missing_ok=True)
        raise ValueError(f"{source}: no dialogue with a checklist to train on ({json.dumps(report.summary())})")
    return report


def _stop_on_errors(rows: Any, errors: list[tuple[str, str]], source: str | Path) -> Any:
    for row in rows:
        if errors:
            break
        yield row
    if errors:
        shown = "\n".join(f"{where}: {why}" for where, why in errors[:5])
        raise ValueError(f"{source}: {len(errors)} records could not be read:\n{shown}")


@app.command()
def main(
    source: Annotated[Path, typer.Argument(help="Dialogues with checklists (any format cm2 reads).")],
    out: Annotated[Path, typer.Argument(help="Parquet file to write.")],
    fmt: Annotated[str | None, typer.Option("--format", help="jsonl, json, parquet or hf (default: guessed).")] = None,
    agent_name: Annotated[str, typer.Option(help="Agent loop named in each row.")] = "cm2_agent",
    data_source: Annotated[str, typer.Option(help="`data_source` of each row (VeRL groups metrics by it).")] = "cm2",
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer to measure first prompts with.")] = None,
    chat_template: Annotated[Path | None, typer.Option(help="Jinja chat template used in training.")] = None,
    max_prompt_length: Annotated[
        int | None, typer.Option(help="Drop dialogues whose first prompt is longer (needs --tokenizer).")
    ] = None,
) -> None:
    """Write one VeRL row per (dialogue, checklist) and print a summary."""
    if max_prompt_length is not None and tokenizer is None:
        raise typer.BadParameter("--max-prompt-length needs --tokenizer")
    tok = load_tokenizer(tokenizer, chat_template) if tokenizer else None
    try:
        report = prepare(
            source,
            out,
            fmt=fmt,
            agent_name=agent_name,
            data_source=data_source,
            tokenizer=tok,
            max_prompt_length=max_prompt_length,
            progress=True,
        )
    except (ValueError, FileNotFoundError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps({"out": str(out), **report.summary()}))


if __name__ == "__main__":
    app()
