"""``hygie rules``: list loaded rules and their errors; update from a SigmaHQ release."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hygie.cli.rules_update import update
from hygie.cli.serve import reload_rules
from hygie.detect.engine import Engine, RuleStatus
from hygie.detect.rulesets import rule_folders

app = typer.Typer(help="Manage detection rules.", no_args_is_help=True)
app.command("update")(update)
app.command("reload")(reload_rules)


@app.command("list")
def list_rules(
    rules: Optional[list[Path]] = typer.Option(None, "--rules", "-r",  # noqa: UP007
                                               help="Rule folders (default: installed rules)."),
    packs: bool = typer.Option(True, "--packs/--no-packs"),
    errors_only: bool = typer.Option(False, "--errors", help="Only show load errors."),
    mapping: Optional[Path] = typer.Option(None, "--mapping"),  # noqa: UP007
) -> None:
    """Show loaded rules by pack, inactive ones, and every rule that failed to load."""
    console = Console()
    paths = rule_folders(rules)
    with console.status("Loading rules..."):
        engine = Engine.from_paths(paths, mapping=mapping, include_packs=packs)
    if not errors_only:
        table = Table(title=f"Rules ({len(engine.statuses)})")
        for column in ("pack", "level", "title", "log source", "status"):
            table.add_column(column, overflow="fold")
        for status in sorted(engine.statuses, key=_sort_key):
            table.add_row(*_row(status))
        console.print(table)
        by_pack: dict[str, int] = {}
        for status in engine.statuses:
            by_pack[status.rule.pack] = by_pack.get(status.rule.pack, 0) + 1
        console.print("Packs: " + ", ".join(f"{k} ({v})" for k, v in sorted(by_pack.items())))
    inactive = sum(1 for s in engine.statuses if not s.active)
    console.print(f"{len(engine.statuses)} rules loaded, {inactive} inactive (no mapped log "
                  f"source), {len(engine.load_errors)} failed to load")
    for error in engine.load_errors:
        console.print(f"[red]error[/] {error.location}: {error.reason}", highlight=False)


def _sort_key(status: RuleStatus) -> tuple[str, str]:
    return (status.rule.pack, status.rule.title)


def _row(status: RuleStatus) -> tuple[str, str, str, str, str]:
    rule = status.rule
    source = str(getattr(rule, "logsource", "")) or f"correlation ({getattr(rule, 'kind', '')})"
    state = "active" if status.active else "[yellow]inactive[/]"
    if status.notes:
        state += ": " + "; ".join(status.notes)
    return rule.pack, rule.level, rule.title, source, state
