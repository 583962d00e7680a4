"""From a detected batch to the rows of the event store (shared by the embedded service and the
NATS workers, so both store the same thing)."""

from __future__ import annotations

from collections.abc import Sequence

from hygie.store.events import StoredEvent
from hygie.store.state.store import RecordResult


def stored_events(results: Sequence[RecordResult]) -> list[StoredEvent]:
    """One ``StoredEvent`` per parsed record of the batch, with its payload as received.

    Quarantined records are not events (the state store keeps them); a record twice in the
    same batch gives one event."""
    events, seen = [], set()
    for result in results:
        if result.event is None or result.quarantine_reason is not None:
            continue
        if result.record_key in seen:
            continue
        seen.add(result.record_key)
        events.append(StoredEvent(
            tenant=result.tenant, record_key=result.record_key, received=result.received,
            time=result.event_time, host=result.host, source=result.source, kind=result.kind,
            fields=result.event, raw=result.payload))
    return events
