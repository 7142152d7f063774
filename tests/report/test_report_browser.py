"""The report and the viewer in a real headless Chromium, driven by Playwright.

Needs Debian's `chromium` (or CM2_CHROMIUM=/path/to/chrome) and the `playwright` Python package; no
browser is downloaded (`playwright install` is never run). When either is missing the tests fail, unless
CM2_SKIP_BROWSER=1 says to skip them (for a machine without Chromium; CI installs it and never sets this).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from report_builders import SCHEDULE, SCRIPT_BREAK, XSS, CliReport, chromium_path, missing_browser

from cm2.report import write_view
from cm2.schema import Dialogue, Trajectory

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium context with a fresh profile (Playwright passes it as --user-data-dir)."""
    try:
        import playwright.sync_api as sync_api
    except ImportError:
        missing_browser("the playwright package is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    if executable is None:
        missing_browser("no Chromium: apt-get install -y chromium, or set CM2_CHROMIUM to its path")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=FLAGS,
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@dataclass
class Watched:
    """A page and everything it did that a test should not ignore."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def page(browser: Any) -> Iterator[Watched]:
    tab = browser.new_page()
    watched = Watched(tab)
    tab.on("pageerror", lambda error: watched.errors.append(str(error)))
    tab.on("console", lambda message: watched.errors.append(message.text) if message.type == "error" else None)
    tab.on("request", lambda request: watched.requests.append(request.url))

    def on_dialog(dialog: Any) -> None:
        watched.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield watched
    tab.close()
    assert not watched.errors, watched.errors


@pytest.fixture
def report_html(cli_report: CliReport) -> Path:
    assert cli_report.exit_code == 0, cli_report.output
    return cli_report.html


def embedded(path: Path) -> dict[str, Any]:
    html = path.read_text(encoding="utf-8")
    match = re.search(r'<script type="application/json" id="cm2-view-data">(.*?)</script>', html, re.S)
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def key_of(data: dict[str, Any], step: int, variant: str) -> str:
    rollout = SCHEDULE[step - 1].index(variant)
    match = [r["key"] for r in data["rollouts"] if r["train_step"] == step and r["rollout"] == rollout]
    assert len(match) == 1
    return match[0]


def test_report_renders_offline(page: Watched, report_html: Path, tmp_path: Path) -> None:
    tab = page.page
    tab.goto(report_html.as_uri())
    assert tab.locator("h1").inner_text().startswith("cm2 report")
    plots = tab.locator("img.cm2-plot")
    assert plots.count() == 6  # rewards, episodes, monitors, costs, pass rate, trainer
    assert all(w > 0 for w in plots.evaluate_all("images => images.map(i => i.naturalWidth)"))
    assert tab.locator(".cm2-list-entry").count() == 24
    assert tab.locator("#cm2-count").inner_text() == "24 of 24 rollouts"
    assert tab.locator("#cm2-detail section.cm2-turn").count() >= 1
    assert "not recorded" in tab.locator("#cm2-costs table").inner_text()
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    tab.screenshot(path=str(tmp_path / "report.png"), full_page=True)


def test_clicking_a_verdict_shows_its_item(
    page: Watched, report_html: Path, dialogue: Dialogue, tmp_path: Path
) -> None:
    tab = page.page
    tab.goto(report_html.as_uri())
    data = embedded(report_html)
    tab.locator(f'.cm2-list-entry[data-key="{key_of(data, 1, "simulated")}"]').click()
    step = tab.locator('section.cm2-turn[data-turn="0"] .cm2-step[data-step="0"]')
    assert step.locator(".cm2-src").inner_text() == "simulated"
    assert step.locator("details.cm2-thinking").get_attribute("open") is None
    panel = tab.locator("#cm2-item-panel")
    assert panel.is_hidden()
    chip = step.locator('.cm2-chip[data-item="C2"]')
    assert chip.inner_text() == "C2 \u2713 0"  # satisfied before its dependency C1: no reward
    chip.click()
    item = dialogue.checklists[0][0].by_id()["C2"]
    text = panel.inner_text()
    assert panel.is_visible() and "Item C2 · turn 0 · step 0" in text
    assert item.question in text and item.pass_condition in text
    assert "read the step" in text  # the judge's reason for this verdict
    assert re.search(r"flip reward r\s+0\.000", text) and re.search(r"eligible\s+no", text)
    tab.locator('section.cm2-turn[data-turn="0"] .cm2-matrix button[data-item="C4"][data-step="1"]').click()
    assert "satisfied at an earlier step (carried)" in panel.inner_text()
    tab.locator("#cm2-trajectories").screenshot(path=str(tmp_path / "viewer.png"))


def test_filters(page: Watched, report_html: Path) -> None:
    tab = page.page
    tab.goto(report_html.as_uri())
    data = embedded(report_html)
    unknown = [r for r in data["rollouts"] if "unk" in r["statuses"]]
    assert 0 < len(unknown) < 24
    tab.select_option("#cm2-filter-status", "unk")
    assert tab.locator(".cm2-list-entry").count() == len(unknown)
    assert tab.locator("#cm2-count").inner_text() == f"{len(unknown)} of 24 rollouts"
    rows = tab.locator(".cm2-matrix tr[data-final]:not(.cm2-hidden)")
    assert rows.count() > 0 and set(rows.evaluate_all("rs => rs.map(r => r.dataset.final)")) == {"unk"}
    assert tab.locator(".cm2-chip:not(.cm2-hidden)").count() > 0
    tab.select_option("#cm2-filter-status", "")
    tab.select_option("#cm2-filter-rollout", "2")
    tab.select_option("#cm2-filter-step", "6")
    entries = tab.locator(".cm2-list-entry")
    assert entries.count() == 1 and "#2 · step 6" in entries.inner_text()
    tab.select_option("#cm2-filter-step", "")
    tab.select_option("#cm2-filter-dialogue", data["rollouts"][0]["dialogue"])
    assert tab.locator(".cm2-list-entry").count() == 6


def test_policy_markup_renders_as_text(
    page: Watched, groups: list[list[Trajectory]], dialogues_file: Path, tmp_path: Path
) -> None:
    source = tmp_path / "rollouts.jsonl"
    source.write_text("".join(json.dumps(t.dump()) + "\n" for t in groups[1]))
    html = write_view(source, tmp_path / "view.html", dialogues=dialogues_file).html
    tab = page.page
    tab.goto(html.as_uri())
    tab.locator(f'.cm2-list-entry[data-key="r{SCHEDULE[1].index("xss")}"]').click()
    step = tab.locator('section.cm2-turn[data-turn="0"] .cm2-step[data-step="1"]')
    assert XSS in step.locator(".cm2-assistant").inner_text()
    step.locator("details.cm2-thinking summary").click()
    assert step.locator("details.cm2-thinking pre").inner_text() == SCRIPT_BREAK
    assert tab.locator("#cm2-viewer img, #cm2-viewer script").count() == 0
    tab.wait_for_timeout(200)  # an injected onerror handler would have fired by now
    assert page.dialogs == []
    tab.screenshot(path=str(tmp_path / "xss.png"))
