"""Demo and experiment configs: the shipped YAMLs are the presets, overrides merge, bad values are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from cm2.demo.config import DemoConfig
from cm2.demo.experiment import build_config
from cm2.demo.experiment_config import ExperimentConfig
from cm2.demo.presets import load_config
from cm2.train.rl_config import RLRunConfig

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_demo_configs_are_the_presets() -> None:
    assert DemoConfig.from_yaml(ROOT / "configs/demo/cpu.yaml") == DemoConfig()
    assert DemoConfig.from_yaml(ROOT / "configs/demo/tiny.yaml") == DemoConfig.tiny()


def test_run_configs_are_cm2s_own_with_the_paths_filled_in() -> None:
    config = DemoConfig()
    sft = config.sft_run("m", "d.jsonl", "o")
    assert (sft.model.path, sft.data.path, sft.output_dir, sft.bf16) == ("m", "d.jsonl", "o", True)
    rl = config.rl_run("s", "d.jsonl", "o", "turn")
    assert (rl.model.path, rl.tools, rl.reward.level, rl.judge.llm) == ("s", "bfcl", "turn", None)


def test_overrides_merge_into_the_sections() -> None:
    config = load_config(None, False, {"sft.max_steps": 3, "rl.episode.sampling.max_new_tokens": 32})
    assert config.sft["max_steps"] == 3 and config.sft["learning_rate"] == DemoConfig().sft["learning_rate"]
    assert config.rl["episode"]["limits"] == DemoConfig().rl["episode"]["limits"]
    tiny = load_config(None, True, {"model.path": "ckpt", "llm": {"model": "judge", "base_urls": ["http://h/v1"]}})
    assert tiny.model.tiny and tiny.model.path == "ckpt" and tiny.reply_item
    assert tiny.rl_run("s", "d", "o", "step").judge.llm.model == "judge"
    from_file = load_config(ROOT / "configs/demo/tiny.yaml", False, {"rl.max_steps": 2})
    assert from_file.rl["max_steps"] == 2 and from_file.model.tiny


def test_bad_values_name_the_field() -> None:
    with pytest.raises(ValueError, match="sft"):
        load_config(None, False, {"sft.learning_rate": -1})
    with pytest.raises(ValueError, match="rl"):
        load_config(None, False, {"rl.group_size": 1})
    with pytest.raises(ValueError):
        load_config(None, False, {"eval.models": ["nope"]})


def test_experiment_config_from_the_shipped_yamls_and_flags() -> None:
    args = ExperimentConfig(configs=ROOT / "configs/experiment", rl_max_steps=4, group_size=16)
    config = build_config(args)
    assert config.rl_levels == ["trajectory", "turn", "step"] and config.data.tool_docs == "full"
    assert config.data.train_limit is None and config.data.classes == []
    runs = {level: config.rl_run("sft/final", "train.jsonl", f"rl_{level}", level) for level in config.rl_levels}
    for level, run in runs.items():
        assert (run.reward.level, run.max_steps, run.group_size, run.learning_rate) == (level, 4, 16, 3e-6)
        assert (run.tasks, run.warmup_ratio, run.zero_spread.action, run.probe.keep_best) == ("turn", 0.1, "keep", True)
        assert (run.kl_coef, run.reward.scale, run.bf16, run.use_cpu, run.tools) == (0.04, "one", True, False, "bfcl")
    assert (config.sft_selection.val_dialogues, config.sft_selection.checkpoints) == (16, 3)
    sft = config.sft_run("base", "train.jsonl", "sft")
    assert sft.learning_rate > 3e-6 and sft.bf16 and not sft.use_cpu and sft.max_steps == -1
    assert runs["turn"].decoder.compile_shapes == config.eval.compile_shapes == "static"
    dynamic = build_config(args.model_copy(update={"compile_shapes": "dynamic"}))
    rl_decoder = dynamic.rl_run("m", "d.jsonl", "rl", "turn").decoder
    assert rl_decoder.compile_shapes == dynamic.eval.compile_shapes == "dynamic"
    assert runs["turn"].decoder.window_attention == config.eval.window_attention == "off"
    windowed = build_config(args.model_copy(update={"window_attention": "on"}))
    assert windowed.rl_run("m", "d.jsonl", "rl", "turn").decoder.window_attention == windowed.eval.window_attention
    assert windowed.eval.window_attention == "on"
    rl_only = build_config(args.model_copy(update={"window_attention": "rl"}))
    assert rl_only.rl_run("m", "d.jsonl", "rl", "turn").decoder.window_attention == "on"
    assert rl_only.eval.window_attention == "off"


def test_the_experiment_command_reads_flags_config_and_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cm2 experiment`: a YAML config, then the generated flags, then --set (which wins); lists comma-separated."""
    from typer.testing import CliRunner

    import cm2.cli.demo as demo_cli
    from cm2.cli import app

    seen: list[ExperimentConfig] = []
    monkeypatch.setattr(demo_cli, "run_experiment", seen.append)
    config = tmp_path / "exp.yaml"
    config.write_text("rl_max_steps: 7\nlevels: [turn]\n")
    args = ["experiment", "--config", str(config), "--seeds", "0,1,2", "--group-size", "4", "--tasks", "turn"]
    result = CliRunner().invoke(app, [*args, "--set", "group_size=6", "--cpu"])
    assert result.exit_code == 0, result.output
    (settings,) = seen
    assert (settings.rl_max_steps, settings.levels, settings.seeds) == (7, ["turn"], [0, 1, 2])
    assert (settings.group_size, settings.tasks, settings.cpu) == (6, "turn", True)
    bad = CliRunner().invoke(app, ["experiment", "--set", "levels=[nope]"])
    assert bad.exit_code != 0 and "levels" in bad.output


def test_rl_lora_merges_the_shipped_adapter_settings_under_the_flags() -> None:
    base = ExperimentConfig(configs=ROOT / "configs/experiment", levels=["trajectory", "turn"])
    lora = base.model_copy(update={"rl_lora": True})
    for level in ("trajectory", "turn"):
        full = build_config(base).rl_run("sft/final", "train.jsonl", "rl", level)
        run = build_config(lora).rl_run("sft/final", "train.jsonl", "rl", level)
        assert full.lora is None and run.lora is not None
        assert (run.lora.r, run.lora.alpha, run.lora.dropout, run.learning_rate) == (8, 16, 0.0, 2e-4)
        assert run.model_copy(update={"lora": None, "learning_rate": full.learning_rate}) == full
    flagged = build_config(lora.model_copy(update={"rl_lr": 3e-4})).rl_run("m", "d.jsonl", "rl", "turn")
    assert flagged.learning_rate == 3e-4  # a flag still wins over the overlay


def test_a_piece_that_stops_on_its_budget_exits_3_and_the_budget_is_not_a_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cm2.demo.pipeline as pipeline
    from cm2.demo.experiment import UNFINISHED_EXIT, run_experiment
    from cm2.demo.stages import StageUnfinished, fingerprint

    def unfinished(*args: object, **kwargs: object) -> None:
        raise StageUnfinished("rl: stopped on its time budget at step 30 of 100")

    monkeypatch.setattr(pipeline, "run_demo", unfinished)
    settings = ExperimentConfig(configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"])
    with pytest.raises(SystemExit) as stop:
        run_experiment(settings)
    assert stop.value.code == UNFINISHED_EXIT

    def rl_fingerprint(minutes: float, **changes: object) -> str:
        config = build_config(settings.model_copy(update={"rl_max_minutes": minutes}))
        by_level = config.rl_by_level | {"trajectory": config.rl_by_level.get("trajectory", {}) | changes}
        config = config.model_copy(update={"rl_by_level": by_level})
        (stage,) = [s for s in pipeline.build_stages(config, tmp_path) if s.name == "rl"]
        run = config.rl_run("m", "d.jsonl", "rl", "trajectory")
        assert run.max_minutes == minutes and all(getattr(run, key) == value for key, value in changes.items())
        return fingerprint(stage.settings, "")

    assert rl_fingerprint(8.0) == rl_fingerprint(25.0)
    # settings that only change the speed: the same numbers, so a later piece may change them
    assert rl_fingerprint(8.0) == rl_fingerprint(8.0, gradient_checkpointing=True, shared_prompt_scoring=False)
    assert rl_fingerprint(8.0) != rl_fingerprint(8.0, learning_rate=1e-7)


def test_window_attention_leaves_every_fingerprint_as_it_was(tmp_path: Path) -> None:
    """It changes only how fast the decoder runs: turning it on, or running a version that has the setting
    against records written before it existed, keeps finished stages and RL checkpoints."""
    from cm2.demo.pipeline import build_stages
    from cm2.demo.stages import fingerprint

    def fingerprints(**flags: object) -> dict[str, str]:
        settings = ExperimentConfig(
            configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"], eval_models=["sft", "rl"], **flags
        )
        chain, found = "", {}
        for stage in build_stages(build_config(settings), tmp_path):
            chain = found[stage.name] = fingerprint(stage.settings, chain)
        return found

    plain = fingerprints()
    assert plain == fingerprints(window_attention="on") == fingerprints(window_attention="rl")
    assert plain["eval_sft"] != fingerprints(eval_concurrency=3)["eval_sft"]  # the other eval settings still count
    assert plain["rl"] != fingerprints(rl_lr=1e-7)["rl"]


def test_recovery_examples_start_sft_over_and_none_leave_it_as_it_was(tmp_path: Path) -> None:
    """SFT with recovery examples is another SFT (and so another RL); without them, the settings are those of
    the records written before the option existed (the key is left out, not written as 0)."""
    from cm2.demo.pipeline import build_stages

    def sft_settings(**flags: object) -> dict[str, object]:
        settings = ExperimentConfig(configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"], **flags)
        (sft,) = [stage for stage in build_stages(build_config(settings), tmp_path) if stage.name == "sft"]
        return dict(sft.settings)

    plain = sft_settings()
    assert "recovery" not in plain and plain == sft_settings(sft_recovery=0)
    assert sft_settings(sft_recovery=1) == {**plain, "recovery": 1}


def test_strict_arguments_label_anew_and_the_default_leaves_labels_as_they_were(tmp_path: Path) -> None:
    """Strict call items are other checklists (so every stage after labeling runs again); the default writes the
    label stage's settings as before the option existed."""
    from cm2.demo.pipeline import build_stages

    def label_settings(**flags: object) -> dict[str, object]:
        settings = ExperimentConfig(configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"], **flags)
        (label,) = [stage for stage in build_stages(build_config(settings), tmp_path) if stage.name == "label"]
        return dict(label.settings)

    plain = label_settings()
    assert "extra_arguments" not in plain["label"]  # type: ignore[operator]
    strict = label_settings(strict_arguments=True)
    assert strict["label"] == {**plain["label"], "extra_arguments": False}  # type: ignore[dict-item]


@pytest.mark.parametrize(("codes", "status"), [((0, 0), None), ((0, 2), 1), ((3, 0), 3), ((3, 2), 1)])
def test_the_seeds_command_exits_non_zero_when_a_seed_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codes: tuple[int, int], status: int | None
) -> None:
    """A seed's child that failed (or stopped on its budget) is the parent's exit status, after the summary."""
    import cm2.demo.experiment as experiment
    import cm2.demo.seeds as seeds

    class Finished:
        def __init__(self, code: int) -> None:
            self.code = code

        def wait(self) -> int:
            return self.code

    pending = list(codes)
    monkeypatch.setattr(experiment, "_child", lambda settings, log, **changes: Finished(pending.pop(0)))
    summaries: list[list[int]] = []
    monkeypatch.setattr(seeds, "write_seed_summary", lambda out, chosen: summaries.append(chosen) or out)
    settings = ExperimentConfig(configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"], seeds=[0, 1])
    if status is None:
        experiment.run_experiment(settings)
    else:
        with pytest.raises(SystemExit) as stop:
            experiment.run_experiment(settings)
        assert stop.value.code == status
    assert summaries == [[0, 1]]


def test_rl_checkpoints_every_n_steps_reach_the_run_and_leave_the_fingerprint_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """How often RL saves changes what a kill loses, not what it trains: a run's checkpoints stay valid."""
    import cm2.train.rl_run as rl_run
    from cm2.demo.pipeline import build_stages
    from cm2.demo.stages import StageUnfinished, fingerprint
    from cm2.demo.training import rl_stage

    def rl_settings(**flags: object) -> tuple[DemoConfig, str]:
        settings = ExperimentConfig(configs=ROOT / "configs/experiment", out=tmp_path, levels=["trajectory"], **flags)
        config = build_config(settings)
        (rl,) = [stage for stage in build_stages(config, tmp_path) if stage.name == "rl"]
        return config, fingerprint(rl.settings, "")

    plain, plain_print = rl_settings()
    every, every_print = rl_settings(rl_checkpoint_every=10)
    assert plain_print == every_print
    runs: list[RLRunConfig] = []

    def record(run: RLRunConfig) -> Path:
        runs.append(run)
        return tmp_path / "final"

    monkeypatch.setattr(rl_run, "run_rl_from_config", record)
    for config in (plain, every):
        with pytest.raises(StageUnfinished):  # no checkpoint written: "stopped" at step 0 of max_steps
            rl_stage(config, "m", tmp_path / "d.jsonl", tmp_path / "rl", "trajectory")
    default = plain.rl_run("m", "d", "o", "trajectory").save_steps
    assert (runs[0].save_steps, runs[0].save_total_limit) == (default, None)
    assert (runs[1].save_steps, runs[1].save_total_limit) == (10, 2)


# Every stage's fingerprint for the learning experiment's carried runs, out of the code that started them: run 11's
# flags under `9d88c8f`, recipe 2's (`--sft-recovery 1 --strict-arguments`) under `f935c44`.
RUN_11_CHAIN = {
    "model": "3166e41c9dd23b89",
    "data": "2f724db456458292",
    "label": "4a1f1796150d8221",
    "filter": "167e5f0ef65e5df6",
    "sft": "35ce9d109f1f9f59",
    "eval_sft": "cbd64c157247a9e4",
    "rl": "291720e8a16478af",
    "eval_rl": "49abe50f0a5ceb65",
    "eval_rl_last": "9a7024e21b0a574c",
    "eval": "8f63c1f9c6d6b473",
    "report": "47e6487c0fbff094",
}
RECIPE_2_CHANGED = {
    "label": "c7cb7afafda9a553",
    "filter": "dd9148a3af19af85",
    "sft": "e919a1d3eec91bb0",
    "eval_sft": "2eb7e9411a21e314",
    "rl": "e21643e4e392a350",
    "eval_rl": "0beb771b06ca3933",
    "eval_rl_last": "9e1d26f4d8be42a6",
    "eval": "a324e07c1aecf1b7",
    "report": "4b01c60253383e8a",
}


@pytest.mark.parametrize(
    ("flags", "expected"),
    [({}, RUN_11_CHAIN), ({"sft_recovery": 1, "strict_arguments": True}, RUN_11_CHAIN | RECIPE_2_CHANGED)],
    ids=["run 11", "recipe 2"],
)
def test_carried_runs_keep_the_fingerprints_they_were_started_under(
    tmp_path: Path, flags: dict[str, object], expected: dict[str, str]
) -> None:
    """A setting added with a default must stay out of every fingerprint (or a run's records stop counting):
    `save_total_limit`, added after run 11, once entered RL's, and seed 1's checkpoint-60 was discarded on the
    device. `--rl-checkpoint-every` is set here too: it must not count either."""
    from cm2.demo.pipeline import build_stages
    from cm2.demo.stages import fingerprint

    settings = ExperimentConfig(
        configs=ROOT / "configs/experiment",
        out=tmp_path,
        levels=["trajectory"],
        rl_lora=True,
        rl_data="all",
        probe_every=10,
        rl_budget="pause",
        eval_models=["sft", "rl", "rl_last"],
        rl_checkpoint_every=10,
        **flags,
    )
    chain, found = "", {}
    for stage in build_stages(build_config(settings), tmp_path):
        chain = fingerprint(stage.settings, chain)
        found[stage.name] = chain
    assert found == expected


def test_the_plan_shows_each_seed_folder_as_its_run_would_and_writes_nothing(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cm2.cli import app

    out = tmp_path / "exp"
    args = ["experiment", "--out", str(out), "--configs", str(ROOT / "configs/experiment"), "--seeds", "0,1"]
    result = CliRunner().invoke(app, [*args, "--levels", "trajectory", "--plan"], terminal_width=200)
    assert result.exit_code == 0, result.output
    seed0, seed1 = result.output.split(str(out / "seed1"))
    assert str(out / "seed0") in seed0 and "eval_base" in seed0 and "eval_base" not in seed1  # as run_seeds runs them
    assert "│ rl " in seed1 and "done" not in result.output
    assert not out.exists()
