"""Grouped activity from the event store: for a query, the last time and the number of distinct
records per value of some columns or fields (per host, per log source, per user, per job).

``EventStore.search`` returns events one by one, which is right for a person and wrong for
"which of 5,000 hosts sent Sysmon events this week" over millions of events. This adapter runs
one aggregate over the same Parquet files with DuckDB, read-only, the query compiled by the
store's own ``compile_query`` so the search language is the same. It is the one place in Prepare
that knows the store's columns (``host``, ``channel``, ``time``, ``received``, ``fields``...);
it belongs in ``EventStore`` as an ``activity`` method once its owner takes it there."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Protocol

import duckdb

from hygie.store.events import compile_query, layout
from hygie.store.events.query import COLUMNS, naive_utc

_READ = ("read_parquet(?, hive_partitioning=true, hive_types={'tenant': VARCHAR, 'day': DATE}, "
         "union_by_name=true)")
# as the store's own reads: the event's time unless absent or a day after its receipt
_MOMENT = "CASE WHEN time IS NULL OR time > received + INTERVAL 1 DAY THEN received ELSE time END"
_FIELD = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
_RETRIES = 5


@dataclass(frozen=True, slots=True)
class Activity:
    last_seen: datetime  # aware UTC
    records: int  # distinct records (a record delivered twice counts once)


Key = tuple[str | None, ...]


class Telemetry(Protocol):
    """What the evidence checks read; the event store adapter below, or a test double."""

    def activity(self, tenant: str, query: str, since: datetime, until: datetime,
                 by: Sequence[str]) -> dict[Key, Activity]: ...


class EventStoreTelemetry:
    def __init__(self, root: Path, memory_limit: str = "512MB") -> None:
        self.root = Path(root)
        self._db = duckdb.connect(":memory:", config={"memory_limit": memory_limit,
                                                      "autoinstall_known_extensions": False})

    def close(self) -> None:
        self._db.close()

    def activity(self, tenant: str, query: str, since: datetime, until: datetime,
                 by: Sequence[str]) -> dict[Key, Activity]:
        """Per distinct value of ``by`` (columns or event fields), over events of ``tenant``
        matching ``query`` with ``since <= time < until``. ``by`` empty: one group, key ``()``."""
        compiled = compile_query(query)
        keys = [_key_expr(name) for name in by]
        select = ", ".join([*keys, f"max({_MOMENT})", "count(DISTINCT record_key)"])
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        sql = (f"SELECT {select} FROM {_READ} WHERE {_MOMENT} >= ? AND {_MOMENT} < ? "
               f"AND {compiled.where}{group}")
        start, end = naive_utc(since), naive_utc(until)
        for attempt in range(_RETRIES + 1):
            files = [str(f) for part in layout.partitions(self.root, [tenant], start.date(), end.date())
                     for f in part.files]
            if not files:
                return {}
            try:
                con = self._db.cursor()
                try:
                    rows = con.execute(sql, [files, start, end, *compiled.params]).fetchall()
                finally:
                    con.close()
                break
            except duckdb.IOException:  # a file compacted or expired under us: list again
                if attempt == _RETRIES:
                    raise
        out: dict[Key, Activity] = {}
        for row in rows:
            *values, last, count = row
            if last is None or not count:
                continue
            out[tuple(None if v is None else str(v) for v in values)] = Activity(
                last.replace(tzinfo=timezone.utc), int(count))
        return out


    def hosts_by_day(self, tenant: str, since: datetime, until: datetime) -> dict[date, set[str]]:
        """The hosts (lower case) that sent any event, per UTC day of [since, until): what the
        share of assets monitored is drawn from, period by period, in one scan."""
        sql = (f"SELECT DISTINCT CAST({_MOMENT} AS DATE), lower(host) FROM {_READ} "
               f"WHERE {_MOMENT} >= ? AND {_MOMENT} < ? AND host IS NOT NULL")
        start, end = naive_utc(since), naive_utc(until)
        out: dict[date, set[str]] = {}
        for attempt in range(_RETRIES + 1):
            files = [str(f) for part in layout.partitions(self.root, [tenant], start.date(), end.date())
                     for f in part.files]
            if not files:
                return {}
            try:
                con = self._db.cursor()
                try:
                    rows = con.execute(sql, [files, start, end]).fetchall()
                finally:
                    con.close()
                break
            except duckdb.IOException:  # a file compacted or expired under us: list again
                if attempt == _RETRIES:
                    raise
        for day, host in rows:
            out.setdefault(day, set()).add(host)
        return out


def _key_expr(name: str) -> str:
    column = COLUMNS.get(name.lower())
    if column is not None:
        return column[0]
    if not _FIELD.fullmatch(name):
        raise ValueError(f"not a field name: {name!r}")
    return f"json_extract_string(fields, '$.\"{name}\"')"
