"""``hygie rules update``: install a SigmaHQ release archive (or any zip of Sigma rules)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from hygie.detect.rulesets import (
    DEFAULT_URL,
    UpdateError,
    UpdateReport,
    default_rules_dir,
    update_rules,
)

_SHOWN = 10  # paths listed per category; the rest are counted


def update(
    source: str | None = typer.Option(
        None, "--from", metavar="URL|FILE",
        help=f"http(s) URL or local path of a rule zip (default: {DEFAULT_URL})."),
    rules_dir: Path | None = typer.Option(
        None, "--rules-dir", help="Install here (default: $HYGIE_HOME/rules/sigma)."),
    sha256: str | None = typer.Option(
        None, "--sha256", metavar="HEX", help="Refuse the archive unless its SHA-256 is this."),
) -> None:
    """Fetch, verify and install Sigma rules; say what was added, changed and removed.

    The previous rules stay in place unless the new archive is complete and valid.
    """
    out, err = Console(), Console(stderr=True)
    target = rules_dir or default_rules_dir()
    # The bar appears only on a terminal, once the server has said how big the archive is: a
    # local file or a chunked download shows nothing rather than a bar that cannot fill.
    bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), console=err, transient=True)
    task = bar.add_task("downloading", start=False)

    def progress(done: int, total: int | None) -> None:
        if total is None or not err.is_interactive:
            return
        bar.update(task, completed=done, total=total)
        if not bar.live.is_started:
            bar.start_task(task)
            bar.start()

    try:
        report = update_rules(source, target, sha256, progress=progress)
    except (UpdateError, OSError) as exc:
        _stop(bar)
        err.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        err.print(f"The installed rules in {escape(str(target))} were not changed.",
                  soft_wrap=True)
        raise typer.Exit(1) from None
    _stop(bar)
    _print_report(out, report, target)


def _stop(bar: Progress) -> None:
    # Progress.stop() prints a newline on a non-terminal even when it never started.
    if bar.live.is_started:
        bar.stop()


def _print_report(console: Console, report: UpdateReport, target: Path) -> None:
    console.print(f"Installed {report.rule_files} rule files ({report.rule_ids} rule ids) "
                  f"into {escape(str(target))}", soft_wrap=True)
    console.print(f"  from {escape(report.source)}, sha256 {report.sha256}", soft_wrap=True)
    console.print(f"  added {len(report.added)}, changed {len(report.changed)}, "
                  f"removed {len(report.removed)}, skipped {len(report.skipped)}")
    for label, style, paths in (("changed", "yellow", report.changed),
                                ("removed", "red", report.removed),
                                ("added", "green", report.added)):
        for path in paths[:_SHOWN]:
            console.print(f"  [{style}]{label}[/] {escape(path)}", soft_wrap=True)
        if len(paths) > _SHOWN:
            console.print(f"  ... and {len(paths) - _SHOWN} more {label}")
    for path, reason in report.skipped[:_SHOWN]:
        console.print(f"  [magenta]skipped[/] {escape(path)}: {escape(reason)}", soft_wrap=True)
    if len(report.skipped) > _SHOWN:
        console.print(f"  ... and {len(report.skipped) - _SHOWN} more skipped")
