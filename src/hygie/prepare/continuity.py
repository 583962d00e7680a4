"""Continuity KPIs over time that the telemetry checks and the warnings table only gave for
"now": backups, restore tests, silent log sources and open critical early warnings, computed at
the end of every period (months or ISO weeks) from per-day aggregates of the event store, so a
year of months costs five scans, not several per period.

A period's *end* is its last moment, or ``until`` for the current period. Definitions, each the
evidence check of ``evidence.py`` read at that end (so the latest point matches the check):

* ``backup_success``: share of backup runs that succeeded in the ``window_days`` UTC days ending
  with the period's last day (whole days: for the current period, today so far counts as one);
* ``backup_age``: hours from the end back to the last successful backup run. Looked for over
  ``freshness_days``; backup runs without any success in that time give ``freshness_days``
  (a floor: "that long or more"); no backup run at all is a gap;
* ``restore_test_age``: hours from the end back to the last successful restore test within the
  restore check's ``lookback_days``; none there while backups or restore tests are logged gives
  the look-back itself (a floor), no log at all is a gap;
* ``restore_test_success``: share of the restore tests run during the period that succeeded
  (a period without a test is a gap);
* ``silent_sources``: log sources (host and channel, or host and record kind) seen in the
  ``lookback_days`` before the end and silent for more than ``silent_hours`` at the end (the
  last moment of each source before each end comes from one DuckDB query);
* ``critical_warnings``: KEV early warnings open at the end (created before it and not closed
  before it, see ``prepare_metrics.WarningSpan`` for how closing is approximated) and critical
  by today's rank or level."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from hygie.prepare.evidence import EvidenceConfig
from hygie.prepare.telemetry import Activity
from hygie.prepare.trends import Period, Series
from hygie.store.state.prepare_metrics import WarningSpan

Day = dict[date, Activity]


class DailyTelemetry(Protocol):
    """The per-day reads of ``EventStoreTelemetry`` these KPIs need."""

    def activity_by_day(self, tenant: str, query: str, since: datetime, until: datetime) -> Day: ...

    def sources_last_seen(self, tenant: str, ends: Sequence[datetime],
                          lookback_days: int) -> dict[datetime, dict[tuple[str, str], datetime]]: ...


def period_end(span: Period, until: datetime) -> datetime:
    return min(span.end, until)


def _last_day(end: datetime) -> date:
    return (end - timedelta(microseconds=1)).date()


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


def _share(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _last_before(days: Day, end: datetime, since: datetime) -> datetime | None:
    """The latest moment in [since, end) among per-day last moments (exact: a day's last moment
    before ``since`` means nothing of that day lies in the window)."""
    found = [a.last_seen for a in days.values() if since <= a.last_seen < end]
    return max(found, default=None)


def backup_success(runs: Day, ok: Day, spans: list[Period], until: datetime, window_days: int) -> list[float | None]:
    out: list[float | None] = []
    for span in spans:
        last = _last_day(period_end(span, until))
        window = [last - timedelta(days=n) for n in range(window_days)]
        out.append(_share(sum(ok[d].records for d in window if d in ok),
                          sum(runs[d].records for d in window if d in runs)))
    return out


def backup_age(runs: Day, ok: Day, spans: list[Period], until: datetime, freshness_days: int) -> list[float | None]:
    out: list[float | None] = []
    for span in spans:
        end = period_end(span, until)
        since = end - timedelta(days=freshness_days)
        success = _last_before(ok, end, since)
        if success is not None:
            out.append(_hours(end - success))
        else:
            out.append(_hours(timedelta(days=freshness_days)) if _last_before(runs, end, since) else None)
    return out


def restore_test_age(tests_ok: Day, logs: Iterable[Day], spans: list[Period], until: datetime,
                     lookback_days: int) -> list[float | None]:
    """``logs``: per-day backup runs and restore tests, whose presence turns "no successful
    test" into the look-back floor rather than a gap."""
    logged = list(logs)
    out: list[float | None] = []
    for span in spans:
        end = period_end(span, until)
        since = end - timedelta(days=lookback_days)
        success = _last_before(tests_ok, end, since)
        if success is not None:
            out.append(_hours(end - success))
        elif any(_last_before(days, end, since) for days in logged):
            out.append(_hours(timedelta(days=lookback_days)))
        else:
            out.append(None)
    return out


def restore_test_success(tests: Day, tests_ok: Day, spans: list[Period], until: datetime) -> list[float | None]:
    out: list[float | None] = []
    for span in spans:
        first, last = span.start.date(), _last_day(period_end(span, until))
        inside = [d for d in tests if first <= d <= last]
        out.append(_share(sum(tests_ok[d].records for d in inside if d in tests_ok),
                          sum(tests[d].records for d in inside)))
    return out


def silent_sources(last_seen: dict[datetime, dict[tuple[str, str], datetime]], spans: list[Period],
                   until: datetime, silent_hours: int) -> list[float | None]:
    """``last_seen``: per period end, each source's last event in the look-back before it
    (``sources_last_seen``); a period whose look-back saw no source is a gap."""
    out: list[float | None] = []
    for span in spans:
        end = period_end(span, until)
        seen = last_seen.get(end, {})
        cutoff = end - timedelta(hours=silent_hours)
        out.append(float(sum(1 for t in seen.values() if t < cutoff)) if seen else None)
    return out


def open_warnings(warnings: Iterable[WarningSpan], spans: list[Period], until: datetime,
                  critical: Callable[[WarningSpan], bool]) -> list[float | None]:
    chosen = [w for w in warnings if critical(w)]
    out: list[float | None] = []
    for span in spans:
        end = period_end(span, until)
        out.append(float(sum(1 for w in chosen if w.created < end and (w.closed is None or w.closed >= end))))
    return out


def telemetry_series(telemetry: DailyTelemetry, settings: EvidenceConfig, tenant: str, spans: list[Period],
                     until: datetime) -> list[Series]:
    """The backup, restore-test and silent-source KPIs per period, from five per-day scans."""
    backup, restore, silent = settings.backup_success, settings.restore_test, settings.silent_sources
    first = spans[0].start
    since = first - timedelta(days=max(backup.window_days, backup.freshness_days, restore.lookback_days))
    runs = telemetry.activity_by_day(tenant, backup.runs, since, until)
    ok = telemetry.activity_by_day(tenant, f"({backup.runs}) AND ({backup.success})", since, until)
    tests = telemetry.activity_by_day(tenant, restore.runs, since, until)
    tests_ok = telemetry.activity_by_day(tenant, f"({restore.runs}) AND ({restore.success})", since, until)
    sources = telemetry.sources_last_seen(tenant, [period_end(s, until) for s in spans], silent.lookback_days)
    labels = [p.label for p in spans]
    return [
        Series("backup_success", "%", list(zip(labels, backup_success(runs, ok, spans, until, backup.window_days))),
               False),
        Series("backup_age", "h", list(zip(labels, backup_age(runs, ok, spans, until, backup.freshness_days))), True),
        Series("restore_test_age", "h", list(zip(labels, restore_test_age(tests_ok, (runs, tests), spans, until,
                                                                          restore.lookback_days))), True),
        Series("restore_test_success", "%", list(zip(labels, restore_test_success(tests, tests_ok, spans, until))),
               False),
        Series("silent_sources", "", list(zip(labels, silent_sources(sources, spans, until, silent.silent_hours))),
               True),
    ]
