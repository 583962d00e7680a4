"""The embedded service stores every parsed event: posted over HTTP, found by the event store's
search exactly once, for its tenant only; a redelivery after a restart is not seen twice, and
the service's maintenance compacts the duplicates away."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import httpx
import orjson
import pytest

from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.pipeline.service import Service, ServiceConfig
from hygie.store.events import EventStore

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"


@pytest.fixture(scope="module")
def pack_engine() -> Engine:
    engine = Engine.from_paths([], include_packs=True)
    engine.warm_up()
    return engine


def _valid_lines() -> list[bytes]:
    good = []
    for line in DEMO.read_bytes().splitlines():
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        good.append(line)
    return good


def test_posted_records_are_found_once_each(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a", "chu-b"])
    svc = Service(config, pack_engine)
    started = threading.Event()

    def run() -> None:
        async def main() -> None:
            ready = asyncio.Event()
            task = asyncio.create_task(svc.run(ready))
            await ready.wait()
            started.set()
            await task
        asyncio.run(main())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        assert started.wait(20), "service did not start"
        token = svc.state.create_ingest_token("chu-a")
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", content=DEMO.read_bytes(),
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        accepted = answer.json()["accepted"]
        assert accepted == len(_valid_lines())
        deadline = time.monotonic() + 30
        while svc.spool.depth and time.monotonic() < deadline:
            time.sleep(0.05)
        assert svc.spool.depth == 0
        reader = EventStore(tmp_path / "events", read_only=True)  # as 'hygie search' opens it
        rows = reader.search(["chu-a"], "*", limit=10_000)
        assert len(rows) == len({r["record_key"] for r in rows}) == accepted
        assert reader.count(["chu-a"], "*") == accepted and reader.count(["chu-b"], "*") == 0
        shadows = reader.search(["chu-a"], "CommandLine contains 'delete shadows'")
        assert shadows and all(r["source"] == "http:chu-a" and r["host"] for r in shadows)
        posted = {orjson.loads(line)["EventTime"] for line in _valid_lines()}
        assert {r["fields"]["EventTime"] for r in rows} == posted
        reader.close()
    finally:
        svc.stop()
        thread.join(20)
        svc.close()


def test_a_redelivery_after_a_restart_is_stored_once(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"])
    records = [RawRecord("chu-a", "http:chu-a", JSON, doc, 1_790_000_000.0 + i)
               for i, doc in enumerate(_valid_lines())]
    first = Service(config, pack_engine)
    first.accept(records)
    while first.drain_once():
        pass
    first.close()
    # the bus delivers the same records again (stored, but the ack was lost in a crash)
    second = Service(config, pack_engine)
    second.accept(records[:500] + [RawRecord("chu-a", "http:chu-a", JSON, b"not json", 1.0)])
    while second.drain_once():
        pass
    store = second.events
    assert store.count(["chu-a"], "*") == len(records)
    keys = [r["record_key"] for r in store.search(["chu-a"], "*", limit=10_000)]
    assert sorted(keys) == sorted(r.key() for r in records)  # once each; the bad one quarantined
    assert store.search(["chu-a"], "raw = 'not json'") == []
    second.maintain_events()  # what the detect loop runs every minute
    merged = [p for p in (tmp_path / "events").rglob("*.parquet")]
    assert len(merged) == 1 and merged[0].name.startswith("merged-")
    assert store.count(["chu-a"], "*") == len(records)
    second.close()
