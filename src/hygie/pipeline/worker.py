"""A detection worker (``hygie worker``): records from JetStream in, alerts and events out.

The same stage as the embedded service, around a different bus. For each batch, in this order:
fetch, detect, store the alerts (idempotent by key), publish the batch's events to
``HYGIE_EVENTS`` (awaiting each PubAck), and only then acknowledge the records. A worker killed
anywhere before the acknowledgement leaves its batch unacknowledged, so JetStream delivers it
again after ``ack_wait``; the alert store ignores what it already has, and the event store
drops repeated records by key when it reads. Nothing accepted is lost, nothing is stored twice.

While a long batch runs (a slow database), the worker tells JetStream it is still working
(``in_progress``) so that the batch is not handed to another worker meanwhile.

A worker keeps no correlation window: the work queue spreads a tenant's events over all
workers, so none sees a whole group. It publishes the base-rule matches that feed correlation
rules to ``HYGIE_CORRELATE`` (before acknowledging the batch), and the one correlation stage,
in ``hygie serve``, keeps the windows (see ``pipeline.correlation``).

Every ``heartbeat_s`` the worker writes its cumulative counters to the ``HYGIE_WORKERS``
key-value bucket under its name; ``hygie serve`` exports them in ``/metrics``. A last
heartbeat with ``stopped`` is written when the worker stops cleanly.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson

from hygie.bus.nats import DETECT_CONSUMER, RECORDS_STREAM, Consumer, Delivery, JetStreamBus
from hygie.core.record import RawRecord
from hygie.detect.engine import Engine
from hygie.intel.matcher import IntelMatcher
from hygie.pipeline.correlation import FeedItem, FeedRecorder
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.drain import tune_interpreter
from hygie.pipeline.events import stored_events
from hygie.store.events import StoredEvent
from hygie.store.state.store import RecordResult, StateStore

log = logging.getLogger("hygie.worker")
EventItem = tuple[str, str, bytes]  # (tenant, record key, event as JSON) for HYGIE_EVENTS


@dataclass(slots=True)
class WorkerConfig:
    batch: int = 500  # records fetched at once
    fetch_timeout_s: float = 1.0  # how long an idle worker waits for records (and for a stop)
    retry_delay_s: float = 5.0  # a failed batch comes back after this long
    heartbeat_s: float = 5.0  # how often the counters go to HYGIE_WORKERS (serve's /metrics)
    name: str = ""  # the worker's name in /metrics (default: host-pid)


class Worker:
    """One detection loop on the shared ``detect`` consumer; run several (processes or
    machines) for more throughput. Counters: ``records``, ``batches``, ``failures``,
    ``alerts`` (by tenant and level, before grouping), ``feeds`` (to correlation), and the
    stage's ``events``, ``quarantined``, ``redelivered``. The stage is switched to forwarding
    correlation feeds (a worker keeps no window)."""

    def __init__(self, bus: JetStreamBus, stage: DetectionStage, state: StateStore,
                 config: WorkerConfig | None = None,
                 engine_factory: Callable[[], Engine] | None = None) -> None:
        """``engine_factory`` loads the rules afresh (SIGHUP); without it, no reload."""
        self.bus = bus
        self.engine_factory = engine_factory
        self._next_engine: Engine | None = None
        self._reloading = threading.Lock()
        self.stage = stage
        if stage.forwarder is None:
            stage.forwarder = FeedRecorder(stage.engine)
            stage.correlators.clear()
        if stage.intel is None:  # indicators from the shared state store, as serve matches them
            stage.intel = IntelMatcher.from_database(state.engine)
        self.state = state
        self.config = config or WorkerConfig()
        self.name = self.config.name or f"{socket.gethostname()}-{os.getpid()}"
        self.started = time.time()
        self.records = 0
        self.batches = 0
        self.failures = 0
        self.feeds = 0
        self.alerts: dict[tuple[str, str], int] = {}
        self._consumer: Consumer | None = None
        self._tenants: set[str] = set()  # known to the state store

    async def run(self, stop: asyncio.Event) -> None:
        """Process batches until ``stop`` is set; the batch in hand is finished first."""
        tune_interpreter()
        heartbeat = asyncio.create_task(self._heartbeats(stop))
        try:
            while not stop.is_set():
                try:
                    await self.process_once()
                except Exception as exc:  # the database or the bus is down: the batch comes back later
                    self.failures += 1
                    first_line = str(exc).split("\n", 1)[0][:300]  # not the SQL and its event values
                    log.error("batch failed; its records will be delivered again: %s: %s",
                              type(exc).__name__, first_line)
                    log.debug("batch failure", exc_info=True)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)
            await self.send_heartbeat(stopped=True)

    def heartbeat(self, stopped: bool = False) -> dict[str, object]:
        """The worker's cumulative counters, as ``HYGIE_WORKERS`` keeps them."""
        engine = self.stage.engine
        return {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(),
                "started": self.started, "time": time.time(), "every": self.config.heartbeat_s,
                "stopped": stopped, "records": self.records, "batches": self.batches,
                "failures": self.failures, "events": self.stage.events,
                "quarantined": self.stage.quarantined, "redelivered": self.stage.redelivered,
                "feeds": self.feeds, "alerts": [[t, lv, n] for (t, lv), n in sorted(self.alerts.items())],
                "rules": len(engine.rules) + len(engine.correlations),
                "rule_errors": len(engine.load_errors)}

    async def send_heartbeat(self, stopped: bool = False) -> bool:
        """Write the counters to ``HYGIE_WORKERS``; False (logged at debug) if NATS is away."""
        try:
            await asyncio.wait_for(self.bus.put_heartbeat(self.name, orjson.dumps(self.heartbeat(stopped))), 5)
        except Exception:  # noqa: BLE001 - metrics must never stop detection
            log.debug("heartbeat not written", exc_info=True)
            return False
        return True

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.send_heartbeat()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.heartbeat_s)

    def request_reload(self) -> bool:
        """Load the rules again in a background thread; the worker switches to them between
        two batches, and keeps its rules if loading fails. Safe from a signal handler."""
        if self.engine_factory is None or not self._reloading.acquire(blocking=False):
            return False
        threading.Thread(target=self._reload, name="hygie-reload", daemon=True).start()
        return True

    def _reload(self) -> None:
        try:
            assert self.engine_factory is not None
            engine = self.engine_factory()
            engine.warm_up()
        except Exception:  # a broken rules folder must not stop detection
            log.exception("rules reload failed; the worker keeps the rules it has")
            self._reloading.release()
            return
        self._next_engine = engine

    async def process_once(self) -> int:
        """Fetch and process one batch; returns how many messages it held (0: none came)."""
        if self._next_engine is not None:  # between batches: the stage is not in use
            engine, self._next_engine = self._next_engine, None
            self.stage.use_engine(engine)
            log.warning("rules reloaded: %d rules, %d load errors",
                        len(engine.rules) + len(engine.correlations), len(engine.load_errors))
            self._reloading.release()
        if self._consumer is None:
            self._consumer = await self.bus.consumer(RECORDS_STREAM, DETECT_CONSUMER)
        deliveries = await self._consumer.fetch(self.config.batch, self.config.fetch_timeout_s)
        if not deliveries:
            return 0
        records = []
        for delivery in deliveries:
            try:
                records.append(RawRecord.from_bytes(delivery.data))
            except (ValueError, KeyError, TypeError):  # not written by a Hygie collector
                log.error("unreadable message of %d bytes on %s is dropped (contents not logged: they "
                          "may hold patient data)", len(delivery.data), RECORDS_STREAM)
        keep_alive = asyncio.create_task(self._keep_alive(deliveries))
        try:
            results, events, feeds = await asyncio.to_thread(self._detect_and_store, records)
            await self.bus.publish_events(events)
            if feeds:  # before the ack: a batch acknowledged has fed correlation
                await self.bus.publish_correlation_feeds(feeds)
        except BaseException:
            keep_alive.cancel()
            self.stage.forget_windows({record.tenant for record in records})
            await self._give_back(deliveries)
            raise
        keep_alive.cancel()
        self.stage.mark_stored(results)
        for delivery in deliveries:
            await delivery.ack()
        await self.bus.nc.flush()
        self.records += len(deliveries)
        self.batches += 1
        self.feeds += len(feeds)
        for result in results:
            for alert in result.alerts:
                self.alerts[(result.tenant, alert.level)] = self.alerts.get((result.tenant, alert.level), 0) + 1
        return len(deliveries)

    def _detect_and_store(self, records: list[RawRecord]
                          ) -> tuple[list[RecordResult], list[EventItem], list[FeedItem]]:
        """Detection and the alert commit, off the event loop (which keeps the batch alive)."""
        for tenant in {record.tenant for record in records} - self._tenants:
            self.state.ensure_tenant(tenant)  # a collector authenticated it; serve may not have
            self._tenants.add(tenant)
        results = self.stage.process(records)
        feeds = self.stage.take_feeds()
        self.state.store_results(results)
        return (results, [(e.tenant, e.record_key, encode_event(e)) for e in stored_events(results)],
                feeds)

    async def _keep_alive(self, deliveries: Sequence[Delivery]) -> None:
        """Every third of ack_wait, restart the clock of each message of the batch in hand."""
        period = max(0.5, self.bus.limits.ack_wait_s / 3)
        while True:
            await asyncio.sleep(period)
            for delivery in deliveries:
                await delivery.in_progress()

    async def _give_back(self, deliveries: Sequence[Delivery]) -> None:
        """Ask for a redelivery after ``retry_delay_s``; if even that fails, ack_wait will."""
        try:
            for delivery in deliveries:
                await delivery.nak(self.config.retry_delay_s)
            await asyncio.wait_for(self.bus.nc.flush(), 5)
        except Exception:  # noqa: BLE001 - the connection is gone; ack_wait brings them back
            log.warning("could not hand the batch back; it returns after ack_wait")


def encode_event(event: StoredEvent) -> bytes:
    """A ``StoredEvent`` as one JSON document (the raw payload in base64 unless UTF-8)."""
    try:
        raw, encoding = event.raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        raw, encoding = base64.b64encode(event.raw).decode("ascii"), "base64"
    return orjson.dumps({"t": event.tenant, "k": event.record_key, "r": event.received,
                         "ti": event.time, "h": event.host, "s": event.source, "kd": event.kind,
                         "f": event.fields, "p": raw, "e": encoding},
                        default=str, option=orjson.OPT_NON_STR_KEYS)


def decode_event(data: bytes) -> StoredEvent:
    doc = orjson.loads(data)
    raw = base64.b64decode(doc["p"]) if doc.get("e") == "base64" else doc["p"].encode("utf-8")
    return StoredEvent(tenant=doc["t"], record_key=doc["k"], received=float(doc["r"]),
                       time=doc.get("ti"), host=doc.get("h"), source=doc["s"], kind=doc["kd"],
                       fields=doc.get("f") or {}, raw=raw)


async def run_until_signalled(worker: Worker) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then finish the batch in hand and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGHUP, worker.request_reload)
    started = time.monotonic()
    reporter = asyncio.create_task(_report(worker, stop))
    try:
        await worker.run(stop)
    finally:
        reporter.cancel()
        log.info("worker stopping: %d records in %d batches over %.0f s", worker.records,
                 worker.batches, time.monotonic() - started)


async def _report(worker: Worker, stop: asyncio.Event, every_s: float = 60.0) -> None:
    """A line per minute with the worker's progress and the backlog (how far behind it is)."""
    while not stop.is_set():
        await asyncio.sleep(every_s)
        try:
            backlog = await worker.bus.backlog()
        except Exception:  # noqa: BLE001 - a report line is not worth a failure
            backlog = -1
        log.info("worker: %d records, %d batches, %d failed; backlog %d", worker.records,
                 worker.batches, worker.failures, backlog)
