"""Curves of one learning run from its saved train log: reward, calls per turn, step-limit share, KL.

    cd results/learning && python plot_run.py data/run2/seed0_rl_train_log.json run2_curves.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

log_path, png_path = sys.argv[1], sys.argv[2]
log = json.loads(Path(log_path).read_text(encoding="utf-8"))
rows = [r for r in log if "reward" in r]
probes = [r for r in log if "probe_reward" in r]
steps = [r["step"] for r in rows]
panels = [
    ("checklist reward (rollouts; probe: 16 train tasks, greedy)", "reward"),
    ("tool calls per turn", "cm2/calls_per_turn"),
    ("share of turns cut at the step limit", "cm2/step_limit_share"),
    ("KL to the SFT model", "kl"),
]
fig, axes = plt.subplots(len(panels), 1, figsize=(7, 9), sharex=True)
for ax, (title, key) in zip(axes, panels, strict=True):
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
