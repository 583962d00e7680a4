"""``hygie search``: query the events that ``hygie serve`` stored, while it runs."""

from __future__ import annotations

import csv
import sys
from enum import Enum
from pathlib import Path
from typing import Any, Optional

import orjson
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hygie.cli.serve import data_dir_default
from hygie.core.moments import parse_moment
from hygie.store.events import EventStore, QueryError

# Fields that say what an event is about, shown first in the table's summary.
_KEY_FIELDS = ("CommandLine", "Image", "TargetUserName", "SubjectUserName", "IpAddress",
               "ServiceName", "ImagePath", "TargetFilename", "ScriptBlockText", "DestinationIp",
               "DestinationPort", "QueryName", "TargetObject", "ParentImage", "message", "Message")
_QUIET_FIELDS = {"EventID", "Channel", "Computer", "Hostname", "Provider_Name", "EventRecordID",
                 "TimeCreated", "EventTime", "UtcTime", "LogSource", "SourceName", "RuleName",
                 "ProcessGuid", "ProcessId", "ParentProcessGuid", "ParentProcessId", "Hashes"}


class SearchFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    csv = "csv"


def search(
    query: str = typer.Argument("*", help="e.g. \"EventID = 4625 AND host = 'dc01'\" ('*': all)."),
    since: Optional[str] = typer.Option(None, "--since", help="2h, 30m, 7d or an ISO time."),  # noqa: UP007
    until: Optional[str] = typer.Option(None, "--until", help="Same forms as --since."),  # noqa: UP007
    tenant: Optional[list[str]] = typer.Option(None, "--tenant",  # noqa: UP007
                                               help="Tenants (repeatable; default: all stored)."),
    limit: int = typer.Option(100, "--limit", help="Events shown, newest first."),
    output_format: SearchFormat = typer.Option(SearchFormat.table, "--format", "-f"),
    data_dir: Path = typer.Option(None, "--data-dir", help="Data of 'hygie serve' (default "
                                  "$HYGIE_DATA_DIR or ~/.local/share/hygie)."),
) -> None:
    """Search stored events: field op value, AND / OR / NOT, parentheses."""
    console = Console(stderr=True)
    try:
        start = parse_moment(since) if since else None
        end = parse_moment(until) if until else None
    except ValueError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    store = EventStore((data_dir or data_dir_default()) / "events", read_only=True)
    tenants = list(tenant or store.tenants())
    try:
        rows = store.search(tenants, query, start, end, limit)
        total = store.count(tenants, query, start, end) if output_format is SearchFormat.table else 0
    except QueryError as exc:
        console.print(f"[red]error in the query:[/] {escape(str(exc))}", highlight=False)
        console.print(escape(exc.pointer(query)), highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    if output_format is SearchFormat.jsonl:
        for row in rows:
            sys.stdout.write(orjson.dumps(row).decode("utf-8") + "\n")
    elif output_format is SearchFormat.csv:
        _write_csv(rows)
    else:
        _print_table(rows, total, tenants)


def _write_csv(rows: list[dict[str, Any]]) -> None:
    columns = ("time", "received", "tenant", "host", "source", "kind", "event_id", "channel",
               "record_key", "fields")
    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([orjson.dumps(row[c]).decode("utf-8") if c == "fields" else
                         ("" if row[c] is None else row[c]) for c in columns])


def _print_table(rows: list[dict[str, Any]], total: int, tenants: list[str]) -> None:
    where = ", ".join(tenants) if tenants else "no tenant (none stored yet)"
    title = f"{total} events match in {where}" + (f" (newest {len(rows)})" if total > len(rows) else "")
    table = Table(title=title)
    several = len(tenants) > 1
    for column in ("time", *(("tenant",) if several else ()), "host", "event", "summary"):
        table.add_column(column, overflow="fold")
    for row in rows:
        event = str(row["event_id"]) if row["event_id"] is not None else row["kind"]
        cells = [row["time"] or row["received"], *((row["tenant"],) if several else ()),
                 row["host"] or "-", event, _summary(row["fields"])]
        table.add_row(*(escape(str(cell)) for cell in cells))
    Console(width=160).print(table)


def _summary(fields: dict[str, Any], width: int = 140) -> str:
    """The fields an analyst looks at first, then the others, cut at ``width``."""
    names = [n for n in _KEY_FIELDS if fields.get(n) not in (None, "", "-")]
    names += [n for n in fields if n not in names and n not in _QUIET_FIELDS
              and n not in _KEY_FIELDS and fields[n] not in (None, "", "-")]
    text = "  ".join(f"{name}={_short(fields[name])}" for name in names[:4])
    return text if len(text) <= width else text[:width - 1] + "…"


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode("utf-8")
    return text if len(text) <= 80 else text[:79] + "…"
