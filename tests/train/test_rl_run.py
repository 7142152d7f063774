"""`cm2 train rl` end to end: the run config alone names the tool environment and the judge
(`run_rl_from_config`); one GRPO step on CPU with a tiny model, the judge talking HTTP to a fake endpoint."""

import json
from pathlib import Path

from rl_builders import tiny_rl_config
from test_grpo_outage import every_item_holds
from typer.testing import CliRunner

from cm2.cli import app
from cm2.llm.testing import FakeOpenAIServer
from cm2.schema import Trajectory


def test_train_rl_builds_environment_and_judge_from_its_config(tmp_path: Path, tiny_chatml_model: Path) -> None:
    with FakeOpenAIServer(every_item_holds) as server:
        config = tiny_rl_config(
            tmp_path,
            tiny_chatml_model,
            judge={"llm": {"model": "judge", "base_urls": [server.base_url], "api_key_env": None}},
            episode={"limits": {"max_turns": 1, "max_steps_per_turn": 1}},
        )
        path = tmp_path / "rl.yaml"
        path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
        out = tmp_path / "run"
        result = CliRunner().invoke(app, ["train", "rl", "--config", str(path), "--set", f"output_dir={out}"])
    assert result.exit_code == 0, result.output
    assert (out / "final" / "config.json").is_file() and server.request_count > 0
    lines = (out / "trajectories.jsonl").read_text(encoding="utf-8").splitlines()
    kept = [Trajectory.model_validate_json(line) for line in lines]
    # the judge the config names gave every verdict: C0 flips (0.5); C1 holds at the same step but needs C0
    # first (0): R = 0.5 / 2 reference turns
    assert len(kept) == 4 and all(t.rewards["valid"] and t.rewards["trajectory"] == 0.25 for t in kept)
