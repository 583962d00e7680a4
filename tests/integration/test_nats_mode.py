"""Scale-out mode for real: ``hygie serve`` publishing to a nats-server started here, detection
workers (threads, and ``hygie worker`` processes, one killed with SIGKILL mid-batch), on SQLite
and PostgreSQL. Every accepted record is stored once; the alerts are those of the embedded
service (by key where the records are the same), correlations included: the workers forward
their base-rule matches to serve's one correlation stage."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.bus.nats import JetStreamBus, NatsOptions, StreamLimits
from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.service import Service, ServiceConfig
from hygie.pipeline.worker import Worker, WorkerConfig
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.models import AlertKey, AlertRow
from hygie.store.state.store import StateStore
from tests.integration.nats_util import NatsServer
from tests.integration.serve_util import DEMO, demo_lines, start_service, stop_service, wait_until

REPO = Path(__file__).resolve().parents[2]


def _records() -> list[RawRecord]:
    docs, _cut = demo_lines()
    return [RawRecord("chu-a", "http:chu-a", JSON, doc, 1_790_000_000.0 + i) for i, doc in enumerate(docs)]


def _alerts(dsn: str) -> tuple[dict[str, tuple[str, str]], Counter[tuple[str, str]]]:
    """Stored alert keys -> (rule, kind), and per (rule, kind) the sum of the alerts' counts."""
    engine = open_database(dsn)
    with Session(engine) as session:
        joined = select(AlertKey.key, AlertRow.rule_id, AlertRow.kind).join(
            AlertRow, AlertKey.alert_id == AlertRow.id)
        keys = {key: (rule, kind) for key, rule, kind in session.execute(joined)}
        counts: Counter[tuple[str, str]] = Counter()
        for rule, kind, count in session.execute(select(AlertRow.rule_id, AlertRow.kind, AlertRow.count)):
            counts[(rule, kind)] += count
    engine.dispose()
    return keys, counts


def _sigma(counts: Counter[tuple[str, str]]) -> Counter[tuple[str, str]]:
    return Counter({k: v for k, v in counts.items() if k[1] != "correlation"})


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, pack_engine):
    """The reference: the embedded service over the same records."""
    data = tmp_path_factory.mktemp("embedded")
    svc = Service(ServiceConfig(data_dir=data, tenants=["chu-a"]), pack_engine)
    svc.accept(_records())
    while svc.drain_once():
        pass
    svc.close()
    keys, counts = _alerts(sqlite_dsn(data / "state.db"))
    assert keys and any(kind == "correlation" for _, kind in keys.values())
    return keys, counts


@pytest.fixture()
def nats_url(tmp_path):
    with NatsServer(tmp_path / "nats") as server:
        yield server.url


def _nats_service(tmp_path: Path, dsn: str, url: str, engine: Engine):
    config = ServiceConfig(data_dir=tmp_path / "serve", database=dsn, http_port=0, tenants=["chu-a"],
                           bus=NatsOptions(url, connect_timeout=10))
    return start_service(config, engine)


class WorkerThread:
    """A worker on its own thread, event loop, engine, stage and database connection: what a
    ``hygie worker`` process holds, without a process start."""

    def __init__(self, url: str, dsn: str, salt: bytes, batch: int = 200) -> None:
        engine = Engine.from_paths([], include_packs=True)
        self.stage = DetectionStage(engine, PatientPolicy(salt))
        self.state = StateStore(open_database(dsn))
        self.url, self.batch = url, batch
        self.worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._thread.start()
        assert self._ready.wait(20), "worker did not connect"

    async def _main(self) -> None:
        bus = await JetStreamBus.connect(NatsOptions(self.url), StreamLimits(), owner=False)
        self.worker = Worker(bus, self.stage, self.state, WorkerConfig(batch=self.batch, fetch_timeout_s=0.3))
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        try:
            await self.worker.run(self._stop)
        finally:
            await bus.close()

    def stop(self) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(20)
        self.state.engine.dispose()


def _drained(svc: Service, expected: int, timeout: float = 40) -> None:
    """Every record's event in the event store, nothing left on the records stream, and every
    correlation feed read by serve's correlation stage (its windows saved)."""
    assert svc.nats is not None and svc.nats.correlation is not None
    stage = svc.nats.correlation
    wait_until(lambda: svc.events.count(["chu-a"], "*") >= expected and svc.backlog == 0, timeout)
    wait_until(lambda: svc.nats.correlation_backlog == 0 and stage.saved_seq == stage.seq, timeout)


@pytest.mark.parametrize("count", [1, 2])
def test_http_ingest_and_workers_match_the_embedded_service(tmp_path, state_dsn, nats_url, count,
                                                            pack_engine, embedded) -> None:
    svc, thread = _nats_service(tmp_path, state_dsn, nats_url, pack_engine)
    workers: list[WorkerThread] = []
    try:
        salt = (svc.config.data_dir / "patient.salt").read_bytes()
        workers = [WorkerThread(nats_url, state_dsn, salt) for _ in range(count)]
        token = svc.state.create_ingest_token("chu-a")
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", timeout=30,
                            content=gzip.compress(DEMO.read_bytes()),
                            headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
        accepted = answer.json()["accepted"]
        assert answer.status_code == 200 and accepted == len(_records())
        _drained(svc, accepted)
        done = [w.worker for w in workers if w.worker is not None]
        assert sum(w.records for w in done) == accepted  # each record processed once
        assert all(w.failures == 0 for w in done)  # SQLite's busy timeout serialised the writers
        assert sum(w.stage.events for w in workers) == accepted
        rows = svc.events.search(["chu-a"], "*", limit=10_000)
        assert len(rows) == len({r["record_key"] for r in rows}) == accepted
    finally:
        for worker in workers:
            worker.stop()
        stop_service(svc, thread)
    keys, counts = _alerts(state_dsn)
    _, expected = embedded
    # the records got new receive times over HTTP (new keys): compare rule by rule, correlations
    # included, whatever the number of workers
    assert counts == expected


def _worker_process(url: str, dsn: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HYGIE_HOME": str(data_dir / "home"), "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "hygie.cli.main", "worker", "--bus", url, "--database", dsn,
         "--data-dir", str(data_dir), "--batch", "200", "--ack-wait", "3"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _consumer_state(url: str) -> tuple[int, int]:
    """(messages delivered and not acknowledged, of those delivered again) of ``detect``."""
    async def read() -> tuple[int, int]:
        bus = await JetStreamBus.connect(NatsOptions(url), owner=False)
        try:
            info = await bus.js.consumer_info("HYGIE_RECORDS", "detect")
            return int(info.num_ack_pending or 0), int(info.num_redelivered or 0)
        finally:
            await bus.close()
    return asyncio.run(read())


def test_a_worker_killed_mid_batch_loses_nothing_and_stores_nothing_twice(
        tmp_path, state_dsn, nats_url, pack_engine, embedded) -> None:
    records = _records()
    svc, thread = _nats_service(tmp_path, state_dsn, nats_url, pack_engine)
    log = tmp_path / "workers.log"
    stored = lambda: svc.events.count(["chu-a"], "*")  # noqa: E731
    killed: list[subprocess.Popen[bytes]] = []
    second = None
    try:
        def feed() -> None:  # a sustained ingest: a burst ahead of detection, then a trickle
            for start in range(0, len(records), 100):
                svc.accept(records[start:start + 100])
                time.sleep(0.0 if start < 1200 else 0.3)

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        in_hand = 0
        for _ in range(3):  # a kill that falls between two batches is tried again
            before = stored()
            worker = _worker_process(nats_url, state_dsn, svc.config.data_dir, log)
            killed.append(worker)
            wait_until(lambda: stored() >= before + 200, 40)  # it stored some batches...
            wait_until(lambda: _consumer_state(nats_url)[0] > 0, 10)  # ...and holds one
            worker.send_signal(signal.SIGKILL)
            assert worker.wait(10) == -signal.SIGKILL
            in_hand = _consumer_state(nats_url)[0]
            if in_hand:
                break
        assert in_hand > 0, "no kill fell on a batch in hand"
        assert stored() < len(records), "the killed worker had already finished"
        second = _worker_process(nats_url, state_dsn, svc.config.data_dir, log)
        feeder.join(30)
        _drained(svc, len(records), timeout=40)
        keys_of_events = [r["record_key"] for r in svc.events.search(["chu-a"], "*", limit=10_000)]
        assert sorted(keys_of_events) == sorted(r.key() for r in records)  # each record once
    finally:
        for process in [*killed, second]:
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        stop_service(svc, thread)
    if second is not None:
        assert second.returncode == 0, log.read_text()[-3000:]  # SIGTERM: a clean stop
    keys, counts = _alerts(state_dsn)
    expected_keys, expected_counts = embedded
    sigma = {k for k, (_, kind) in expected_keys.items() if kind != "correlation"}
    assert {k for k, (_, kind) in keys.items() if kind != "correlation"} == sigma
    assert _sigma(counts) == _sigma(expected_counts)  # no alert counted twice
    # correlations too: one stage holds the windows, whatever worker saw (or died with) what
    assert counts == expected_counts


def test_a_full_stream_makes_the_collector_answer_503_until_workers_catch_up(
        tmp_path, nats_url, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path / "serve", http_port=0, tenants=["chu-a"], max_spool=1000,
                           bus=NatsOptions(nats_url, connect_timeout=10))
    svc, thread = start_service(config, pack_engine)
    worker = None
    try:
        token = svc.state.create_ingest_token("chu-a")
        url, auth = f"http://127.0.0.1:{svc.http_port}", {"Authorization": f"Bearer {token}"}
        lines = [r.payload for r in _records()]
        assert httpx.post(f"{url}/ingest", content=b"\n".join(lines[:600]), headers=auth).status_code == 200
        refused = httpx.post(f"{url}/ingest", content=b"\n".join(lines[600:1200]), headers=auth)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert "detection is behind" in refused.json()["error"]
        wait_until(lambda: svc.backlog == 600, 5)
        metrics = httpx.get(f"{url}/metrics").text
        assert "hygie_bus_depth 600.0" in metrics  # the lag metric
        worker = WorkerThread(nats_url, sqlite_dsn(config.data_dir / "state.db"),
                              (config.data_dir / "patient.salt").read_bytes())
        wait_until(lambda: svc.backlog == 0, 20)
        again = httpx.post(f"{url}/ingest", content=b"\n".join(lines[600:1200]), headers=auth)
        assert again.status_code == 200 and again.json()["accepted"] == 600
        _drained(svc, 1200)
    finally:
        if worker is not None:
            worker.stop()
        stop_service(svc, thread)


def test_switching_to_nats_moves_the_spool_and_quarantines_what_no_message_can_carry(
        tmp_path, nats_url, pack_engine) -> None:
    data = tmp_path / "serve"
    records = _records()[:100]
    # within the record limit (1 MiB), beyond the bus's (1 MB) once stamped for the wire
    big = RawRecord("chu-a", "http:chu-a", JSON, b'{"x": "' + b"a" * 1_048_500 + b'"}', 1_790_000_999.0)
    embedded = Service(ServiceConfig(data_dir=data, tenants=["chu-a"]), pack_engine)
    embedded.accept([*records, big])  # spooled, never detected: then the operator moves to NATS
    embedded.close()
    svc = Service(ServiceConfig(data_dir=data, tenants=["chu-a"], bus=NatsOptions(nats_url)), pack_engine)
    try:
        assert svc.spool.depth == 0
        wait_until(lambda: svc.backlog == 100, 5)
        assert [q.record_key for q in svc.state.quarantine(["chu-a"])] == [big.key()]
        other = RawRecord("chu-a", "http:chu-a", JSON, b"\x00" * 1_048_576, 1_790_001_000.0)
        svc.accept([other, *_records()[100:110]])  # 1 MiB of NULs and the stamps exceed 1 MB
        quarantined = svc.state.quarantine(["chu-a"])
        assert [q.record_key for q in quarantined][0] == other.key()
        assert "too large for the bus" in quarantined[0].reason
        wait_until(lambda: svc.backlog == 110, 5)
    finally:
        svc.close()


def test_a_worker_reloads_its_rules_between_batches(tmp_path, nats_url, pack_engine) -> None:
    """SIGHUP's path in a worker: the new rules are used from the next batch on, and a rules
    folder that fails to load leaves the old ones in place."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yml").write_text(
        "title: Reloaded rule\nid: 6a1d0c0e-0000-4000-8000-0000000000aa\n"
        "logsource: {product: windows, service: security}\n"
        "detection: {selection: {EventID: 4999}, condition: selection}\nlevel: high\n")
    thread = WorkerThread(nats_url, f"sqlite:///{tmp_path / 'state.db'}", b"salt")
    worker = thread.worker
    assert worker is not None
    try:
        before = worker.stage.engine
        worker.engine_factory = lambda: Engine.from_paths([rules])
        assert worker.request_reload()
        wait_until(lambda: worker.stage.engine is not before, 20)  # switched between batches
        assert [rule.title for rule in worker.stage.engine.rules] == ["Reloaded rule"]
        current = worker.stage.engine

        def broken() -> Engine:
            raise OSError("rules share unmounted")

        worker.engine_factory = broken
        assert worker.request_reload()
        wait_until(lambda: not worker._reloading.locked(), 20)  # the failed reload let go
        assert worker.stage.engine is current
    finally:
        thread.stop()
