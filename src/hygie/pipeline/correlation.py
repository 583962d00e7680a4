"""Correlation rules in the scale-out mode: one holder of the windows, whatever the workers.

A correlation (ten failed logons from one address in five minutes, a mass service stop...)
counts events that the ``detect`` work queue spreads over all workers, so no worker may keep
windows of its own: each would see part of a group and miss what only the whole shows. The
design, and why:

* **Workers forward, they do not correlate.** A worker's ``DetectionStage`` (with
  ``forward_correlations``) hands ``Engine.match_event`` a ``FeedRecorder`` instead of a
  ``Correlator``: the engine's own matching decides which base rules feed a correlation, and
  the recorder keeps each such match as a *feed* (tenant, record key, base rule, the event
  fields the correlations group and count by, event time, host, and the event itself for the
  alert). Feeds are sparse (base rules of correlations only), so a stage of their own costs
  little, where partitioning the records by a group-by key would need one subject per
  correlation's keys, and keys are only known after parsing.
* **One stream, read in order by one process.** The worker publishes the feeds of a batch to
  ``HYGIE_CORRELATE`` before it acknowledges the batch's records, each with ``Nats-Msg-Id`` =
  ``feed_id`` (tenant, record key, base rule): a batch detected again after a worker died adds
  no second feed within the stream's duplicate window (10 minutes, far above ``ack_wait``).
  ``hygie serve``, already the one process that owns the event store, reads the stream with
  a single consumer (``CorrelationStage``). The windows are a deterministic function of the
  feeds in stream order, so the stage can be rebuilt exactly.
* **Checkpoint, then acknowledge.** The stage saves its windows and the stream sequence of the
  last feed they include (``correlation-state.json`` in serve's data folder, replaced
  atomically), and only then acknowledges the feeds, so the work queue keeps every feed that
  no checkpoint holds yet. The alerts of a feed are stored (``StateStore.store_results``)
  before the checkpoint that covers it. After a crash, or any failure, the stage reloads its
  checkpoint and reads again, in order, every feed left in the stream, skipping those the
  checkpoint already holds: the same feeds in the same order raise the same correlation
  alerts, whose keys (tenant, rule, last record) are those already stored, so nothing is
  stored twice and no window loses what it held.

Correlation alerts have the same keys as in the embedded service (the record that completed
the window). The order of the feeds is their arrival order: two workers' batches interleave,
so a window sees events a batch late at worst, which Sigma's "roughly time-ordered input"
already allows for.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from hygie.core.event import Event
from hygie.detect.engine import Engine
from hygie.detect.sigma.correlation import Correlator, CorrelationSpec, _Window
from hygie.store.state.store import RecordResult

log = logging.getLogger("hygie.correlation")
FeedItem = tuple[str, str, bytes]  # (tenant, message id, feed as JSON) for HYGIE_CORRELATE
EVENT_COPY_LIMIT = 256 * 1024  # bytes: a larger event travels without its copy for the alert
CHECKPOINT_VERSION = 1


def feed_id(tenant: str, record_key: str, base_rule: str) -> str:
    """The message id of a feed: the same record matched by the same base rule, the same id."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (tenant, record_key, base_rule):
        digest.update(part.encode())
        digest.update(b"\0")
    return "cf-" + digest.hexdigest()


class FeedRecorder:
    """Takes a ``Correlator``'s place in ``Engine.match_event`` (it reads ``by_base`` and calls
    ``feed``): base-rule matches are recorded for ``HYGIE_CORRELATE``, no window is kept."""

    def __init__(self, engine: Engine) -> None:
        self.by_base: dict[str, list[CorrelationSpec]] = Correlator(engine.correlations).by_base
        self.needed: dict[str, tuple[str, ...]] = {
            base: tuple(dict.fromkeys(name for spec in specs for name in _fields_of(spec, base)))
            for base, specs in self.by_base.items()}
        self.fed: list[tuple[str, Event]] = []

    def feed(self, base_rule_id: str, event: Event) -> tuple[()]:
        self.fed.append((base_rule_id, event))
        return ()

    def take(self, result: RecordResult) -> list[FeedItem]:
        """The feeds recorded for ``result``'s record (its event is set), encoded."""
        items = []
        for base, event in self.fed:
            fields = event.fields
            doc = {"t": result.tenant, "k": result.record_key, "b": base,
                   "f": {name: fields[name] for name in self.needed.get(base, ()) if name in fields},
                   "ti": event.time, "h": event.host, "s": event.source, "o": event.offset,
                   "rs": result.source, "kd": result.kind, "r": result.received}
            data = _dumps({**doc, "ev": result.event})
            if len(data) > EVENT_COPY_LIMIT:
                data = _dumps(doc)
            items.append((result.tenant, feed_id(result.tenant, result.record_key, base), data))
        self.fed.clear()
        return items


class CorrelationStage:
    """The correlation windows of every tenant, fed from ``HYGIE_CORRELATE`` in stream order
    (by ``scaleout.NatsBridge``, the only reader). ``engine`` gives the current rules (a
    reload restarts the windows, as in the embedded service); ``store`` stores results."""

    def __init__(self, engine: Callable[[], Engine], store: Callable[[list[RecordResult]], object],
                 checkpoint: Path) -> None:
        self._engine_of = engine
        self._store = store
        self.path = checkpoint
        self._engine: Engine | None = None
        self.correlators: dict[str, Correlator] = {}
        self.seq = 0  # stream sequence of the last feed the windows hold
        self.saved_seq = -1
        self.feeds = 0  # feeds read (once each: not again when replayed after a restore)
        self._counted = 0  # highest stream sequence counted in the metrics
        self.alerts_by_level: dict[tuple[str, str], int] = {}  # (tenant, level) -> alerts raised
        self.unreadable = 0

    def handle(self, messages: Iterable[tuple[int, bytes]]) -> int:
        """Feed (stream sequence, data) messages, in order; those the windows already hold
        (sequence not above ``seq``) are skipped. The alerts raised are stored before this
        returns; if storing fails the exception propagates and the caller must ``restore``."""
        self._sync_engine()
        results, counted = [], []
        for seq, data in messages:
            if seq <= self.seq:
                continue
            self.seq = seq
            new = seq > self._counted
            self.feeds += new
            self._counted = max(self._counted, seq)
            result = self._feed(data)
            if result is not None:
                results.append(result)
                if new:
                    counted.append(result)
        if results:
            self._store(results)
            for result in counted:
                for alert in result.alerts:
                    key = (result.tenant, alert.level)
                    self.alerts_by_level[key] = self.alerts_by_level.get(key, 0) + 1
        return len(results)

    def _feed(self, data: bytes) -> RecordResult | None:
        try:
            doc = orjson.loads(data)
            tenant, key, base = doc["t"], doc["k"], doc["b"]
            event = Event(doc.get("f") or {}, doc.get("ti"), doc.get("h"), doc.get("s") or "",
                          int(doc.get("o") or 0))
        except (ValueError, KeyError, TypeError):
            self.unreadable += 1
            log.error("unreadable correlation feed of %d bytes skipped", len(data))
            return None
        correlator = self._correlator(tenant)
        if not correlator.wants(base):  # a worker with other rules: serve's rules decide
            return None
        alerts = [Engine._correlation_alert(hit) for hit in correlator.feed(base, event)]
        if not alerts:
            return None
        return RecordResult(tenant, key, doc.get("rs") or event.source, doc.get("kd") or "",
                            float(doc.get("r") or 0.0), alerts=alerts,
                            event=doc.get("ev") or event.fields, event_time=event.time,
                            host=event.host)

    def _correlator(self, tenant: str) -> Correlator:
        correlator = self.correlators.get(tenant)
        if correlator is None:
            assert self._engine is not None
            correlator = self.correlators[tenant] = self._engine.new_correlator()
        return correlator

    def _sync_engine(self) -> None:
        engine = self._engine_of()
        if engine is not self._engine:
            if self._engine is not None and self.correlators:
                log.warning("rules reloaded: correlation windows restart")
            self._engine = engine
            self.correlators.clear()

    # -- checkpoint ----------------------------------------------------------------------------
    def save(self) -> None:
        """Write the windows and ``seq`` (atomically: a crash leaves the old or the new file)."""
        if self.seq == self.saved_seq:
            return
        self._sync_engine()
        specs = _spec_digests(self._engine.correlations if self._engine else [])
        tenants = {}
        for tenant, correlator in self.correlators.items():
            for key in [key for key, window in correlator.windows.items() if not window.entries]:
                del correlator.windows[key]  # an empty window and none behave alike
            tenants[tenant] = {"last": correlator.last_time, "windows": [
                [rule_id, list(group), [[ts, base, e.fields, e.time, e.host, e.source, e.offset]
                                        for ts, base, e in window.entries]]
                for (rule_id, group), window in correlator.windows.items()]}
        data = _dumps({"v": CHECKPOINT_VERSION, "seq": self.seq, "specs": specs, "tenants": tenants})
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        self.saved_seq = self.seq

    def restore(self) -> None:
        """Back to the last checkpoint (none: empty windows, from the stream's start). Windows
        of correlations whose definition changed since, or that are gone, are dropped."""
        self._engine = None
        self._sync_engine()
        self.correlators.clear()
        self.seq = self.saved_seq = 0
        if not self.path.exists():
            return
        try:
            doc = orjson.loads(self.path.read_bytes())
            if doc.get("v") != CHECKPOINT_VERSION:
                raise ValueError(f"version {doc.get('v')!r}")
            assert self._engine is not None
            current = _spec_digests(self._engine.correlations)
            kept = {rule for rule, digest in doc["specs"].items() if current.get(rule) == digest}
            for tenant, state in doc["tenants"].items():
                correlator = self._correlator(tenant)
                correlator.last_time = float(state["last"])
                for rule_id, group, entries in state["windows"]:
                    if rule_id in kept:
                        correlator.windows[(rule_id, _tuples(group))] = _Window(deque(
                            (float(ts), base, Event(fields, time, host, source, offset))
                            for ts, base, fields, time, host, source, offset in entries))
            self.seq = self.saved_seq = int(doc["seq"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.error("correlation checkpoint %s is unreadable (%s): windows start empty", self.path, exc)
            self.correlators.clear()
            with contextlib.suppress(OSError):
                self.path.replace(self.path.with_name(self.path.name + ".bad"))
        if self.seq:
            log.info("correlation windows restored up to feed %d", self.seq)


def _fields_of(spec: CorrelationSpec, base: str) -> list[str]:
    names = [spec.aliases.get(name, {}).get(base, name) for name in spec.group_by]
    return names + ([spec.value_field] if spec.value_field else [])


def _spec_digests(specs: Sequence[CorrelationSpec]) -> dict[str, str]:
    return {spec.rule_id: hashlib.sha256(repr((
        spec.kind, spec.base_rules, spec.group_by, sorted((k, sorted(v.items())) for k, v in spec.aliases.items()),
        spec.timespan, spec.op, spec.count, spec.value_field)).encode()).hexdigest()[:32]
        for spec in specs}


def _tuples(value: Any) -> Any:
    """A group value back from JSON: its lists were tuples (``correlation._hashable``)."""
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def _dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS)
