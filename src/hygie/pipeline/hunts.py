"""Scheduled hunts: saved searches that run every N minutes over the events stored since their
last run, and raise one alert per run that finds something.

The alert's key is (hunt, end of the window), so a run repeated after a crash adds nothing;
a window starts where the previous ended, so no event is counted by two runs."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from hygie.core.alert import Alert
from hygie.core.moments import parse_moment
from hygie.store.events import EventStore, QueryError
from hygie.store.state import saved_searches
from hygie.store.state.store import RecordResult, StateStore

log = logging.getLogger("hygie.hunts")
SAMPLE = 5  # events of a run named in its alert


def run_due_hunts(state: StateStore, events: EventStore, now: datetime | None = None) -> int:
    """Run the hunts whose time has come; returns how many raised an alert."""
    now = now or datetime.now(timezone.utc)
    raised = 0
    for hunt in saved_searches.scheduled(state.engine):
        last = hunt.last_run.replace(tzinfo=timezone.utc) if hunt.last_run and not hunt.last_run.tzinfo \
            else hunt.last_run
        if last is not None and last + timedelta(minutes=hunt.every_minutes or 0) > now:
            continue
        try:
            start = last or parse_moment(hunt.since, now)
            found = events.count([hunt.tenant_id], hunt.query, start, now)
            sample = events.search([hunt.tenant_id], hunt.query, start, now, SAMPLE) if found else []
        except (QueryError, ValueError) as exc:  # saved before a change of the language, say
            log.warning("scheduled hunt %s (%s) cannot run: %s", hunt.id, hunt.name, exc)
            saved_searches.mark_run(state.engine, hunt.id, now)
            continue
        if found:
            alert = Alert(rule_id=f"hunt:{hunt.id}", title=f"Scheduled hunt: {hunt.name}", level=hunt.level,
                          tags=[], time=now.isoformat(), host=sample[0]["host"] if sample else None,
                          source="hunt", offset=0, kind="hunt",
                          matched={"query": hunt.query, "events": found, "from": start.isoformat(),
                                   "to": now.isoformat(),
                                   "sample": [row["record_key"] for row in sample]})
            state.store_results([RecordResult(tenant=hunt.tenant_id, record_key=f"hunt:{hunt.id}:{now.isoformat()}",
                                              source="hunt", kind="hunt", received=now.timestamp(),
                                              alerts=[alert], event={"query": hunt.query, "events": found})])
            raised += 1
        saved_searches.mark_run(state.engine, hunt.id, now)
    return raised
