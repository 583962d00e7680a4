"""A request resent after a partial publish stores each record once (NATS mode, for real).

The records stream is made to refuse a request midway (the operator lowers ``max_msgs`` under
serve: 30 of 50 records go in, then JetStream refuses, serve answers 503). The shipper resends
the same request: each record is in the stream and in the event store once. A later identical
request that did not fail is a new request: all of its records are stored."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from hygie.bus.nats import RECORDS_STREAM, JetStreamBus, NatsOptions, StreamLimits
from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.scaleout import ResendMemory
from hygie.pipeline.service import Service, ServiceConfig
from hygie.pipeline.worker import Worker, WorkerConfig
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import StateStore
from tests.integration.nats_util import NatsServer, failed_logons, write_brute_force_rules
from tests.integration.serve_util import start_service, stop_service, wait_until


@pytest.fixture()
def nats_url(tmp_path):
    with NatsServer(tmp_path / "nats") as server:
        yield server.url


async def _records_stream(url: str, max_msgs: int | None = None) -> int:
    """Messages in ``HYGIE_RECORDS``; with ``max_msgs``, first set its limit (as an operator
    would with ``nats stream edit``)."""
    bus = await JetStreamBus.connect(NatsOptions(url), owner=False)
    try:
        if max_msgs is not None:
            config = (await bus.js.stream_info(RECORDS_STREAM)).config
            config.max_msgs = max_msgs
            await bus.js.update_stream(config)
        return (await bus.js.stream_info(RECORDS_STREAM)).state.messages
    finally:
        await bus.close()


def _detect_all(url: str, svc: Service, rules: Path) -> int:
    """A worker takes every record waiting; returns how many it acknowledged."""
    async def main() -> int:
        bus = await JetStreamBus.connect(NatsOptions(url), StreamLimits(), owner=False)
        state = StateStore(open_database(sqlite_dsn(svc.config.data_dir / "state.db")))
        stage = DetectionStage(Engine.from_paths([rules]),
                               PatientPolicy((svc.config.data_dir / "patient.salt").read_bytes()))
        worker = Worker(bus, stage, state, WorkerConfig(batch=100, fetch_timeout_s=0.5))
        try:
            for _ in range(100):
                if not await worker.process_once():
                    break
            return worker.records
        finally:
            await bus.close()
            state.engine.dispose()
    return asyncio.run(main())


def test_a_resend_after_a_partial_publish_stores_each_record_once(tmp_path, nats_url) -> None:
    rules = write_brute_force_rules(tmp_path / "rules")
    config = ServiceConfig(data_dir=tmp_path / "serve", http_port=0, tenants=["chu-a"],
                           bus=NatsOptions(nats_url, connect_timeout=10))
    svc, thread = start_service(config, Engine.from_paths([rules]))
    try:
        token = svc.state.create_ingest_token("chu-a")
        ingest = f"http://127.0.0.1:{svc.http_port}/ingest"
        auth = {"Authorization": f"Bearer {token}"}
        lines = failed_logons(48) + failed_logons(1, start=99) * 2  # the same line twice
        body = b"\n".join(lines)

        assert asyncio.run(_records_stream(nats_url, max_msgs=30)) == 0
        refused = httpx.post(ingest, content=body, headers=auth, timeout=30)
        assert refused.status_code == 503 and refused.headers["Retry-After"]
        assert asyncio.run(_records_stream(nats_url)) == 30  # part of the request is stored

        assert asyncio.run(_records_stream(nats_url, max_msgs=1_000_000)) == 30
        resent = httpx.post(ingest, content=body, headers=auth, timeout=30)
        assert resent.status_code == 200 and resent.json()["accepted"] == 50
        assert asyncio.run(_records_stream(nats_url)) == 50  # the rest only
        assert svc.nats is not None and svc.nats.resends.resent == 1

        assert _detect_all(nats_url, svc, rules) == 50
        wait_until(lambda: svc.events.count(["chu-a"], "*") >= 50, 20)
        rows = svc.events.search(["chu-a"], "*", limit=1000)
        assert len(rows) == len({row["record_key"] for row in rows}) == 50
        assert Counter(row["raw"].encode() for row in rows) == Counter(lines)  # each line once

        again = httpx.post(ingest, content=body, headers=auth, timeout=30)  # a new request
        assert again.status_code == 200 and again.json()["accepted"] == 50
        assert asyncio.run(_records_stream(nats_url)) == 50  # all of it: nothing taken for a resend
        assert svc.nats.resends.resent == 1
        assert _detect_all(nats_url, svc, rules) == 50
        wait_until(lambda: svc.events.count(["chu-a"], "*") >= 100, 20)
        assert svc.events.count(["chu-a"], "*") == 100
    finally:
        stop_service(svc, thread)


def test_the_resend_memory_recognises_only_a_resend_of_a_failed_request() -> None:
    memory = ResendMemory(horizon_s=600)

    def request(received: float, peer: str, lines: list[bytes]) -> list[RawRecord]:
        return [RawRecord("chu-a", "http:chu-a", JSON, line, received, peer, seq)
                for seq, line in enumerate(lines)]

    lines = failed_logons(3)
    first = request(1000.0, "10.0.0.5:40001", lines)
    adopted, fingerprint = memory.adopt(first)
    assert adopted == first and fingerprint is not None
    memory.failed(fingerprint, first)

    resend = request(1030.0, "10.0.0.5:40777", lines)  # new receive time, new source port
    adopted, again = memory.adopt(resend)
    assert again == fingerprint and [r.key() for r in adopted] == [r.key() for r in first]
    memory.stored(again)  # stored whole: an identical request later is a new one
    later = request(1100.0, "10.0.0.5:40999", lines)
    assert memory.adopt(later)[0] == later

    memory.failed(fingerprint, first)
    for other in (request(1030.0, "10.0.0.6:40777", lines),  # another sender
                  request(1030.0, "10.0.0.5:40777", lines[::-1]),  # other positions
                  request(1030.0, "10.0.0.5:40777", lines[:2])):  # part of it
        assert memory.adopt(other)[0] == other
    mixed = [*request(1.0, "a:1", lines[:1]), *request(2.0, "a:1", lines[1:])]
    assert memory.adopt(mixed) == (mixed, None)  # not received together: left as is

    expired = ResendMemory(horizon_s=0)
    expired.failed(fingerprint, first)
    assert expired.adopt(resend)[0] == resend
