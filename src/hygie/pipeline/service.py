"""The embedded service (``hygie serve``): collectors, spool, detection and stores in one process.

Collectors run on one asyncio loop and only spool what they receive; detection runs in its own
thread, claiming batches from the spool, and a store thread stores each detected batch and
then acknowledges it.
A crash anywhere loses nothing that a collector accepted: on restart the spool still holds
every record whose results were not stored, and the store ignores results it already has.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvicorn
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from hygie.bus.nats import BusError, BusFull, NatsOptions, RecordTooLarge, StreamLimits
from hygie.bus.spool import Spool, SpoolFull
from hygie.core.record import SYSLOG, RawRecord
from hygie.detect.engine import Engine
from hygie.intel.matcher import IntelMatcher
from hygie.intel.observed import ObservedAssetsJob
from hygie.intel.scheduler import run_feed_schedule
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.collectors import CollectorSpecError, Folders, SyslogSpec, TlsFiles, WatchSpec, start_syslog
from hygie.pipeline.correlation import CorrelationStage
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.drain import Drain, name_os_thread, tune_interpreter
from hygie.pipeline.hunts import run_due_hunts
from hygie.pipeline.intake import Intake
from hygie.pipeline.metrics import CONTENT_TYPE, ListenerView, PipelineCounters, ServiceMetrics, ServiceView
from hygie.pipeline.scaleout import NatsBridge
from hygie.sources.http_ingest import MAX_BODY, Overloaded, ingest_app
from hygie.sources.syslog.listeners import SyslogListener
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import RecordResult, StateStore

log = logging.getLogger("hygie.serve")


HUNT_CHECK_S = 30.0  # how often scheduled hunts are looked at (their period is in minutes)
BACKGROUND_NICE = 10  # the maintenance thread's nice value (detection and collectors keep 0)


@dataclass(slots=True)
class ServiceConfig:
    data_dir: Path
    database: str | None = None  # SQLAlchemy DSN; default: SQLite in data_dir
    http_host: str = "127.0.0.1"
    http_port: int = 8514  # 0 picks a free port
    batch: int = 5000  # records per detection batch at most (fewer when fewer wait)
    lease_s: float = 120.0
    max_spool: int = 1_000_000  # records waiting for detection (spool or JetStream) at most
    max_body: int = MAX_BODY  # bytes of one HTTP ingest request
    tenants: Sequence[str] = field(default_factory=lambda: ["demo"])
    syslog: Sequence[SyslogSpec] = ()
    tls: TlsFiles | None = None
    watch: Sequence[WatchSpec] = ()
    metrics_token: str | None = None  # when set, GET /metrics needs 'Authorization: Bearer' it
    retention_days: int = 90  # event store: days kept
    max_event_bytes: int | None = None  # event store: oldest days go beyond this size
    maintenance_s: float = 60.0  # event store compaction and retention, this often
    bus: NatsOptions | None = None  # NATS JetStream: collectors publish, 'hygie worker's detect
    console_host: str = "127.0.0.1"
    console_port: int | None = None  # the console's own HTTP port (None: no console; 0: any)


class Service:
    def __init__(self, config: ServiceConfig, engine: Engine,
                 engine_factory: Callable[[], Engine] | None = None,
                 console_factory: Callable[[Service], Any] | None = None) -> None:
        """``engine_factory`` loads the rules afresh; without it, rules cannot be reloaded.
        ``console_factory`` builds the console's ASGI app (a face: the pipeline does not
        import it), served on ``config.console_port``."""
        self.config = config
        self.console_factory = console_factory
        self.console_port: int | None = None
        self.periodic: list[Callable[[], Any]] = []  # run every HUNT_CHECK_S on the upkeep thread
        self.engine = engine
        self.engine_factory = engine_factory
        self._next_engine: Engine | None = None
        self._reloading = threading.Lock()
        self.state = StateStore(open_database(config.database or sqlite_dsn(config.data_dir / "state.db")))
        for tenant in config.tenants:
            self.state.ensure_tenant(tenant)
        self.spool = Spool(config.data_dir / "spool.db", max_depth=config.max_spool)
        returned = self.spool.release_claims()
        if returned:
            log.warning("%d records claimed by a previous run come back for detection", returned)
        self.stage = DetectionStage(engine, PatientPolicy(_patient_salt(config.data_dir)),
                                    intel=IntelMatcher.from_database(self.state.engine))
        self.events = EventStore(config.data_dir / "events", config.retention_days,
                                 config.max_event_bytes)
        # hosts the events came from become assets (intel.observed; every few minutes, bounded)
        self.periodic.append(ObservedAssetsJob(self.state.engine, self.events).run_due)
        self._next_maintenance = time.monotonic() + config.maintenance_s
        self.nats: NatsBridge | None = None
        if config.bus is not None:  # scale-out: no detection here, this process keeps the events
            correlation = CorrelationStage(lambda: self.stage.engine, self.state.store_results,
                                           config.data_dir / "correlation-state.json")
            self.nats = NatsBridge(config.bus, self._store_bus_events,
                                   StreamLimits(max_msgs=config.max_spool), correlation)
            moved = self.nats.forward_spool(self.spool, self.state.store_results)
            if moved:
                log.warning("%d records left in the local spool were moved to JetStream", moved)
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._detector = threading.Thread(target=self._detect_loop, name="hygie-detect", daemon=True)
        self._maintainer = threading.Thread(target=self._maintenance_loop, name="hygie-maintain",
                                            daemon=True)
        self._server: uvicorn.Server | None = None
        self._console: uvicorn.Server | None = None
        self.http_port = config.http_port
        self.listeners: list[SyslogListener] = []
        self.intake: Intake | None = None
        self.folders: Folders | None = None
        self._rejected: collections.deque[RecordResult] = collections.deque()
        self._rejected_ready = asyncio.Event()
        self._rejected_task: asyncio.Task[None] | None = None
        self.rejects_dropped = 0
        self._reject_seq = 0
        self.counters = PipelineCounters()
        self.drain = Drain(self.spool, self.stage, self.events, self.state, self.counters,
                           config.batch, config.lease_s, self._switch_engine)
        self.metrics = ServiceMetrics(self.counters, self._metrics_view)

    # -- collectors -> spool -------------------------------------------------------------------
    def accept(self, records: list[RawRecord]) -> None:
        """Spool records durably (called by collectors); refuse when the spool is full."""
        try:
            if self.nats is not None:
                too_large = self.nats.put(records)
                if too_large:  # kept for the analyst, as detection would have quarantined them
                    self.state.store_results(too_large)
            else:
                self.spool.put([record.to_bytes() for record in records])
        except (SpoolFull, BusFull) as exc:
            raise Overloaded(f"detection is behind: {exc}") from exc
        except RecordTooLarge:
            raise
        except BusError as exc:  # NATS unreachable: the sender keeps its records and retries
            raise Overloaded(f"the bus is unavailable: {exc}") from exc
        self.counters.records_accepted(records)

    # -- spool -> detection -> store -----------------------------------------------------------
    def drain_once(self) -> int:
        """Process one batch, stored before it returns; returns how many records it held (0:
        spool empty)."""
        return self.drain.drain_once()

    def _detect_loop(self) -> None:
        self.drain.run(self._stop, self._paused)

    def _maintenance_loop(self) -> None:
        """Event store upkeep on its own thread: merging a busy day's files takes seconds,
        which detection must not wait for (alert latency). Appends may run meanwhile: a
        merge only touches the files it listed, and new files get new names."""
        name_os_thread("hygie-maintain")
        _yield_cpu_to_detection()
        next_hunts = time.monotonic() + HUNT_CHECK_S
        while not self._stop.wait(max(0.05, min(self._next_maintenance, next_hunts) - time.monotonic())):
            if time.monotonic() >= self._next_maintenance:
                self.maintain_events()
            if time.monotonic() >= next_hunts:
                next_hunts = time.monotonic() + HUNT_CHECK_S
                self.run_periodic()

    def run_periodic(self) -> int:
        """Scheduled hunts (saved searches with a period) whose time has come, then the other
        periodic jobs the faces registered (``periodic``: playbook triggers, say)."""
        raised = 0
        try:
            raised = run_due_hunts(self.state, self.events)
        except Exception:  # the state database away, say: the next check retries
            log.exception("scheduled hunts failed")
        for job in list(self.periodic):
            try:
                job()
            except Exception:
                log.exception("periodic job %s failed", getattr(job, "__qualname__", job))
        return raised

    def maintain_events(self) -> None:
        """Compact the event store and apply its retention."""
        self._next_maintenance = time.monotonic() + self.config.maintenance_s
        try:
            compacted = self.events.compact()
            if compacted.partitions:
                log.info("event store: %d files merged in %d partitions, %d duplicates dropped",
                         compacted.files_merged, compacted.partitions, compacted.duplicates_dropped)
            report = self.events.enforce_retention()
            if report.removed:
                log.warning("event store %s", report)
            if report.over_limit:
                log.warning("event store: %d bytes today alone exceed max_event_bytes",
                            report.remaining_bytes)
        except Exception:  # a full disk, say: detection goes on, maintenance retries later
            log.exception("event store maintenance failed")

    def _store_bus_events(self, events: list[StoredEvent]) -> None:
        """NATS mode: the workers' events, from the bridge's one consumer thread; maintenance
        runs on its own thread, as in embedded mode."""
        if events:
            self.events.append(events)

    @property
    def backlog(self) -> int:
        """Records accepted and not yet through detection (the lag metric)."""
        return self.nats.depth if self.nats is not None else self.spool.depth

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self, started: asyncio.Event | None = None) -> None:
        """Serve until ``stop()``; ``started`` is set once the listeners are bound."""
        tune_interpreter()
        metrics = APIRoute("/metrics", self._metrics_endpoint, methods=["GET"])
        app = ingest_app(self.state.tenant_for_token, self.accept, self.config.max_body, [metrics])
        config = uvicorn.Config(app, host=self.config.http_host, port=self.config.http_port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        if self.nats is None:  # in NATS mode, 'hygie worker' processes detect
            self._detector.start()
        self._maintainer.start()
        threading.Thread(target=run_feed_schedule, args=(self.state.engine, self._stop),
                         kwargs={"key_dir": self.config.data_dir},  # feeds' encrypted credentials
                         name="hygie-intel-feeds", daemon=True).start()
        sockets = [self._bind(self.config.http_host, self.config.http_port)]
        console: uvicorn.Server | None = None
        if self.console_factory is not None and self.config.console_port is not None:
            try:
                sockets.append(self._bind(self.config.console_host, self.config.console_port))
            except CollectorSpecError:
                sockets[0].close()
                raise
            console = uvicorn.Server(uvicorn.Config(self.console_factory(self), log_level="warning",
                                                    lifespan="off", proxy_headers=False))
            self._console = console
        serve = asyncio.create_task(self._server.serve(sockets=[sockets[0]]))
        serving = [serve]
        if console is not None:
            serving.append(asyncio.create_task(console.serve(sockets=[sockets[1]])))
        for _ in range(200):  # bounded: 10 s for the sockets to bind
            if all(s.started for s in self._servers()) or any(t.done() for t in serving):
                break
            await asyncio.sleep(0.05)
        for task in serving:
            if task.done():
                task.result()
        if self._server.servers:
            self.http_port = self._server.servers[0].sockets[0].getsockname()[1]
        if console is not None and console.servers:
            self.console_port = console.servers[0].sockets[0].getsockname()[1]
        try:
            await self._start_collectors()
            if started is not None:
                started.set()
            await serve
        finally:
            await self._stop_collectors()
            for server in self._servers():
                server.should_exit = True
            await asyncio.gather(*serving, return_exceptions=True)
            self._stop.set()
            if self._detector.is_alive():
                self._detector.join(timeout=90)  # it waits for its store thread
            self._maintainer.join(timeout=60)

    def _servers(self) -> list[uvicorn.Server]:
        return [s for s in (self._server, self._console) if s is not None]

    @staticmethod
    def _bind(host: str, port: int) -> socket.socket:
        """An HTTP socket, bound here so that a port in use is a clear start-up error (uvicorn
        would exit the process)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(2048)
        except OSError as exc:
            sock.close()
            raise CollectorSpecError(f"cannot listen on http://{host}:{port}: "
                                     f"{exc.strerror or exc}") from None
        return sock

    async def _start_collectors(self) -> None:
        """Syslog listeners share one group-committing intake (see ``pipeline.intake``)."""
        self.intake = Intake(self.accept)
        self.intake.start()
        self._rejected_ready = asyncio.Event()  # of this event loop
        self._rejected_task = asyncio.create_task(self._store_rejected(), name="hygie-rejected")
        for tenant in {spec.tenant for spec in self.config.syslog}:
            await asyncio.to_thread(self.state.ensure_tenant, tenant)
        self.listeners = await start_syslog(list(self.config.syslog),
                                            self.intake.submit_patiently,
                                            self._quarantine_rejected, self.config.tls)
        for tenant in {spec.tenant for spec in self.config.watch}:
            await asyncio.to_thread(self.state.ensure_tenant, tenant)
        self.folders = Folders(list(self.config.watch), self.accept,
                               self.config.data_dir / "folders")

    async def _stop_collectors(self) -> None:
        await asyncio.gather(*(listener.stop() for listener in self.listeners))
        if self.folders is not None:
            await self.folders.stop()
        if self.intake is not None:
            await self.intake.stop()
        if self._rejected_task is not None:
            for _ in range(100):  # bounded: 10 s to quarantine what is queued
                if not self._rejected:
                    break
                await asyncio.sleep(0.1)
            self._rejected_task.cancel()
            await asyncio.gather(self._rejected_task, return_exceptions=True)

    def _metrics_view(self) -> ServiceView:
        oldest = self.spool.oldest()
        age = float("nan") if self.nats is not None else None  # NATS: the stream knows, not us
        if oldest is not None:
            try:
                age = max(0.0, time.time() - RawRecord.from_bytes(oldest).received)
            except (ValueError, KeyError, TypeError):
                age = None
        return ServiceView(
            bus_depth=self.backlog, bus_oldest_age_s=age, events=self.stage.events,
            quarantined=self.stage.quarantined, redelivered=self.stage.redelivered,
            rules=len(self.stage.engine.rules) + len(self.stage.engine.correlations),
            rule_errors=len(self.stage.engine.load_errors),
            collectors_waiting=self.intake.waiting if self.intake else 0,
            listeners=[ListenerView(x.tenant, x.received, x.rejected, x.dropped, x.connections)
                       for x in self.listeners],
            rejects_not_quarantined=self.rejects_dropped,
            bus=self.nats.metrics_view() if self.nats is not None else None)

    async def _metrics_endpoint(self, request: Request) -> Response:
        """Prometheus exposition; behind a bearer token when ``metrics_token`` is set (the
        metrics name tenants, which a regional SOC may not want on an open port)."""
        expected = self.config.metrics_token
        if expected:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(
                    given.strip().encode("utf-8", "replace"), expected.encode("utf-8")):
                return JSONResponse({"error": "metrics need 'Authorization: Bearer <token>'"},
                                    status_code=401)
        body = await asyncio.to_thread(self.metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE)

    def _quarantine_rejected(self, source: str, peer: str, reason: str, prefix: bytes) -> None:
        """A message a collector could not frame (oversize, bad octet count) is quarantined
        with its reason, like a record the parsers refuse; only its first bytes are kept."""
        tenant = next((x.tenant for x in self.listeners if x.source == source), None)
        if tenant is None:
            return
        self._reject_seq += 1  # identical bad frames of one read stay distinct rejections
        record = RawRecord(tenant, source, SYSLOG, prefix, time.time(), peer, self._reject_seq)
        result = RecordResult(tenant, record.key(), source, SYSLOG, record.received,
                              quarantine_reason=f"rejected by the collector: {reason}",
                              payload=prefix)
        if len(self._rejected) >= REJECTED_QUEUE:  # a flood: count, do not let memory grow
            self.rejects_dropped += 1
            if self.rejects_dropped == 1 or self.rejects_dropped % 10_000 == 0:
                log.warning("%d rejected messages not quarantined (queue full)", self.rejects_dropped)
            return
        self._rejected.append(result)
        self._rejected_ready.set()

    async def _store_rejected(self) -> None:
        """The one task that quarantines what collectors rejected, in batches: a flood of bad
        frames on one port costs one transaction per batch, not one per frame."""
        while True:
            await self._rejected_ready.wait()
            self._rejected_ready.clear()
            while self._rejected:
                batch = [self._rejected.popleft() for _ in range(min(1000, len(self._rejected)))]
                try:
                    await asyncio.to_thread(self.state.store_results, batch)
                except Exception:  # the store is down: these rejections are only counted
                    self.rejects_dropped += len(batch)
                    log.exception("could not quarantine %d rejected messages", len(batch))

    # -- rules reload (SIGHUP, 'hygie rules reload') ---------------------------------------------
    def request_reload(self) -> bool:
        """Load the rules again in the background; detection switches to them between two
        batches and keeps the old rules if loading fails. False when a reload is running or
        no ``engine_factory`` was given. Safe to call from a signal handler."""
        if self.engine_factory is None or not self._reloading.acquire(blocking=False):
            return False
        threading.Thread(target=self._reload, name="hygie-reload", daemon=True).start()
        return True

    def _reload(self) -> None:
        started = time.monotonic()
        try:
            assert self.engine_factory is not None
            engine = self.engine_factory()
            engine.warm_up()
        except Exception as exc:  # a broken rules folder must not stop detection
            log.exception("rules reload failed; detection keeps the rules it has")
            try:
                _write_status(self.config.data_dir, {"ok": False,
                                                     "error": f"{type(exc).__name__}: {exc}"})
            finally:
                self._reloading.release()
            return
        self._reload_seconds = time.monotonic() - started
        self._next_engine = engine  # the detect thread switches before its next batch
        if not self._detector.is_alive():
            self._switch_engine()

    def _switch_engine(self) -> None:
        engine, self._next_engine = self._next_engine, None
        if engine is None:
            return
        self.engine = engine
        self.stage.use_engine(engine)
        rules = len(engine.rules) + len(engine.correlations)
        log.warning("rules reloaded: %d rules, %d load errors, in %.1f s (correlation windows "
                    "restart)", rules, len(engine.load_errors), self._reload_seconds)
        try:
            _write_status(self.config.data_dir, {
                "ok": True, "rules": rules, "seconds": round(self._reload_seconds, 2),
                "errors": [str(error) for error in engine.load_errors[:50]],
                "error_count": len(engine.load_errors)})
        except OSError:
            log.exception("could not write %s", RELOAD_STATUS)
        finally:
            self._reloading.release()

    def pause_detection(self) -> None:
        """Hold detection (records keep being spooled): for maintenance and backpressure tests."""
        self._paused.set()

    def resume_detection(self) -> None:
        self._paused.clear()

    def stop(self) -> None:
        for server in self._servers():
            server.should_exit = True
        self._stop.set()

    def close(self) -> None:
        if self.nats is not None:
            self.nats.close()
        self.spool.close()
        self.events.close()
        self.state.engine.dispose()


REJECTED_QUEUE = 10_000  # collector rejections waiting to be quarantined
RELOAD_STATUS = "rules-reload.json"  # in the data dir: what the last reload did


def _write_status(data_dir: Path, status: dict[str, object]) -> None:
    status["time"] = time.time()
    temporary = data_dir / (RELOAD_STATUS + ".tmp")
    temporary.write_bytes(orjson.dumps(status))
    temporary.replace(data_dir / RELOAD_STATUS)


def _patient_salt(data_dir: Path) -> bytes:
    """This install's secret salt for patient identifiers (created once, readable by its owner
    only): the same patient gets the same pseudonym here, and a different one anywhere else."""
    path = data_dir / "patient.salt"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


def _yield_cpu_to_detection() -> None:
    """Lower the calling thread's CPU priority (Linux: a thread has a nice value of its own):
    merges, retention and periodic jobs then run on what detection and the collectors leave,
    which keeps alert latency flat while a busy day's files are merged on two cores."""
    try:
        thread = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, thread) < BACKGROUND_NICE:  # never raise it
            os.setpriority(os.PRIO_PROCESS, thread, BACKGROUND_NICE)
    except (AttributeError, OSError):  # another OS, or a sandbox that refuses: same work, same order
        log.debug("cannot lower the maintenance thread's priority")
