"""A readable view of one judged trajectory: per turn, checklist items × assistant steps."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cm2.judging.records import JudgedRecord
from cm2.reward import TurnSpec, flip_rewards
from cm2.schema import Dialogue, Verdict

LEGEND = (
    "✓ satisfied · ✗ not satisfied (✗! its tool call failed) · ? unknown · · already satisfied · "
    "c decided by a tool-call check · earned: weight × flip reward (0 when it held before its dependencies)"
)


def mark(verdict: Verdict | None) -> str:
    """The cell of one verdict."""
    if verdict is None:
        return ""
    if verdict.source == "carried":
        return "[dim]·[/]"
    if verdict.source == "tool_error":
        return "[red]✗![/]"
    cell = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[yellow]?[/]"}[verdict.satisfied]
    return cell + ("c" if verdict.source == "check" else "")


def turn_tables(record: JudgedRecord, dialogue: Dialogue) -> list[Group]:
    """One heading and table per reached turn of `record`: verdicts, what each item earned, step advantages."""
    checklist = dialogue.checklists[record.checklist]
    cells = {(v.turn, v.step, v.item): v for v in record.verdicts}
    out = []
    for t, advantages in enumerate(record.advantages):
        items = checklist[t].items if t < len(checklist) else []
        steps = range(len(advantages))
        spec = TurnSpec.from_checklist(checklist[t])
        rows = [[getattr(cells.get((t, s, item.id)), "satisfied", None) for item in items] for s in steps]
        earned = spec.weight_array * flip_rewards(spec, rows).value
        table = Table(show_lines=False)
        for name, justify in (("item", "left"), ("w", "right"), ("needs", "left")):
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for s in steps:
            table.add_column(f"s{s}", justify="center")
        table.add_column("earned", justify="right")
        for c, item in enumerate(items):
            row = [mark(cells.get((t, s, item.id))) for s in steps]
            table.add_row(item.id, f"{item.weight:.2f}", ",".join(item.dependence), *row, f"{earned[c]:.2f}")
        table.add_section()
        table.add_row("[bold]advantage[/]", "", "", *(f"{a:+.2f}" for a in advantages), "")
        reward = record.turn_rewards[t] if t < len(record.turn_rewards) else 0.0
        heading = Text(f"{record.dialogue_uuid} · rollout {record.rollout} · turn {t} · R_t = {reward:.3f}", "bold")
        out.append(Group(heading, table))
    return out


def table_printer(show: int, console: Console) -> Callable[[list[JudgedRecord], Dialogue], None]:
    """An `on_group` hook for `judge_files` printing the legend, then the per-turn tables, reward and advantage
    of the first `show` rollouts judged."""
    shown = 0

    def on_group(records: list[JudgedRecord], dialogue: Dialogue) -> None:
        nonlocal shown
        for record in records[: max(0, show - shown)]:
            if not shown:
                console.print(LEGEND, highlight=False)
            for table in turn_tables(record, dialogue):
                console.print(table)
            advantage = f" · advantage {record.advantage:+.3f}" if record.advantage is not None else ""
            console.print(f"reward {record.reward:.3f}{advantage}", highlight=False)
            shown += 1

    return on_group
