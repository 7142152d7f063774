"""How the trajectory viewer scales: page bytes per rollout, build time, and load/click time in Chromium.

Rollouts are real episodes on the bundled reference sample (scripted policy, real hybrid simulator, real
checklist judge over a scripted model, rewards from cm2.reward; see tests/report/report_builders.py),
repeated to N. Prints, for each N: seconds to build the viewer data and page, page bytes per rollout
against the trajectory JSONL bytes per rollout, and (with Chromium) the time until the list is drawn and
the time to open another rollout, each as a ratio to the smallest N.

    .venv/bin/python benchmarks/report_viewer.py [--sizes 100 1000 5000]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))

from report_builders import chromium_path, run_steps, sample_dialogue, write_dialogues

from cm2.report import write_view
from cm2.reward import RewardConfig
from cm2.schema import Trajectory


def rollouts(count: int) -> list[Trajectory]:
    base = [t for group in run_steps(sample_dialogue(), 6, RewardConfig()) for t in group]
    out = []
    for i in range(count):
        copy = base[i % len(base)].model_copy(deep=True)
        copy.group = f"{copy.dialogue_uuid}:0:{i // 4}"
        out.append(copy)
    return out


def browser_times(html: Path, chromium: str) -> tuple[float, float]:
    """Seconds from navigation until the rollout list is drawn, and to open the last rollout."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        page = context.new_page()
        page.goto("about:blank")
        start = time.perf_counter()
        page.goto(html.as_uri())
        page.wait_for_selector(".cm2-list-entry")
        load = time.perf_counter() - start
        entries = page.locator(".cm2-list-entry")
        start = time.perf_counter()
        entries.last.click()
        page.wait_for_selector(".cm2-list-entry[aria-current='true']")
        click = time.perf_counter() - start
        context.close()
    return load, click


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000, 4000])
    args = parser.parse_args()
    chromium = chromium_path()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        dialogues = write_dialogues(root / "rl.jsonl", [sample_dialogue()])
        for size in args.sizes:
            source = root / f"rollouts-{size}.jsonl"
            source.write_text("".join(json.dumps(t.dump()) + "\n" for t in rollouts(size)))
            start = time.perf_counter()
            html = write_view(source, root / f"view-{size}.html", dialogues=dialogues).html
            build = time.perf_counter() - start
            load, click = browser_times(html, chromium) if chromium else (float("nan"), float("nan"))
            rows.append((size, build, html.stat().st_size / size, source.stat().st_size / size, load, click))
    base = rows[0]
    header = ("rollouts", "build s", "page B/rollout", "jsonl B/rollout", "load s", "×", "click s", "×")
    widths = (8, 8, 15, 16, 7, 6, 8, 6)
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, widths, strict=True)))
    for size, build, page_bytes, jsonl_bytes, load, click in rows:
        print(
            f"{size:>8} {build:>8.2f} {page_bytes:>15,.0f} {jsonl_bytes:>16,.0f} {load:>7.2f} {load / base[4]:>6.1f}"
            f" {click:>8.3f} {click / base[5]:>6.1f}"
        )
    if not chromium:
        print("no Chromium found (apt-get install -y chromium): browser times not measured")


if __name__ == "__main__":
    main()
