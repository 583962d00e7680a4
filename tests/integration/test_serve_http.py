"""``hygie serve`` embedded, for real: uvicorn on 127.0.0.1, HTTP ingest, spool, detection with
Hygie's ransomware pack, alerts in SQLite; bad requests get a 4xx with a reason."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest
from tests.integration.serve_util import DEMO, demo_lines, start_service, stop_service

from hygie.pipeline.service import Service, ServiceConfig


@pytest.fixture()
def service(tmp_path, pack_engine):
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a", "chu-b"],
                           max_body=2 * 1024 * 1024)
    svc, thread = start_service(config, pack_engine)
    yield svc
    stop_service(svc, thread)


def _url(svc: Service) -> str:
    return f"http://127.0.0.1:{svc.http_port}/ingest"


def _drained(svc: Service, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while svc.spool.depth and time.monotonic() < deadline:
        time.sleep(0.05)
    assert svc.spool.depth == 0, "detection did not drain the spool"


def test_bad_requests_get_4xx_with_a_reason(service) -> None:
    url = _url(service)
    token = service.state.create_ingest_token("chu-a")
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.post(url, content=b"{}").status_code == 401
    wrong = httpx.post(url, content=b"{}", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "token" in wrong.json()["error"]
    assert httpx.post(url, content=b"  \n", headers=auth).status_code == 400
    big = httpx.post(url, content=b"x" * (2 * 1024 * 1024 + 1), headers=auth)
    assert big.status_code == 413 and "limit" in big.json()["error"]
    bomb = gzip.compress(b"{}\n" * 1_000_000)  # 3 MB once expanded, limit 2 MB
    answer = httpx.post(url, content=bomb, headers={**auth, "Content-Encoding": "gzip"})
    assert answer.status_code == 413 or (answer.status_code == 400 and "limit" in answer.json()["error"])
    assert httpx.post(url, content=b"\x1f\x8bnot", headers={**auth, "Content-Encoding": "gzip"}).status_code == 400


def test_lines_are_accepted_or_rejected_one_by_one(service) -> None:
    token = service.state.create_ingest_token("chu-a")
    body = b'{"EventID": 1}\nnot json\n[1]\n{"EventID": 2}\n'
    answer = httpx.post(_url(service), content=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200
    result = answer.json()
    assert (result["accepted"], result["rejected"]) == (2, 2)
    assert [e["line"] for e in result["errors"]] == [2, 3]
    array = httpx.post(_url(service), content=b'[{"a": 1}, 5]', headers={"Authorization": f"Bearer {token}"})
    assert (array.json()["accepted"], array.json()["rejected"]) == (1, 1)


def test_demo_data_raises_alerts_for_its_tenant_only(service) -> None:
    token = service.state.create_ingest_token("chu-a")
    body = gzip.compress(DEMO.read_bytes())
    answer = httpx.post(_url(service), content=body, timeout=30,
                        headers={"Authorization": f"Bearer {token}", "Content-Encoding": "gzip"})
    good, bad = demo_lines()
    result = answer.json()
    assert (result["accepted"], result["rejected"]) == (len(good), len(bad)) and bad  # one is cut
    assert "invalid JSON" in result["errors"][0]["reason"]
    _drained(service)
    rows = service.state.alerts(["chu-a"], limit=1000)
    assert rows and {row.tenant_id for row in rows} == {"chu-a"}
    assert any("shadow" in row.title.lower() for row in rows)
    assert service.state.alerts(["chu-b"]) == []
    first = rows[0]
    assert first.event and first.matched and first.source == "http:chu-a"


def test_records_survive_a_restart_before_detection(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"])
    first = Service(config, pack_engine)
    from hygie.core.record import JSON, RawRecord

    docs, _bad = demo_lines()
    first.accept([RawRecord("chu-a", "http:chu-a", JSON, doc, 1_790_000_000.0 + i)
                  for i, doc in enumerate(docs)])
    claimed = first.spool.claim(10_000, lease_s=3600)  # claimed, then the process "dies"
    assert len(claimed) == len(docs)
    first.close()
    second = Service(config, pack_engine)
    while second.drain_once():
        pass
    count = second.state.alert_count(["chu-a"])
    assert count > 0 and second.spool.depth == 0
    # the same records delivered once more (a crash after storing, before acking): no new alert
    second.accept([RawRecord("chu-a", "http:chu-a", JSON, doc, 1_790_000_000.0 + i)
                   for i, doc in enumerate(docs)])
    while second.drain_once():
        pass
    assert second.state.alert_count(["chu-a"]) == count
    second.close()


def test_a_running_service_runs_the_cyclic_collector_less_often(tmp_path, pack_engine) -> None:
    """Python's default (a collection every 700 allocations) cost the service 3 to 7 µs per
    record, traversing each batch's records again and again; its 5 ms switch interval held
    threads back from disk syncs behind the detect thread (benchmarks/serve.py)."""
    import gc
    import sys

    from hygie.pipeline.drain import GC_THRESHOLDS, SWITCH_INTERVAL_S

    before, interval = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(700, 10, 10)  # Python's defaults, whatever ran before in this process
    sys.setswitchinterval(0.005)
    try:
        svc, thread = start_service(ServiceConfig(data_dir=tmp_path, http_port=0), pack_engine)
        try:
            assert gc.get_threshold() == GC_THRESHOLDS
            assert sys.getswitchinterval() == SWITCH_INTERVAL_S
        finally:
            stop_service(svc, thread)
    finally:
        gc.set_threshold(*before)
        sys.setswitchinterval(interval)
