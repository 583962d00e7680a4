"""The detection stage: records in, results (alerts or quarantine) out, one batch at a time.

It is the same code in the embedded service and in a NATS worker; only the bus around it
changes. Correlation windows are kept per tenant, so events of two hospitals never complete
each other's correlation.

In a NATS worker (``forward_correlations``) the stage keeps no correlation window: the
base-rule matches that feed correlations are collected in ``feeds`` for the one correlation
stage of the deployment (see ``pipeline.correlation``).

A record delivered again after its results were stored (the bus is at-least-once) is skipped
here, by key, so it cannot count twice in a correlation window; the store ignores its alerts
anyway. After a crash the stage starts empty and the replayed records rebuild the windows.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from hygie.core.errors import RecordError
from hygie.core.record import RawRecord
from hygie.detect.engine import Engine
from hygie.detect.sigma.correlation import Correlator
from hygie.intel.matcher import IntelMatcher
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event
from hygie.pipeline.correlation import FeedItem, FeedRecorder
from hygie.store.state.store import RecordResult

log = logging.getLogger("hygie.pipeline")
QUARANTINE_PAYLOAD_LIMIT = 256 * 1024  # bytes of a bad record kept for the analyst
SEEN_LIMIT = 200_000  # keys of stored records remembered against redelivery


class DetectionStage:
    def __init__(self, engine: Engine, policy: PatientPolicy, forward_correlations: bool = False,
                 intel: IntelMatcher | None = None) -> None:
        """``intel``: indicators every event is also matched against (alerts of kind ioc)."""
        self.engine = engine
        self.policy = policy
        self.intel = intel
        self.correlators: dict[str, Correlator] = {}
        self.forwarder = FeedRecorder(engine) if forward_correlations else None
        self.feeds: list[FeedItem] = []  # with forward_correlations: for HYGIE_CORRELATE
        self.events = 0
        self.quarantined = 0
        self.redelivered = 0
        self._seen: dict[str, None] = {}

    def use_engine(self, engine: Engine) -> None:
        """Switch to reloaded rules between two batches. Correlation windows start afresh:
        their state belongs to the old rules, which may have changed or gone."""
        self.engine = engine
        self.correlators.clear()
        if self.forwarder is not None:
            self.forwarder = FeedRecorder(engine)

    def take_feeds(self) -> list[FeedItem]:
        """The correlation feeds of the batches processed since the last call."""
        feeds, self.feeds = self.feeds, []
        return feeds

    def forget_windows(self, tenants: set[str]) -> None:
        """After a batch failed to be stored (it will come back): its events are already in
        these tenants' correlation windows, and counting them again would raise false alerts,
        so the windows start afresh (a correlation spanning the failure may be missed). The
        batch's correlation feeds, not yet published, are dropped: it will make them again."""
        self.feeds.clear()
        if self.forwarder is not None:
            self.forwarder.fed.clear()
        for tenant in tenants:
            if self.correlators.pop(tenant, None) is not None:
                log.warning("correlation windows of tenant %s restart after a failed batch", tenant)

    def mark_stored(self, results: Sequence[RecordResult]) -> None:
        """Remember the records whose results are now stored (call after the commit)."""
        seen = self._seen
        for result in results:
            seen[result.record_key] = None
        while len(seen) > SEEN_LIMIT:
            del seen[next(iter(seen))]
        if self.intel is not None:
            try:  # the IOC alerts are stored; a sighting lost to a database error is logged
                self.intel.record_sightings(results)
            except Exception:
                log.exception("sightings of this batch could not be recorded")

    def process(self, records: Sequence[RawRecord]) -> list[RecordResult]:
        results = []
        intel = self.intel
        if intel is not None:
            intel.maybe_refresh()  # between batches; a rebuild runs in the background
        for record in records:
            key = record.key()
            if key in self._seen:
                self.redelivered += 1
                continue
            result = RecordResult(record.tenant, key, record.source, record.kind, record.received)
            try:
                event = record_to_event(record, self.policy)
            except RecordError as exc:
                self._quarantine(result, record, str(exc))
            except Exception as exc:  # a parser bug must not stop the stage or lose the record
                log.exception("parser failure on a %s record from %s", record.kind, record.source)
                self._quarantine(result, record, f"parser failure ({type(exc).__name__}): {exc}")
            else:
                self.events += 1
                forwarder = self.forwarder
                if forwarder is None:
                    correlator = self.correlators.get(record.tenant)
                    if correlator is None:
                        correlator = self.correlators[record.tenant] = self.engine.new_correlator()
                    result.alerts = self.engine.match_event(event, correlator)
                else:
                    result.alerts = self.engine.match_event(event, forwarder)  # type: ignore[arg-type]
                if intel is not None:
                    found = intel.alerts(record.tenant, event)
                    if found:
                        result.alerts = [*result.alerts, *found]
                result.event = event.fields  # the event store keeps every event (not copied: the
                # event is not used after this)
                result.event_time, result.host = event.time, event.host
                result.payload = record.payload  # the raw form the event store keeps
                if forwarder is not None and forwarder.fed:
                    self.feeds.extend(forwarder.take(result))
            results.append(result)
        return results

    def _quarantine(self, result: RecordResult, record: RawRecord, reason: str) -> None:
        self.quarantined += 1
        result.quarantine_reason = reason
        result.payload = record.payload[:QUARANTINE_PAYLOAD_LIMIT]
