"""The experiment's figures are real PNGs."""

from pathlib import Path

from cm2.demo.plots import plot_heldout, plot_probe, plot_rewards

PNG = b"\x89PNG\r\n\x1a\n"


def test_heldout_bars_and_reward_curves_are_written_as_png(tmp_path: Path) -> None:
    scores = [
        {"model": "base", "exact_call_accuracy": 0.0, "bfcl_accuracy": 0.0, "checklist_score": 0.0},
        {"model": "sft", "exact_call_accuracy": 0.195, "bfcl_accuracy": 0.0, "checklist_score": 0.187},
    ]
    interval = {"value": 0.5, "low": 0.3, "high": 0.7, "method": "bootstrap", "n": 4}
    keys = ("exact_calls", "state_match", "bfcl_checker", "checklist_score")
    with_intervals = {"model": "rl", "exact_call_accuracy": 0.5, "state_match_accuracy": 0.5, "bfcl_accuracy": 0.5}
    scores.append({**with_intervals, "checklist_score": 0.5, "intervals": dict.fromkeys(keys, interval)})
    bars = plot_heldout(scores, tmp_path / "heldout.png")
    curves = plot_rewards({"rl_turn": [0.1, 0.2], "rl_step": []}, tmp_path / "rewards.png")
    probe = plot_probe({"rl": {"0": 0.1, "2": 0.3, "10": 0.2}, "rl_turn": {}}, tmp_path / "probe.png")
    for path in (bars, curves, probe):
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    assert not list(tmp_path.glob("*.tmp*"))
