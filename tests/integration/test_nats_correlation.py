"""Correlation across NATS workers, for real: ``hygie serve`` (NATS mode) on a nats-server
started here, and two ``Worker``s (each with its own connection, engine, stage and database
connection), driven batch by batch so that the events of one brute force are spread over both
deterministically. The correlation alert exists exactly once; a worker that dies after
forwarding its matches, and a restart of serve, neither lose nor double a window."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.bus.nats import CORRELATE_STREAM, JetStreamBus, NatsOptions, StreamLimits
from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.service import Service, ServiceConfig
from hygie.pipeline.worker import Worker, WorkerConfig
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.models import AlertRow
from hygie.store.state.store import StateStore
from tests.integration.nats_util import BRUTE_FORCE_ID, NatsServer, failed_logons, write_brute_force_rules
from tests.integration.serve_util import start_service, stop_service, wait_until


@pytest.fixture()
def nats_url(tmp_path):
    with NatsServer(tmp_path / "nats") as server:
        yield server.url


def _serve(tmp_path: Path, url: str, rules: Path):
    config = ServiceConfig(data_dir=tmp_path / "serve", http_port=0, tenants=["chu-a"],
                           bus=NatsOptions(url, connect_timeout=10))
    return start_service(config, Engine.from_paths([rules]))


def _records(lines: list[bytes], start: int = 0) -> list[RawRecord]:
    return [RawRecord("chu-a", "http:chu-a", JSON, line, 1_790_000_000.0 + start + i)
            for i, line in enumerate(lines)]


def _correlation_alerts(svc: Service) -> list[tuple[str, dict]]:
    with Session(svc.state.engine) as session:
        return [(rule, matched) for rule, matched in session.execute(
            select(AlertRow.rule_id, AlertRow.matched).where(AlertRow.kind == "correlation"))]


class Workers:
    """Two workers on one event loop, each with its own NATS connection and stage."""

    def __init__(self, url: str, svc: Service, rules: Path, batch: int = 3, ack_wait_s: float = 60.0):
        self.url, self.rules, self.batch, self.ack_wait_s = url, rules, batch, ack_wait_s
        self.dsn = sqlite_dsn(svc.config.data_dir / "state.db")
        self.salt = (svc.config.data_dir / "patient.salt").read_bytes()
        self.workers: list[Worker] = []

    async def __aenter__(self) -> list[Worker]:
        for index in range(2):
            bus = await JetStreamBus.connect(NatsOptions(self.url), StreamLimits(ack_wait_s=self.ack_wait_s),
                                             owner=False)
            stage = DetectionStage(Engine.from_paths([self.rules]), PatientPolicy(self.salt))
            self.workers.append(Worker(bus, stage, StateStore(open_database(self.dsn)),
                                       WorkerConfig(batch=self.batch, fetch_timeout_s=0.5, name=f"w{index}")))
        return self.workers

    async def __aexit__(self, *exc: object) -> None:
        for worker in self.workers:
            await worker.bus.close()
            worker.state.engine.dispose()


async def _take_turns(workers: list[Worker]) -> None:
    """Each worker takes a batch in turn until none is left (bounded)."""
    for _ in range(100):
        taken = [await worker.process_once() for worker in workers]
        if not any(taken):
            return
    pytest.fail("the records stream did not empty")


def _fed(svc: Service, count: int) -> None:
    """The correlation stage read ``count`` feeds and acknowledged them (checkpoint saved)."""
    assert svc.nats is not None and svc.nats.correlation is not None
    stage = svc.nats.correlation
    wait_until(lambda: stage.feeds >= count and stage.saved_seq == stage.seq
               and svc.nats.correlation_backlog == 0, 20)


def test_a_brute_force_spread_over_two_workers_raises_one_alert(tmp_path, nats_url) -> None:
    rules = write_brute_force_rules(tmp_path / "rules")
    svc, thread = _serve(tmp_path, nats_url, rules)
    try:
        noise = failed_logons(5, address="10.1.1.1", start=100)
        svc.accept(_records(failed_logons(12) + noise))

        async def main() -> list[Worker]:
            async with Workers(nats_url, svc, rules) as workers:
                await _take_turns(workers)
                return workers

        first, second = asyncio.run(main())
        assert first.records > 0 and second.records > 0  # both had part of the brute force
        assert first.feeds > 0 and second.feeds > 0
        assert first.feeds + second.feeds == 17
        assert not first.stage.correlators and not second.stage.correlators  # no window there
        _fed(svc, 17)
        wait_until(lambda: len(_correlation_alerts(svc)) >= 1, 10)
        alerts = _correlation_alerts(svc)
        assert len(alerts) == 1
        rule, matched = alerts[0]
        assert rule == BRUTE_FORCE_ID and matched == {"IpAddress": "10.9.8.7", "count": 10}
    finally:
        stop_service(svc, thread)


def test_a_worker_dying_after_forwarding_its_matches_does_not_count_them_twice(tmp_path, nats_url) -> None:
    """Nine failures (one short of the threshold): the batch of a worker that forwarded its
    matches and died before acknowledging is detected again by the other worker; counted twice,
    the nine would pass ten. Then a tenth failure raises the one alert."""
    rules = write_brute_force_rules(tmp_path / "rules")
    svc, thread = _serve(tmp_path, nats_url, rules)
    try:
        svc.accept(_records(failed_logons(9)))

        async def main() -> None:
            async with Workers(nats_url, svc, rules, ack_wait_s=1.0) as (dying, other):
                def crash(results: object) -> None:
                    raise RuntimeError("killed after publishing, before the ack")

                dying.stage.mark_stored = crash  # type: ignore[method-assign]
                with pytest.raises(RuntimeError):
                    await dying.process_once()
                assert dying.feeds == 0 and dying.records == 0
                for _ in range(40):  # bounded: the batch comes back after ack_wait (1 s)
                    await other.process_once()
                    if other.records == 9:
                        break
                assert other.records == 9 and other.feeds == 9  # 3 of them sent a second time
                info = await other.bus.js.stream_info(CORRELATE_STREAM)
                assert info.state.last_seq == 9  # ...and JetStream dropped them (Nats-Msg-Id)

        asyncio.run(main())
        _fed(svc, 9)
        assert _correlation_alerts(svc) == []
        svc.accept(_records(failed_logons(1, start=9), start=9))

        async def tenth() -> None:
            async with Workers(nats_url, svc, rules) as workers:
                await _take_turns(workers)

        asyncio.run(tenth())
        _fed(svc, 10)
        wait_until(lambda: len(_correlation_alerts(svc)) >= 1, 10)
        assert [(rule, m["count"]) for rule, m in _correlation_alerts(svc)] == [(BRUTE_FORCE_ID, 10)]
    finally:
        stop_service(svc, thread)


def test_the_windows_survive_a_restart_of_serve(tmp_path, nats_url) -> None:
    """Six failures before serve restarts, six after: only the restored window (6 + 4)
    reaches ten; nothing is raised twice."""
    rules = write_brute_force_rules(tmp_path / "rules")

    async def work(svc: Service) -> None:
        async with Workers(nats_url, svc, rules) as workers:
            await _take_turns(workers)

    svc, thread = _serve(tmp_path, nats_url, rules)
    try:
        svc.accept(_records(failed_logons(6)))
        asyncio.run(work(svc))
        _fed(svc, 6)
    finally:
        stop_service(svc, thread)
    assert (tmp_path / "serve" / "correlation-state.json").exists()

    svc, thread = _serve(tmp_path, nats_url, rules)
    try:
        assert svc.nats is not None and svc.nats.correlation is not None
        wait_until(lambda: svc.nats.correlation.seq == 6, 10)  # restored from the checkpoint
        svc.accept(_records(failed_logons(6, start=6), start=6))
        asyncio.run(work(svc))
        _fed(svc, 6)
        wait_until(lambda: len(_correlation_alerts(svc)) >= 1, 10)
        assert [(rule, m["count"]) for rule, m in _correlation_alerts(svc)] == [(BRUTE_FORCE_ID, 10)]
    finally:
        stop_service(svc, thread)
