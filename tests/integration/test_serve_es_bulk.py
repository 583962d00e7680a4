"""Winlogbeat's Elasticsearch output pointed at ``hygie serve``: the calls a Beat makes at
start-up, ``_bulk`` with ECS documents, per-item errors, 429 when the bus is full."""

from __future__ import annotations

import base64
import time

import httpx
import orjson
import pytest

from tests.integration.serve_util import start_service, stop_service, wait_until

from hygie.pipeline.service import ServiceConfig


def _winlogbeat_doc(host: str, n: int) -> dict:
    """What Winlogbeat 8 sends for a Security 1102 (audit log cleared), ECS shape."""
    return {"@timestamp": f"2026-11-23T03:12:{n % 60:02d}.000Z",
            "event": {"code": "1102", "kind": "event", "provider": "Microsoft-Windows-Eventlog"},
            "host": {"name": host},
            "winlog": {"channel": "Security", "event_id": "1102", "computer_name": host,
                       "provider_name": "Microsoft-Windows-Eventlog", "record_id": n,
                       "user_data": {"SubjectUserName": f"admin{n}"}},
            "agent": {"type": "winlogbeat", "version": "8.17.0"}}


def _bulk(docs: list[dict]) -> bytes:
    lines = []
    for doc in docs:
        lines.append(orjson.dumps({"create": {"_index": "winlogbeat-8.17.0"}}))
        lines.append(orjson.dumps(doc))
    return b"\n".join(lines) + b"\n"


@pytest.fixture()
def served(tmp_path, pack_engine):
    svc, thread = start_service(ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"],
                                       max_spool=50), pack_engine)
    token = svc.state.create_ingest_token("chu-a", "winlogbeat")
    yield svc, f"http://127.0.0.1:{svc.http_port}", token
    stop_service(svc, thread)


def test_the_calls_a_beat_makes_at_start_up(served) -> None:
    _svc, url, token = served
    api_key = {"Authorization": "ApiKey " + base64.b64encode(f"hygie:{token}".encode()).decode()}
    root = httpx.get(url + "/", headers=api_key)
    assert root.status_code == 200 and root.json()["version"]["number"].startswith("8.")
    assert root.headers["X-Elastic-Product"] == "Elasticsearch"
    assert httpx.head(url + "/", headers=api_key).status_code == 200
    assert httpx.get(url + "/_license", headers=api_key).json()["license"]["status"] == "active"
    assert httpx.put(url + "/_index_template/winlogbeat-8.17.0", headers=api_key,
                     content=b"{}").json() == {}
    assert httpx.get(url + "/_nodes/_local", headers=api_key).status_code == 200
    # without or with a wrong credential: 401 in Elasticsearch's error shape
    denied = httpx.get(url + "/")
    assert denied.status_code == 401 and denied.json()["error"]["type"] == "security_exception"
    basic_wrong = {"Authorization": "Basic " + base64.b64encode(b"hygie:nope").decode()}
    assert httpx.get(url + "/", headers=basic_wrong).status_code == 401
    assert httpx.get(url + "/_cat/indices", headers=api_key).status_code == 404


def test_bulk_documents_are_detected_and_bad_items_reported(served) -> None:
    svc, url, token = served
    basic = {"Authorization": "Basic " + base64.b64encode(f"winlogbeat:{token}".encode()).decode()}
    docs = [_winlogbeat_doc("dc01", n) for n in range(5)]
    body = _bulk(docs) + b'{"index": {}}\nnot json\n{"delete": {"_id": "1"}}\n{"create": {}}\n[1]\n'
    answer = httpx.post(url + "/_bulk", content=body,
                        headers={**basic, "Content-Type": "application/x-ndjson"})
    assert answer.status_code == 200
    result = answer.json()
    assert result["errors"] is True
    statuses = [item[next(iter(item))]["status"] for item in result["items"]]
    assert statuses == [201] * 5 + [400, 400, 400]
    reasons = [item[next(iter(item))].get("error", {}).get("reason", "") for item in result["items"]]
    assert "invalid JSON" in reasons[5] and "delete" in reasons[6] and "object" in reasons[7]
    assert reasons[5].startswith("line 11:") and reasons[7].startswith("line 14:")
    malformed = httpx.post(url + "/_bulk", headers=basic,
                           content=b'{"index": {}, "x": 1}\n{"a": 1}\n' + _bulk(docs[:1]))
    assert malformed.status_code == 400 and "line 1" in malformed.json()["error"]["reason"]
    wait_until(lambda: svc.stage.events >= 5 and svc.spool.depth == 0)
    rows = svc.state.alerts(["chu-a"], limit=50)
    assert rows and rows[0].host == "dc01" and rows[0].source == "es-bulk:chu-a"
    assert "cleared" in rows[0].title.lower()


def test_a_full_bus_answers_429_and_a_retry_succeeds(served) -> None:
    svc, url, token = served
    auth = {"Authorization": f"Bearer {token}"}
    svc.pause_detection()
    first = httpx.post(url + "/winlogbeat/_bulk", headers=auth,
                       content=_bulk([_winlogbeat_doc("pc1", n) for n in range(50)]))
    assert first.status_code == 200 and not first.json()["errors"]
    refused = httpx.post(url + "/_bulk", headers=auth, content=_bulk([_winlogbeat_doc("pc1", 99)]))
    assert refused.status_code == 429
    assert refused.json()["error"]["type"] == "es_rejected_execution_exception"
    svc.resume_detection()
    wait_until(lambda: svc.spool.depth == 0)
    deadline = time.monotonic() + 10
    retried = refused
    while retried.status_code == 429 and time.monotonic() < deadline:  # what a Beat does
        retried = httpx.post(url + "/_bulk", headers=auth, content=_bulk([_winlogbeat_doc("pc1", 99)]))
    assert retried.status_code == 200
