"""Refreshing a feed: read its source with the importer of its kind, replace its indicators
in the store, and record how it went (the console's feed status)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from hygie.intel.feeds import FeedError, ImportResult, misp_api, misp_feed, plain, stix, taxii
from hygie.intel.indicators import Problem
from hygie.store.state import intel_store
from hygie.store.state.models_intel import IntelFeed

log = logging.getLogger("hygie.intel")
Importer = Callable[[str, dict[str, Any]], ImportResult]
IMPORTERS: dict[str, Importer] = {"misp-feed": misp_feed.read, "misp": misp_api.read,
                                  "stix": stix.read, "taxii": taxii.read,
                                  "csv": plain.read_csv, "text": plain.read_text}
PROBLEMS_KEPT = 20  # in the feed's last_error, for the console; the log has them all


@dataclass(slots=True)
class RefreshReport:
    feed_id: int
    imported: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None


def read_source(kind: str, location: str, options: dict[str, Any] | None = None) -> ImportResult:
    importer = IMPORTERS.get(kind)
    if importer is None:
        raise FeedError(f"no importer for feed kind {kind!r} ({', '.join(IMPORTERS)})")
    return importer(location, dict(options or {}))


def refresh_feed(engine: Engine, feed: IntelFeed) -> RefreshReport:
    """Read the feed and make its indicators those read; a feed that cannot be read at all
    keeps its indicators and records the error."""
    report = RefreshReport(feed.id)
    try:
        result = read_source(feed.kind, feed.location, feed.options)
    except FeedError as exc:
        report.error = str(exc)
        intel_store.record_run(engine, feed.id, report.error, 0)
        log.warning("feed %s (%d) could not be read: %s", feed.name, feed.id, exc)
        return report
    indicators = result.unique()
    replaced = intel_store.replace_indicators(engine, feed.id, indicators,
                                              complete=not feed.options.get("incremental"))
    report.imported, report.problems = len(indicators), result.problems
    report.added, report.updated, report.removed = replaced.added, replaced.updated, replaced.removed
    for problem in result.problems:
        log.info("feed %s: skipped %s", feed.name, problem)
    summary = "; ".join(str(p) for p in result.problems[:PROBLEMS_KEPT])
    intel_store.record_run(engine, feed.id, None, len(result.problems))
    if summary:  # a partial success: the counts are updated, the skipped entries are shown
        intel_store.note_problems(engine, feed.id, summary)
    return report


def refresh_due(engine: Engine) -> list[RefreshReport]:
    """Every scheduled feed whose time has come (the service calls this every minute)."""
    reports = []
    for feed in intel_store.due_feeds(engine):
        try:
            reports.append(refresh_feed(engine, feed))
        except Exception as exc:  # a store error: this feed waits for its next turn
            log.exception("feed %s (%d) refresh failed", feed.name, feed.id)
            intel_store.record_run(engine, feed.id, f"{type(exc).__name__}: {exc}", 0)
    return reports
