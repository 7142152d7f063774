"""Curves of one learning run from its saved train log: reward, calls per turn, step-limit share, KL; with the
run's probe file as a third argument, also the validation slice's state match and exact calls (run 6 on).

    cd results/learning && python plot_run.py data/run2/seed0_rl_train_log.json run2_curves.png
    cd results/learning && python plot_run.py data/run6/seed0_rl_train_log.json run6_curves.png \
        data/run6/seed0_probe.jsonl
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

log_path, png_path = sys.argv[1], sys.argv[2]
log = json.loads(Path(log_path).read_text(encoding="utf-8"))
probe_path = Path(sys.argv[3]) if len(sys.argv) > 3 else None
validated = (
    [json.loads(line) for line in probe_path.read_text(encoding="utf-8").splitlines() if "validation" in line]
    if probe_path
    else []
)
rows = [r for r in log if "reward" in r]
# the probe file has every probe, the one after the last step too (the train log ends before it)
probes = validated or [r for r in log if "probe_reward" in r]
steps = [r["step"] for r in rows]
panels = [
    ("checklist reward (rollouts; probe: 16 dialogues, greedy)", "reward"),
    ("tool calls per turn", "cm2/calls_per_turn"),
    ("share of turns cut at the step limit", "cm2/step_limit_share"),
    ("KL to the SFT model", "kl"),
] + ([("validation slice, greedy, per turn", "validation")] if validated else [])
fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.25 * len(panels)), sharex=True)
for ax, (title, key) in zip(axes, panels, strict=True):
    if key == "validation":
        for metric, color in (("state_match", "C0"), ("exact_calls", "C1")):
            ax.plot([p["step"] for p in validated], [p["validation"][metric] for p in validated], "s-", color=color)
        ax.legend(["state match", "exact calls"], loc="upper left")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
        continue
    ax.plot(steps, [r.get(key, float("nan")) for r in rows], marker=".", lw=1)
    if key == "reward":
        ax.plot([p["step"] for p in probes], [p["probe_reward"] for p in probes], "s-", color="C3", label="probe")
        ax.legend(loc="upper left")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
axes[-1].set_xlabel("GRPO step")
fig.tight_layout()
fig.savefig(png_path, dpi=110)
print(png_path)
