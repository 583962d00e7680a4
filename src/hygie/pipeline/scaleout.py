"""``hygie serve --bus nats://…``: the service's side of the scale-out mode.

Collectors publish to JetStream instead of the local spool, and ``hygie worker`` processes
detect. This process keeps the event store: it consumes ``HYGIE_EVENTS`` and appends each
batch before acknowledging it.

The NATS client runs on a thread and event loop of its own. Collectors call ``put`` from worker
threads (the HTTP app and the intake use ``asyncio.to_thread``), and a blocking call must not
need the loop that is waiting on it; here it never does.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from hygie.bus.nats import (EVENTS_CONSUMER, EVENTS_STREAM, BusError, BusFull, Delivery, JetStreamBus,
                            NatsOptions, StreamLimits, decode_events)
from hygie.bus.spool import Spool
from hygie.core.record import RawRecord
from hygie.pipeline.detection import QUARANTINE_PAYLOAD_LIMIT
from hygie.pipeline.worker import decode_event
from hygie.store.events import StoredEvent
from hygie.store.state.store import RecordResult

log = logging.getLogger("hygie.serve.nats")
T = TypeVar("T")
PUBLISH_TIMEOUT_S = 60.0
DEPTH_EVERY_S = 0.5  # how often the backlog (lag metric, soft limit) is measured


class NatsBridge:
    """The JetStream side of ``hygie serve``. ``on_events`` stores a batch of events (called on
    a worker thread; raising makes the batch come back later). ``depth`` is the records
    backlog, refreshed every ``DEPTH_EVERY_S``."""

    def __init__(self, options: NatsOptions, on_events: Callable[[list[StoredEvent]], None],
                 limits: StreamLimits | None = None) -> None:
        self.options = options
        self.on_events = on_events
        self.depth = 0
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
        self._tasks = [asyncio.run_coroutine_threadsafe(self._consume_events(), self._loop),
                       asyncio.run_coroutine_threadsafe(self._measure_depth(), self._loop)]

    def put(self, records: list[RawRecord]) -> list[RecordResult]:
        """Store ``records`` in JetStream (blocking, from any thread but the bridge's).

        A record too large for a NATS message is not published: it comes back as a quarantine
        result for the caller to store (detection would quarantine it anyway, being over 1 MiB
        or nearly). Raises ``BusFull`` when the backlog would pass the stream's limit: checked
        before publishing, so a refused request is refused whole, except when two race for the
        last places (the stream's own limit then refuses the rest; a retry stores only those)."""
        if self.depth + len(records) > self.limits.max_msgs:
            raise BusFull(f"{self.depth:,} records wait for detection (limit {self.limits.max_msgs:,})")
        limit = self.bus.max_message_bytes
        fits, too_large = [], []
        for record in records:  # JSON escaping makes the wire form at most ~6 times the payload
            big = len(record.payload) * 6 + 1024 > limit and len(record.to_bytes()) > limit
            (too_large if big else fits).append(record)
        if fits:
            self._call(self.bus.publish_records(fits), PUBLISH_TIMEOUT_S)
            self.depth += len(fits)
        return [_too_large(record, limit) for record in too_large]

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
            await self._pause(DEPTH_EVERY_S)

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
