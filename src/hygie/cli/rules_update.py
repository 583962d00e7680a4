"""``hygie rules update``: install a SigmaHQ release archive (or any zip of Sigma rules)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from hygie.detect.rulesets import DEFAULT_URL, UpdateError, default_rules_dir, update_rules


def update(
    source: Optional[str] = typer.Option(None, "--from",  # noqa: UP007 - Typer needs Optional
                                         help=f"URL or file of a rule zip (default: {DEFAULT_URL})."),
    rules_dir: Optional[Path] = typer.Option(None, "--rules-dir",  # noqa: UP007
                                             help="Install here (default: $HYGIE_HOME/rules/sigma)."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="Expected SHA-256 of the archive."),  # noqa: UP007
) -> None:
    """Fetch, verify and install Sigma rules; say what was added, changed and removed."""
    console = Console(stderr=True)
    target = rules_dir or default_rules_dir()
    with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                  TransferSpeedColumn(), console=console, transient=True) as bar:
        task = bar.add_task("downloading", total=None)

        def progress(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = update_rules(source, target, sha256, progress)
        except (UpdateError, OSError) as exc:
            console.print(f"[red]error:[/] {exc}")
            console.print("The installed rules were not changed.")
            raise typer.Exit(1) from None
    console.print(f"Installed {report.rule_files} rule files into {target} "
                  f"(archive sha256 {report.sha256[:16]}...)")
    console.print(f"  added {len(report.added)}, changed {len(report.changed)}, "
                  f"removed {len(report.removed)}, skipped {len(report.skipped)}")
    for label, items in (("added", report.added), ("changed", report.changed),
                         ("removed", report.removed)):
        for path in items[:10]:
            console.print(f"  {label}: {path}", highlight=False)
        if len(items) > 10:
            console.print(f"  ... {len(items) - 10} more {label}")
    for path, reason in report.skipped[:10]:
        console.print(f"  [yellow]skipped[/] {path}: {reason}", highlight=False)
