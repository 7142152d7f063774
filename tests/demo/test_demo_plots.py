"""The experiment's figures are real PNGs."""

from pathlib import Path

from cm2.demo.plots import plot_heldout, plot_rewards

PNG = b"\x89PNG\r\n\x1a\n"


def test_heldout_bars_and_reward_curves_are_written_as_png(tmp_path: Path) -> None:
    scores = [
        {"model": "base", "exact_call_accuracy": 0.0, "bfcl_accuracy": 0.0, "checklist_score": 0.0},
        {"model": "sft", "exact_call_accuracy": 0.195, "bfcl_accuracy": 0.0, "checklist_score": 0.187},
    ]
    bars = plot_heldout(scores, tmp_path / "heldout.png")
    curves = plot_rewards({"rl_turn": [0.1, 0.2], "rl_step": []}, tmp_path / "rewards.png")
    for path in (bars, curves):
        data = path.read_bytes()
        assert data.startswith(PNG) and len(data) > 5_000
    assert not list(tmp_path.glob("*.tmp*"))
