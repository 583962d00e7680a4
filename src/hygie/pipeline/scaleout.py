"""``hygie serve --bus nats://…``: the service's side of the scale-out mode.

Collectors publish to JetStream instead of the local spool, and ``hygie worker`` processes
detect. This process keeps the event store: it consumes ``HYGIE_EVENTS`` and appends each
batch before acknowledging it.

It also runs the deployment's one correlation stage (``pipeline.correlation``: the windows
fed by every worker's base-rule matches, from ``HYGIE_CORRELATE``), reads the workers'
heartbeats for ``/metrics``, and makes a request resent after a partial publish store each
record once (``ResendMemory``).

The NATS client runs on a thread and event loop of its own. Collectors call ``put`` from worker
threads (the HTTP app and the intake use ``asyncio.to_thread``), and a blocking call must not
need the loop that is waiting on it; here it never does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import orjson

from hygie.bus.nats import (CORRELATE_CONSUMER, CORRELATE_STREAM, EVENTS_CONSUMER, EVENTS_STREAM, BusError,
                            BusFull, Delivery, JetStreamBus, NatsOptions, StreamLimits, decode_events)
from hygie.bus.spool import Spool
from hygie.core.record import RawRecord
from hygie.pipeline.correlation import CorrelationStage
from hygie.pipeline.detection import QUARANTINE_PAYLOAD_LIMIT
from hygie.pipeline.metrics import BusView, WorkerView
from hygie.pipeline.worker import decode_event
from hygie.store.events import StoredEvent
from hygie.store.state.store import RecordResult

log = logging.getLogger("hygie.serve.nats")
T = TypeVar("T")
PUBLISH_TIMEOUT_S = 60.0
DEPTH_EVERY_S = 0.5  # how often the backlog (lag metric, soft limit) is measured
HEARTBEATS_EVERY_S = 2.0  # how often the workers' heartbeats are read
SILENT_AFTER = 3  # heartbeat periods missed before a worker shows as silent
CHECKPOINT_EVERY_S = 1.0  # correlation: windows saved (and feeds acknowledged) at most this late
CHECKPOINT_PENDING = 1000  # ...or once this many feeds wait for their acknowledgement
CORRELATE_ACK_WAIT_S = 300.0  # feeds are acknowledged after a checkpoint, not one by one
RESEND_MEMORY = 10_000  # failed requests remembered (a fingerprint and a time each)


class ResendMemory:
    """Makes a request resent after a partial publish store each of its records once.

    A collector that answers 503 after JetStream stored part of a request (the stream filled
    up midway, NATS went away with publishes in flight) cannot take those records back; the
    shipper then resends the whole request, with a new receive time, so new record keys and
    new ``Nats-Msg-Id``s, and the stored part would be stored twice. So when publishing a
    request fails, its fingerprint (tenant, source, kind, sender host without port, and each
    record's position and payload) is remembered with the receive time and peer of that first
    try. A later request with the same fingerprint, within the stream's duplicate window, is
    given that receive time and peer back: its records get the keys, hence the message ids,
    of the first try, and JetStream drops those it already has.

    Why not an id derived from the content alone (tenant + source + payload + position)? It
    needs no memory and survives a restart of serve, but it makes two requests with the same
    lines at the same positions collide even when neither failed: a script posting the same
    single line each minute, or a load generator replaying a file, would lose records
    silently within the 10-minute window. Here only a request identical to one that *failed*
    is taken for its resend, which is what a resend is; identical lines within one request stay
    distinct thanks to their position (``seq``). The price: the memory is this process's, so a
    resend that reaches another ``hygie serve``, or comes after a restart, is stored again, and
    a request whose records do not share one receive time (only HTTP ingest's do) is left as
    is (the syslog intake retries the very same records, whose keys already match)."""

    def __init__(self, horizon_s: float, limit: int = RESEND_MEMORY) -> None:
        self.horizon_s = horizon_s
        self.limit = limit
        self.resent = 0  # requests recognised as a resend
        self._failed: OrderedDict[str, tuple[float, str | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def fingerprint(records: Sequence[RawRecord]) -> str | None:
        """The request's fingerprint; None when its records were not received together."""
        first = records[0]
        if any(r.received != first.received or r.peer != first.peer for r in records):
            return None
        digest = hashlib.blake2b(digest_size=16)
        host = first.peer.rsplit(":", 1)[0] if first.peer else ""
        for part in (first.tenant, first.source, first.kind, host):
            digest.update(part.encode())
            digest.update(b"\0")
        for record in records:
            digest.update(b"%d\0%d\0" % (record.seq, len(record.payload)))
            digest.update(record.payload)
        return digest.hexdigest()

    def adopt(self, records: list[RawRecord]) -> tuple[list[RawRecord], str | None]:
        """``records``, given back the receive time and peer of the failed try they resend."""
        if not records:
            return records, None
        fingerprint = self.fingerprint(records)
        if fingerprint is None:
            return records, None
        with self._lock:
            self._expire()
            found = self._failed.get(fingerprint)
        if found is None:
            return records, fingerprint
        received, peer, _ = found
        self.resent += 1
        return [dataclasses.replace(r, received=received, peer=peer) for r in records], fingerprint

    def failed(self, fingerprint: str | None, records: Sequence[RawRecord]) -> None:
        """Publishing ``records`` failed: remember the first try (a resend's keeps its own)."""
        if fingerprint is None or not records:
            return
        with self._lock:
            if fingerprint not in self._failed:
                self._failed[fingerprint] = (records[0].received, records[0].peer,
                                             time.monotonic() + self.horizon_s)
            while len(self._failed) > self.limit:
                self._failed.popitem(last=False)

    def stored(self, fingerprint: str | None) -> None:
        """The request is stored whole: an identical one later is a new request."""
        if fingerprint is not None:
            with self._lock:
                self._failed.pop(fingerprint, None)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._failed:
            oldest = next(iter(self._failed.values()))
            if oldest[2] > now:
                break
            self._failed.popitem(last=False)


class NatsBridge:
    """The JetStream side of ``hygie serve``. ``on_events`` stores a batch of events (called on
    a worker thread; raising makes the batch come back later). ``depth`` is the records
    backlog, refreshed every ``DEPTH_EVERY_S``. ``correlation``, when given, is the
    deployment's correlation stage, fed from ``HYGIE_CORRELATE`` (one ``hygie serve`` per
    deployment: it is the single reader that stage needs)."""

    def __init__(self, options: NatsOptions, on_events: Callable[[list[StoredEvent]], None],
                 limits: StreamLimits | None = None,
                 correlation: CorrelationStage | None = None) -> None:
        self.options = options
        self.on_events = on_events
        self.correlation = correlation
        self.depth = 0
        self.correlation_backlog = 0
        self._heartbeats: dict[str, tuple[dict[str, Any], float, bytes]] = {}  # doc, seen, raw
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="hygie-nats", daemon=True)
        self._thread.start()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Future[None]] = []
        try:
            self.bus: JetStreamBus = self._call(JetStreamBus.connect(options, limits),
                                                options.connect_timeout + 10)
        except BaseException:
            self._shutdown_loop()
            raise
        self.limits = self.bus.limits
        self.resends = ResendMemory(self.limits.duplicate_window_s)
        tasks = [self._consume_events(), self._measure_depth(), self._read_heartbeats()]
        if correlation is not None:
            tasks.append(self._consume_correlations(correlation))
        self._tasks = [asyncio.run_coroutine_threadsafe(task, self._loop) for task in tasks]

    def put(self, records: list[RawRecord]) -> list[RecordResult]:
        """Store ``records`` in JetStream (blocking, from any thread but the bridge's).

        A record too large for a NATS message is not published: it comes back as a quarantine
        result for the caller to store (detection would quarantine it anyway, being over 1 MiB
        or nearly). Raises ``BusFull`` when the backlog would pass the stream's limit: checked
        before publishing, so a refused request is refused whole, except when two race for the
        last places (the stream's own limit then refuses the rest; a retry stores only those)."""
        if self.depth + len(records) > self.limits.max_msgs:
            raise BusFull(f"{self.depth:,} records wait for detection (limit {self.limits.max_msgs:,})")
        records, fingerprint = self.resends.adopt(records)  # a resend gets its first try's keys
        limit = self.bus.max_message_bytes
        fits, too_large = [], []
        for record in records:  # the wire form: the payload as it is, after a line of stamps
            # (tenant, source, peer: far below 64 KiB, even a long folder path JSON-escaped)
            big = len(record.payload) + 65_536 > limit and len(record.to_bytes()) > limit
            (too_large if big else fits).append(record)
        if fits:
            try:
                self._call(self.bus.publish_records(fits), PUBLISH_TIMEOUT_S)
            except BaseException:  # part of it may be stored: a resend must not store it again
                self.resends.failed(fingerprint, records)
                raise
            self.depth += len(fits)
        self.resends.stored(fingerprint)
        return [_too_large(record, limit) for record in too_large]

    def metrics_view(self) -> BusView:
        """The workers' last heartbeats and the correlation stage, for ``/metrics``."""
        now = time.time()
        workers = []
        for key, (doc, seen, _) in sorted(self._heartbeats.items()):
            try:
                every = float(doc.get("every") or 5.0)
                state = ("stopped" if doc.get("stopped") else
                         "silent" if now - seen > SILENT_AFTER * every else "up")
                alerts = {(str(t), str(level)): int(n) for t, level, n in doc.get("alerts") or ()}
                workers.append(WorkerView(
                    name=str(doc.get("name") or key), state=state, last_seen=seen,
                    alerts=alerts, **{name: int(doc.get(name) or 0) for name in (
                        "records", "batches", "failures", "events", "quarantined", "redelivered",
                        "feeds", "rules", "rule_errors")}))
            except (ValueError, TypeError):  # not a heartbeat of ours
                continue
        stage = self.correlation
        return BusView(workers=workers, correlation_feeds=stage.feeds if stage else 0,
                       correlation_alerts=dict(stage.alerts_by_level) if stage else {},
                       correlation_backlog=self.correlation_backlog)

    def forward_spool(self, spool: Spool, quarantine: Callable[[list[RecordResult]], object],
                      chunk: int = 500) -> int:
        """Move what an embedded run left in the local spool to JetStream (switching modes loses
        nothing); stops early, leaving the rest for the next start, if the stream is full.
        Returns how many records moved."""
        moved = 0
        while True:
            batch = spool.claim(chunk, lease_s=PUBLISH_TIMEOUT_S)
            if not batch:
                return moved
            records = []
            for _, data in batch:
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    records.append(RawRecord.from_bytes(data))
            try:
                too_large = self.put(records)
            except BusFull:
                spool.release([spool_id for spool_id, _ in batch])
                log.warning("JetStream is full: %d spooled records wait for the next start", spool.depth)
                return moved
            if too_large:
                quarantine(too_large)
            spool.ack([spool_id for spool_id, _ in batch])
            moved += len(batch)

    def close(self) -> None:
        """Stop consuming (the batch being stored finishes), flush, disconnect."""
        if not self._loop.is_running():
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        for task in self._tasks:
            with contextlib.suppress(Exception):
                task.result(timeout=30)
        with contextlib.suppress(Exception):
            self._call(self.bus.close(), 10)
        self._shutdown_loop()

    # -- on the bridge's loop -----------------------------------------------------------------
    async def _consume_events(self) -> None:
        consumer = None
        while not self._stopping.is_set():
            try:
                if consumer is None:
                    consumer = await self.bus.consumer(EVENTS_STREAM, EVENTS_CONSUMER)
                deliveries = await consumer.fetch(64, 0.5)
            except Exception as exc:  # noqa: BLE001 - the server restarts, say: try again shortly
                log.warning("reading %s failed (%s); retrying", EVENTS_STREAM, exc)
                await self._pause(1.0)
                continue
            events = []
            for delivery in deliveries:
                try:
                    events.extend(decode_event(doc) for doc in decode_events(delivery.data))
                except (ValueError, KeyError, TypeError):  # not from a worker: it would never pass
                    log.error("unreadable message of %d bytes on %s is dropped (contents not logged: they "
                              "may hold patient data)", len(delivery.data), EVENTS_STREAM)
            try:
                await asyncio.to_thread(self.on_events, events)  # [] lets the store do upkeep
            except Exception:  # noqa: BLE001 - a full disk, say: the events come back later
                log.exception("storing %d events failed; they will be delivered again", len(events))
                await self._each(deliveries, lambda d: d.nak(5.0))
                await self._pause(1.0)
                continue
            await self._each(deliveries, lambda d: d.ack())

    async def _measure_depth(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                self.depth = await self.bus.backlog()
            if self.correlation is not None:
                with contextlib.suppress(Exception):
                    self.correlation_backlog = await self.bus.backlog(CORRELATE_STREAM, CORRELATE_CONSUMER)
            await self._pause(DEPTH_EVERY_S)

    async def _read_heartbeats(self) -> None:
        """Keep each worker's last heartbeat and when it was last seen. A heartbeat seen for
        the first time is dated by the worker's clock (serve may have restarted long after it
        was written); a changed one by this process's clock (no skew between machines)."""
        while not self._stopping.is_set():
            try:
                found = await self.bus.heartbeats()
            except Exception as exc:  # noqa: BLE001 - NATS away: the last view stays, ageing
                log.debug("reading worker heartbeats failed: %s", exc)
                found = None
            if found is not None:
                now = time.time()
                known = self._heartbeats
                fresh: dict[str, tuple[dict[str, Any], float, bytes]] = {}
                for key, raw in found.items():
                    before = known.get(key)
                    if before is not None and before[2] == raw:
                        fresh[key] = before
                        continue
                    try:
                        doc = orjson.loads(raw)
                        if not isinstance(doc, dict):
                            continue
                        seen = now if before is not None else min(now, float(doc.get("time") or 0.0))
                    except (ValueError, TypeError):
                        continue
                    fresh[key] = (doc, seen, raw)
                self._heartbeats = fresh
            await self._pause(HEARTBEATS_EVERY_S)

    async def _consume_correlations(self, stage: CorrelationStage) -> None:
        """The single reader of ``HYGIE_CORRELATE``: feed the windows in stream order, store the
        alerts, save the windows, and only then acknowledge the feeds. On any failure (or at
        start) reload the last checkpoint and read again every feed not acknowledged, in
        order: the same feeds give the same alerts, which the store already has."""
        consumer = None
        pending: list[Delivery] = []
        last_save = time.monotonic()
        try:
            while not self._stopping.is_set():
                try:
                    if consumer is None:
                        pending = []
                        await asyncio.to_thread(stage.restore)
                        consumer = await self.bus.consumer(
                            CORRELATE_STREAM, CORRELATE_CONSUMER, fresh=True,
                            ack_wait_s=CORRELATE_ACK_WAIT_S, max_ack_pending=4 * CHECKPOINT_PENDING)
                    deliveries = await consumer.fetch(256, 0.5)
                    if deliveries:
                        await asyncio.to_thread(stage.handle, [(d.seq, d.data) for d in deliveries])
                        pending.extend(deliveries)
                    due = time.monotonic() - last_save >= CHECKPOINT_EVERY_S or not deliveries
                    if pending and (due or len(pending) >= CHECKPOINT_PENDING):
                        await asyncio.to_thread(stage.save)
                        await self._each(pending, lambda d: d.ack())
                        pending, last_save = [], time.monotonic()
                except Exception as exc:  # noqa: BLE001 - the store or NATS is down: resume later
                    log.warning("correlation stage: %s: %s; resuming from its checkpoint",
                                type(exc).__name__, str(exc).split("\n", 1)[0][:300])
                    consumer = None
                    await self._pause(1.0)
        finally:
            if pending and consumer is not None:  # a clean stop: the next start resumes here
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(stage.save)
                    await self._each(pending, lambda d: d.ack())

    async def _each(self, deliveries: Sequence[Delivery],
                    action: Callable[[Delivery], Coroutine[Any, Any, None]]) -> None:
        try:
            for delivery in deliveries:
                await action(delivery)
            await self.bus.nc.flush()
        except Exception:  # noqa: BLE001 - unacknowledged messages come back after ack_wait
            log.warning("could not acknowledge %d event messages; they will come again", len(deliveries))

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _call(self, coroutine: Coroutine[Any, Any, T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BusError(f"NATS at {self.options.describe()} did not answer in {timeout:.0f} s") from None

    def _shutdown_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._loop.is_running():
            self._loop.close()


def _too_large(record: RawRecord, limit: int) -> RecordResult:
    return RecordResult(record.tenant, record.key(), record.source, record.kind, record.received,
                        quarantine_reason=f"record of {len(record.payload):,} bytes is too large for "
                        f"the bus (NATS max_payload allows {limit:,} bytes encoded)",
                        payload=record.payload[:QUARANTINE_PAYLOAD_LIMIT])
