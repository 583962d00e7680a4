"""Refreshing a feed: read its source with the importer of its kind, replace its indicators
in the store, and record how it went (the console's feed status).

A feed with a credential (given in the console) has it opened with the installation's key
(``core.secrets``, the data dir's ``secret.key`` or ``HYGIE_SECRET_KEY``) for that refresh
only. A TAXII feed is polled incrementally: its cursor (``added_after``) is kept in the store
and only the objects added since are read, added to the feed's others."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hygie.core.secrets import KEY_ENV, Cipher, SecretError
from hygie.intel.feeds import FeedError, ImportResult, misp_api, misp_feed, plain, stix, taxii
from hygie.intel.indicators import Problem
from hygie.store.state import intel_store
from hygie.store.state.models_intel import IntelFeed

log = logging.getLogger("hygie.intel")
Importer = Callable[[str, dict[str, Any]], ImportResult]
IMPORTERS: dict[str, Importer] = {"misp-feed": misp_feed.read, "misp": misp_api.read,
                                  "stix": stix.read, "taxii": taxii.read,
                                  "csv": plain.read_csv, "text": plain.read_text}
INCREMENTAL = {"taxii"}  # kinds whose source says what was added since a cursor
PROBLEMS_KEPT = 20  # in the feed's last_error, for the console; the log has them all
_running: set[int] = set()  # feeds being refreshed in this process (never twice at once)
_running_lock = threading.Lock()


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


def _options(feed: IntelFeed, key_dir: Path | None) -> dict[str, Any]:
    """The feed's options for this refresh: its opened credential and its cursor added."""
    options = dict(feed.options or {})
    if feed.credential:
        if key_dir is None and not os.environ.get(KEY_ENV):
            raise FeedError("the feed's credential needs the installation's key (--data-dir or "
                            f"${KEY_ENV})")
        try:
            options["secret"] = Cipher.of(key_dir or Path(".")).open(feed.credential, "the credential")
        except SecretError as exc:
            raise FeedError(str(exc)) from None
    if feed.kind in INCREMENTAL and feed.cursor and not options.get("full"):
        options["added_after"] = feed.cursor
    return options


def refresh_feed(engine: Engine, feed: IntelFeed, key_dir: Path | None = None) -> RefreshReport:
    """Read the feed and make its indicators those read (only add to them when the read was
    incremental); a feed that cannot be read at all keeps its indicators and records the
    error. ``key_dir``: where the installation's key is (feeds with a credential)."""
    report = RefreshReport(feed.id)
    if feed.kind == "manual":  # indicators added by hand: there is no source to read
        return report
    with _running_lock:
        if feed.id in _running:
            report.error = "a refresh of this feed is already running"
            return report
        _running.add(feed.id)
    try:
        return _refresh(engine, feed, key_dir, report)
    finally:
        with _running_lock:
            _running.discard(feed.id)


def _refresh(engine: Engine, feed: IntelFeed, key_dir: Path | None, report: RefreshReport) -> RefreshReport:
    try:
        options = _options(feed, key_dir)
        result = read_source(feed.kind, feed.location, options)
    except FeedError as exc:
        report.error = str(exc)
        intel_store.record_run(engine, feed.id, report.error, 0)
        log.warning("feed %s (%d) could not be read: %s", feed.name, feed.id, exc)
        return report
    indicators = result.unique()
    incremental = bool(feed.options.get("incremental") or options.get("added_after"))
    replaced = intel_store.replace_indicators(engine, feed.id, indicators, complete=not incremental)
    report.imported, report.problems = len(indicators), result.problems
    report.added, report.updated, report.removed = replaced.added, replaced.updated, replaced.removed
    report.removed += intel_store.remove_refs(engine, feed.id, result.withdrawn)
    if feed.kind in INCREMENTAL:
        intel_store.set_cursor(engine, feed.id, result.cursor)
    for problem in result.problems:
        log.info("feed %s: skipped %s", feed.name, problem)
    summary = "; ".join(str(p) for p in result.problems[:PROBLEMS_KEPT])
    intel_store.record_run(engine, feed.id, None, len(result.problems))
    if summary:  # a partial success: the counts are updated, the skipped entries are shown
        intel_store.note_problems(engine, feed.id, summary)
    return report


def refresh_due(engine: Engine, key_dir: Path | None = None) -> list[RefreshReport]:
    """Every scheduled feed whose time has come (the service calls this every minute)."""
    reports = []
    for feed in intel_store.due_feeds(engine):
        try:
            reports.append(refresh_feed(engine, feed, key_dir))
        except Exception as exc:  # a store error: this feed waits for its next turn
            log.exception("feed %s (%d) refresh failed", feed.name, feed.id)
            intel_store.record_run(engine, feed.id, f"{type(exc).__name__}: {exc}", 0)
    return reports


def is_refreshing(feed_id: int) -> bool:
    with _running_lock:
        return feed_id in _running


def refresh_in_background(engine: Engine, feed: IntelFeed, key_dir: Path | None = None) -> bool:
    """Start a refresh on a thread of its own (the console's "refresh now": a large feed takes
    longer than a web request should); False when one is already running for this feed."""
    if is_refreshing(feed.id):
        return False

    def run() -> None:
        try:
            refresh_feed(engine, feed, key_dir)
        except Exception as exc:  # the database away: say so on the feed when it comes back
            log.exception("feed %s (%d) refresh failed", feed.name, feed.id)
            try:
                intel_store.record_run(engine, feed.id, f"{type(exc).__name__}: {exc}", 0)
            except Exception:
                log.exception("feed %d: the failure could not be recorded", feed.id)

    threading.Thread(target=run, name=f"hygie-intel-feed-{feed.id}", daemon=True).start()
    return True
