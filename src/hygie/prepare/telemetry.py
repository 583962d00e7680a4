"""Grouped activity from the event store: for a query, the last time and the number of distinct
records per value of some columns or fields (per host, per log source, per user, per job).

``EventStore.search`` returns events one by one, which is right for a person and wrong for
"which of 5,000 hosts sent Sysmon events this week" over millions of events. This adapter writes
one aggregate per question and has the store run it (``EventStore.aggregate``: the store lists
the files and retries when compaction moves them), the query compiled by the store's own
``compile_query`` so the search language is the same. It is the one place in Prepare that
knows the store's columns (``host``, ``channel``, ``time``, ``received``, ``fields``...)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol

from hygie.store.events import EventStore, compile_query
from hygie.store.events.parquet_store import MOMENT as _MOMENT
from hygie.store.events.parquet_store import READ as _READ
from hygie.store.events.query import COLUMNS, naive_utc

_FIELD = re.compile(r"[A-Za-z0-9_.@-]{1,128}")


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
        self._store = EventStore(self.root, read_only=True, memory_limit=memory_limit)

    def close(self) -> None:
        self._store.close()

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
        out: dict[Key, Activity] = {}
        for row in self._rows(tenant, since, until, sql, compiled.params):
            *values, last, count = row
            if last is None or not count:
                continue
            out[tuple(None if v is None else str(v) for v in values)] = Activity(
                last.replace(tzinfo=timezone.utc), int(count))
        return out

    def activity_by_day(self, tenant: str, query: str, since: datetime,
                        until: datetime) -> dict[date, Activity]:
        """Per UTC day of [since, until), the last moment and the number of distinct records of
        the events matching ``query``: what a KPI is drawn from, period by period, in one scan."""
        compiled = compile_query(query)
        sql = (f"SELECT CAST({_MOMENT} AS DATE), max({_MOMENT}), count(DISTINCT record_key) FROM {_READ} "
               f"WHERE {_MOMENT} >= ? AND {_MOMENT} < ? AND {compiled.where} GROUP BY 1")
        return {day: Activity(last.replace(tzinfo=timezone.utc), int(count))
                for day, last, count in self._rows(tenant, since, until, sql, compiled.params)
                if last is not None and count}

    def sources_last_seen(self, tenant: str, ends: Sequence[datetime],
                          lookback_days: int) -> dict[datetime, dict[tuple[str, str], datetime]]:
        """Per moment of ``ends``, each log source's last event in the ``lookback_days`` before
        it: what silent sources are counted from, period by period, in one scan. A source is
        (host, channel), or (host, record kind) without a channel, as ``evidence.silent_sources``
        names it. The events are reduced per day and source first, inside DuckDB, so what comes
        back is a row per end and source, not per event or day."""
        if not ends:
            return {}
        host, channel, kind = (_key_expr(name) for name in ("host", "channel", "kind"))
        days = int(lookback_days)
        sql = (f"WITH daily AS (SELECT CAST({_MOMENT} AS DATE) AS d, {host} AS h, {channel} AS c, {kind} AS k, "
               f"max({_MOMENT}) AS last FROM {_READ} WHERE {_MOMENT} >= ? AND {_MOMENT} < ? GROUP BY d, h, c, k) "
               "SELECT e, h, c, k, max(last) FROM daily, (SELECT unnest(?) AS e) AS ends "
               f"WHERE last >= e - INTERVAL {days} DAY AND last < e GROUP BY e, h, c, k")
        aware = {naive_utc(end): end for end in ends}
        since = min(ends) - timedelta(days=days)
        out: dict[datetime, dict[tuple[str, str], datetime]] = {end: {} for end in ends}
        for end, name, stream, record_kind, last in self._rows(tenant, since, max(ends), sql, [list(aware)]):
            key = (str(name) if name else "(no host)", str(stream or record_kind or "?"))
            moment = last.replace(tzinfo=timezone.utc)
            seen = out[aware[end]]
            seen[key] = max(seen.get(key, moment), moment)
        return out

    def hosts_by_day(self, tenant: str, since: datetime, until: datetime) -> dict[date, set[str]]:
        """The hosts (lower case) that sent any event, per UTC day of [since, until): what the
        share of assets monitored is drawn from, period by period, in one scan."""
        sql = (f"SELECT DISTINCT CAST({_MOMENT} AS DATE), lower(host) FROM {_READ} "
               f"WHERE {_MOMENT} >= ? AND {_MOMENT} < ? AND host IS NOT NULL")
        out: dict[date, set[str]] = {}
        for day, host in self._rows(tenant, since, until, sql, []):
            out.setdefault(day, set()).add(host)
        return out

    def _rows(self, tenant: str, since: datetime, until: datetime, sql: str,
              params: Sequence[object]) -> list[tuple[Any, ...]]:
        """``sql`` over the tenant's events of [since, until) (its first three parameters: the
        files, since, until)."""
        return self._store.aggregate([tenant], since, until, sql, [naive_utc(since), naive_utc(until), *params])


def _key_expr(name: str) -> str:
    column = COLUMNS.get(name.lower())
    if column is not None:
        return column[0]
    if not _FIELD.fullmatch(name):
        raise ValueError(f"not a field name: {name!r}")
    return f"json_extract_string(fields, '$.\"{name}\"')"
