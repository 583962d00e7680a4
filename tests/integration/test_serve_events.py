"""The embedded service stores every parsed event: posted over HTTP, found by the event store's
search exactly once, for its tenant only; a redelivery after a restart is not seen twice, and
the service's maintenance compacts the duplicates away."""

from __future__ import annotations

import httpx
import orjson
from tests.integration.serve_util import DEMO, demo_lines, start_service, stop_service, wait_until

from hygie.core.record import JSON, RawRecord
from hygie.pipeline.service import Service, ServiceConfig
from hygie.store.events import EventStore


def _valid_lines() -> list[bytes]:
    return demo_lines()[0]


def test_posted_records_are_found_once_each(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a", "chu-b"])
    svc, thread = start_service(config, pack_engine)
    try:
        token = svc.state.create_ingest_token("chu-a")
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", content=DEMO.read_bytes(),
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
        accepted = answer.json()["accepted"]
        assert accepted == len(_valid_lines())
        wait_until(lambda: svc.spool.depth == 0, timeout=30)
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
        stop_service(svc, thread)


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
