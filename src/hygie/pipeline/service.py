"""The embedded service (``hygie serve``): collectors, spool, detection and stores in one process.

Collectors run on one asyncio loop and only spool what they receive; detection runs in its own
thread, claiming batches from the spool and acknowledging them once their results are stored.
A crash anywhere loses nothing that a collector accepted: on restart the spool still holds
every record whose results were not stored, and the store ignores results it already has.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from hygie.bus.spool import Spool, SpoolFull
from hygie.core.record import RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.sources.http_ingest import MAX_BODY, Overloaded, ingest_app
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import StateStore

log = logging.getLogger("hygie.serve")


@dataclass(slots=True)
class ServiceConfig:
    data_dir: Path
    database: str | None = None  # SQLAlchemy DSN; default: SQLite in data_dir
    http_host: str = "127.0.0.1"
    http_port: int = 8514  # 0 picks a free port
    batch: int = 500
    lease_s: float = 120.0
    max_spool: int = 1_000_000
    max_body: int = MAX_BODY  # bytes of one HTTP ingest request
    tenants: Sequence[str] = field(default_factory=lambda: ["demo"])


class Service:
    def __init__(self, config: ServiceConfig, engine: Engine) -> None:
        self.config = config
        self.engine = engine
        self.state = StateStore(open_database(config.database or sqlite_dsn(config.data_dir / "state.db")))
        for tenant in config.tenants:
            self.state.ensure_tenant(tenant)
        self.spool = Spool(config.data_dir / "spool.db", max_depth=config.max_spool)
        returned = self.spool.release_claims()
        if returned:
            log.warning("%d records claimed by a previous run come back for detection", returned)
        self.stage = DetectionStage(engine, PatientPolicy(_patient_salt(config.data_dir)))
        self._stop = threading.Event()
        self._detector = threading.Thread(target=self._detect_loop, name="hygie-detect", daemon=True)
        self._server: uvicorn.Server | None = None
        self.http_port = config.http_port

    # -- collectors -> spool -------------------------------------------------------------------
    def accept(self, records: list[RawRecord]) -> None:
        """Spool records durably (called by collectors); refuse when the spool is full."""
        try:
            self.spool.put([record.to_bytes() for record in records])
        except SpoolFull as exc:
            raise Overloaded(f"detection is behind: {exc}") from exc

    # -- spool -> detection -> store -----------------------------------------------------------
    def drain_once(self) -> int:
        """Process one batch; returns how many records it held (0: spool empty)."""
        batch = self.spool.claim(self.config.batch, self.config.lease_s)
        if not batch:
            return 0
        records, ids = [], []
        for spool_id, data in batch:
            ids.append(spool_id)
            try:
                records.append(RawRecord.from_bytes(data))
            except (ValueError, KeyError, TypeError):  # written by us: only disk damage does this
                log.error("spool entry %d is unreadable and is dropped", spool_id)
        results = self.stage.process(records)
        self.state.store_results(results)
        self.stage.mark_stored(results)
        self.spool.ack(ids)
        return len(batch)

    def _detect_loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self.drain_once() == 0:
                    self._stop.wait(0.05)
            except Exception:  # the store is down, say: retry the batch after its lease
                log.exception("detection batch failed; its records stay in the spool")
                self._stop.wait(1.0)

    # -- lifecycle -----------------------------------------------------------------------------
    async def run(self, started: asyncio.Event | None = None) -> None:
        """Serve until ``stop()``; ``started`` is set once the listeners are bound."""
        app = ingest_app(self.state.tenant_for_token, self.accept, self.config.max_body)
        config = uvicorn.Config(app, host=self.config.http_host, port=self.config.http_port,
                                log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._detector.start()
        serve = asyncio.create_task(self._server.serve())
        for _ in range(200):  # bounded: 10 s for the socket to bind
            if self._server.started or serve.done():
                break
            await asyncio.sleep(0.05)
        if serve.done():
            serve.result()  # raises the bind error
        if self._server.servers:
            self.http_port = self._server.servers[0].sockets[0].getsockname()[1]
        if started is not None:
            started.set()
        try:
            await serve
        finally:
            self._stop.set()
            self._detector.join(timeout=30)

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        self._stop.set()

    def close(self) -> None:
        self.spool.close()
        self.state.engine.dispose()


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
