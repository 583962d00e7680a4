"""``hygie hunt``: batch detection over EVTX and JSON files with Sigma rules and Hygie packs."""

from __future__ import annotations

import sys
import time
from enum import Enum
from pathlib import Path
from typing import IO, Optional

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hygie.alerts.output import AlertWriter, CsvWriter, JsonLinesWriter
from hygie.alerts.summary import AlertSummary
from hygie.core.alert import LEVEL_RANK, LEVELS, Alert
from hygie.detect.engine import Engine
from hygie.detect.rulesets import rule_folders
from hygie.normalize.reader import ReadStats, read_events

_PROGRESS_EVERY = 4096


class OutputFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def hunt(
    paths: list[Path] = typer.Argument(..., help="EVTX / JSON files or folders (walked)."),
    rules: Optional[list[Path]] = typer.Option(  # noqa: UP007 - Typer needs Optional
        None, "--rules", "-r", help="Sigma rule folder or file (repeatable). "
        "Default: the rules installed by 'hygie rules update', if any."),
    packs: bool = typer.Option(True, "--packs/--no-packs", help="Include Hygie's own packs."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write alerts here."),  # noqa: UP007
    min_level: str = typer.Option("informational", "--min-level",
                                  help=f"Lowest level reported: {', '.join(LEVELS)}."),
    mapping: Optional[Path] = typer.Option(None, "--mapping", help="Log-source mapping YAML."),  # noqa: UP007
    placeholders: Optional[Path] = typer.Option(None, "--placeholders",  # noqa: UP007
                                                help="Values for Sigma's expand modifier."),
    limit: int = typer.Option(50, "--limit", help="Alerts shown in the table format."),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Run detection rules over log files and report alerts."""
    console = Console(stderr=True)
    if min_level not in LEVEL_RANK:
        console.print(f"[red]error:[/] unknown level '{min_level}' (use one of {', '.join(LEVELS)})")
        raise typer.Exit(2)
    rule_paths = rule_folders(rules)
    started = time.perf_counter()
    with console.status("Loading and compiling rules..."):
        engine = Engine.from_paths(rule_paths, mapping=mapping, placeholders=placeholders,
                                   include_packs=packs)
        engine.warm_up()
    load_seconds = time.perf_counter() - started
    console.print(f"Loaded {len(engine.rules) + len(engine.correlations)} rules "
                  f"({len(engine.correlations)} correlations) in {load_seconds:.1f}s"
                  + (f", [yellow]{len(engine.load_errors)} rule errors[/] (see 'hygie rules list')"
                     if engine.load_errors else ""))
    if not engine.rules:
        console.print("[red]error:[/] no rules loaded; pass --rules or run 'hygie rules update'")
        raise typer.Exit(1)

    floor = LEVEL_RANK[min_level]
    stats = ReadStats()
    summary = AlertSummary()
    shown: list[Alert] = []
    handle: IO[str] = open(output, "w", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    writer: AlertWriter | None = None
    if output_format is OutputFormat.jsonl:
        writer = JsonLinesWriter(handle)
    elif output_format is OutputFormat.csv:
        writer = CsvWriter(handle)
    hunt_started = time.perf_counter()
    show_progress = progress and console.is_terminal
    try:
        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.fields[events]:,} events  {task.fields[rate]:,.0f}/s  "
                                 "{task.fields[alerts]:,} alerts"),
                      TimeElapsedColumn(), console=console, disable=not show_progress,
                      transient=True) as bar:
            task = bar.add_task("hunting", events=0, rate=0.0, alerts=0)
            count = 0
            for event_alerts in engine.alerts_by_event(read_events(paths, stats)):
                count += 1
                for alert in event_alerts:
                    if LEVEL_RANK.get(alert.level, 0) < floor:
                        continue
                    summary.add(alert)
                    if writer is not None:
                        writer.write(alert)
                    elif len(shown) < limit:
                        shown.append(alert)
                if show_progress and count % _PROGRESS_EVERY == 0:
                    elapsed = time.perf_counter() - hunt_started
                    bar.update(task, events=count, rate=count / max(elapsed, 1e-9),
                               alerts=summary.total)
    finally:
        if writer is not None:
            writer.close()
        if output:
            handle.close()
    elapsed = time.perf_counter() - hunt_started
    if output_format is OutputFormat.table:
        _print_alerts(Console(file=handle if output else sys.stdout, width=160), shown,
                      summary.total)
    _print_summary(console, summary, stats, elapsed)


def _print_alerts(console: Console, alerts: list[Alert], total: int) -> None:
    table = Table(title=f"Alerts ({len(alerts)} of {total} shown)" if total > len(alerts)
                  else f"Alerts ({total})")
    for column in ("time", "host", "level", "rule", "tactics", "matched"):
        table.add_column(column, overflow="fold")
    for alert in alerts:
        matched = ", ".join(f"{k}={str(v)[:80]}" for k, v in list(alert.matched.items())[:3])
        table.add_row(alert.time or "", alert.host or "", _level(alert.level), alert.title,
                      ", ".join(alert.tactics), matched)
    console.print(table)


def _level(level: str) -> str:
    colour = {"critical": "bold red", "high": "red", "medium": "yellow"}.get(level, "white")
    return f"[{colour}]{level}[/]"


def _print_summary(console: Console, summary: AlertSummary, stats: ReadStats,
                   elapsed: float) -> None:
    rate = stats.events / elapsed if elapsed > 0 else 0.0
    console.print(f"\n[bold]{stats.events:,} events[/] from {stats.files} files in "
                  f"{elapsed:.2f}s ({rate:,.0f} events/s): [bold]{summary.total:,} alerts[/]")
    if stats.problem_count:
        console.print(f"[yellow]{stats.problem_count} input problems[/] (skipped, hunt went on):")
        for problem in stats.problems[:10]:
            console.print(f"  {problem}")
        if stats.problem_count > 10:
            console.print(f"  ... and {stats.problem_count - 10} more")
    if not summary.total:
        return
    by_rule = Table(title="By rule")
    for column in ("level", "rule", "alerts"):
        by_rule.add_column(column)
    for (_, title, level), count in summary.rules_by_severity()[:25]:
        by_rule.add_row(_level(level), title, str(count))
    console.print(by_rule)
    small = Table(title="By level and ATT&CK tactic")
    small.add_column("level")
    small.add_column("alerts", justify="right")
    small.add_column("tactic")
    small.add_column("alerts", justify="right")
    levels = sorted(summary.by_level.items(), key=lambda kv: -LEVEL_RANK.get(kv[0], 0))
    tactics = summary.by_tactic.most_common()
    for i in range(max(len(levels), len(tactics))):
        lv = levels[i] if i < len(levels) else ("", "")
        tc = tactics[i] if i < len(tactics) else ("", "")
        small.add_row(_level(lv[0]) if lv[0] else "", str(lv[1]), tc[0], str(tc[1]))
    console.print(small)
