"""Threat intelligence managed from the console and ``/api/v1/intel``: indicators added (type
recognised, bad entries refused with the reason), paged, expired, picked up by the live
detection stage without a restart; feeds added with an encrypted credential, refreshed in the
background from a loopback server, disabled and removed; the indicator's context on an IOC
alert's page; TLP:RED kept from the roles that may not read it; every change audited."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.core.record import JSON, RawRecord
from hygie.core.secrets import KEY_ENV
from hygie.detect.engine import Engine
from hygie.intel.matcher import IntelMatcher
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.store.state import audit, intel_store
from hygie.store.state.models_intel import IntelFeed
from hygie.store.state.store import StateStore
from tests.integration.console_util import PASSWORD
from tests.integration.intel_world import intel_world

from .intel_peers import static_server

pytestmark = pytest.mark.usefixtures("no_env_key")


@pytest.fixture
def no_env_key(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from intel_world(tmp_path)


def login(client: TestClient, username: str) -> str:
    client.post("/login", data={"username": username, "password": PASSWORD})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/intel").text).group(1)  # type: ignore[union-attr]


def test_indicators_through_the_api(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    made = client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                       json={"value": " HTTPS://Evil.Example:443/Payload#x ", "tlp": "amber", "confidence": 85,
                             "expires": "2099-01-01T00:00:00+02:00", "description": "stager"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["type"], body["value"], body["tenant"], body["active"]) == (
        "url", "https://evil.example/Payload", "chu-nord", True)
    assert body["expires"].startswith("2098-12-31T22:00:00")  # kept in UTC
    for bad, reason in (({"value": "not a thing"}, "choose its type"),
                        ({"value": "10.0.0.1", "type": "domain"}, "not a domain name"),
                        ({"value": "12345", "type": "md5"}, "not a md5"),
                        ({"value": "x.example", "expires": "2001-01-01T00:00:00Z"}, "in the past")):
        refused = client.post("/api/v1/intel/indicators", headers=auth["analyst"], json=bad)
        assert refused.status_code == 400 and reason in refused.json()["detail"], refused.text
    assert client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                       json={"value": "x.example", "shared": True}).status_code == 403
    assert client.post("/api/v1/intel/indicators", headers=auth["hospital"],
                       json={"value": "x.example"}).status_code == 403
    assert client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                       json={"value": "x.example", "tenant": "chu-sud"}).status_code == 404
    shared = client.post("/api/v1/intel/indicators", headers=auth["admin"],
                         json={"value": "203.0.113.7", "shared": True, "confidence": 60})
    assert shared.status_code == 201 and shared.json()["shared"] and shared.json()["type"] == "ipv4"
    for n in range(5):
        assert client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                           json={"value": f"c2-{n}.example"}).status_code == 201

    page = client.get("/api/v1/intel/indicators", headers=auth["analyst"], params={"limit": 3}).json()
    assert page["total"] == 7
    assert [i["value"] for i in page["items"]] == ["c2-4.example", "c2-3.example", "c2-2.example"]
    rest = client.get("/api/v1/intel/indicators", headers=auth["analyst"], params={"limit": 3, "offset": 6}).json()
    assert [i["value"] for i in rest["items"]] == ["https://evil.example/Payload"]
    found = client.get("/api/v1/intel/indicators", headers=auth["analyst"], params={"q": "PAYLOAD", "type": "url"})
    assert found.json()["total"] == 1
    sud = client.get("/api/v1/intel/indicators", headers=auth["admin"], params={"tenant": "chu-sud"}).json()
    assert [i["value"] for i in sud["items"]] == ["203.0.113.7"]  # the shared one only

    ident = body["id"]
    shared_id = shared.json()["id"]
    assert client.post(f"/api/v1/intel/indicators/{shared_id}/expire", headers=auth["analyst"]).status_code == 403
    assert client.post(f"/api/v1/intel/indicators/{ident}/expire", headers=auth["viewer"]).status_code == 403
    expired = client.post(f"/api/v1/intel/indicators/{ident}/expire", headers=auth["analyst"])
    assert expired.status_code == 200 and expired.json()["active"] is False
    gone = client.get("/api/v1/intel/indicators", headers=auth["analyst"], params={"active": False}).json()
    assert gone["total"] == 1
    assert ident not in {i.id for i in intel_store.active_indicators(seeded.context.engine)}
    detail = client.get(f"/api/v1/intel/indicators/{ident}", headers=auth["viewer"]).json()
    assert detail["feed_kind"] == "manual" and detail["sightings"] == 0 and detail["description"] == "stager"
    actions = [(e.actor, e.action) for e in audit.entries(seeded.context.engine, None)]
    assert ("analyst (token:test)", "intel.indicator.add") in actions
    assert ("analyst (token:test)", "intel.indicator.expire") in actions


def test_tlp_red_is_for_the_soc_analysts_only(world) -> None:  # type: ignore[no-untyped-def]
    _seeded, client, auth = world
    red = client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                      json={"value": "red-source.example", "tlp": "red", "description": "from a partner"}).json()
    client.post("/api/v1/intel/indicators", headers=auth["analyst"], json={"value": "green.example", "tlp": "green"})
    for role in ("hospital", "viewer"):
        listed = client.get("/api/v1/intel/indicators", headers=auth[role]).json()
        assert [i["value"] for i in listed["items"]] == ["green.example"]
        assert client.get(f"/api/v1/intel/indicators/{red['id']}", headers=auth[role]).status_code == 404
    assert client.get(f"/api/v1/intel/indicators/{red['id']}", headers=auth["analyst"]).json()["tlp"] == "red"


def test_feeds_through_the_api_and_refresh_in_the_background(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    engine = seeded.context.engine
    (tmp_path / "feed").mkdir()
    (tmp_path / "feed" / "iocs.txt").write_text("bad-one.example\n198.51.100.9\nnot a value\n")
    assert client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "local file", "kind": "text", "location": "/etc/passwd"}).status_code == 400
    assert client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "list", "kind": "text", "location": "https://x.example/l.txt",
        "credential": "s3cret"}).json()["detail"].startswith("credential")
    misp = client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "regional MISP", "kind": "misp", "location": "https://misp.example", "credential": "K" * 40})
    assert misp.status_code == 201 and misp.json()["has_credential"] and "K" * 40 not in misp.text
    with Session(engine) as session:
        stored = session.scalar(select(IntelFeed.credential).where(IntelFeed.id == misp.json()["id"]))
    assert stored and "KKKK" not in stored
    assert all("K" * 40 not in str(e.detail) for e in audit.entries(engine, None))
    assert client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "shared", "kind": "text", "location": "https://x.example/", "shared": True}).status_code == 403
    intel_store.add_feed(engine, None, "chu-nord", "from the CLI", "stix", "https://bob:s3cret@cert.example/b.json",
                         {"password": "hunter2", "password_env": "CERT_PASSWORD"})
    listed = client.get("/api/v1/intel/feeds", headers=auth["viewer"])
    assert "https://bob:***@cert.example/b.json" in listed.text and "CERT_PASSWORD" in listed.text
    assert "s3cret" not in listed.text and "hunter2" not in listed.text

    with static_server(tmp_path / "feed") as base:
        made = client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
            "name": "hospital list", "kind": "text", "location": f"{base}/iocs.txt", "schedule_minutes": 60,
            "tlp": "amber", "confidence": 70, "expire_days": 30})
        assert made.status_code == 201, made.text
        feed_id = made.json()["id"]
        assert made.json()["options"] == {"tlp": "amber", "confidence": 70, "expire_days": 30}
        started = client.post(f"/api/v1/intel/feeds/{feed_id}/refresh", headers=auth["analyst"])
        assert started.status_code == 202 and started.json()["started"]
        status = wait_for(lambda: client.get(f"/api/v1/intel/feeds/{feed_id}", headers=auth["analyst"]).json(),
                          lambda s: s["last_run"] is not None and not s["refreshing"])
    assert status["indicator_count"] == 2 and status["problem_count"] == 1 and "not a value" in status["last_error"]
    rows = client.get("/api/v1/intel/indicators", headers=auth["analyst"], params={"feed_id": feed_id}).json()["items"]
    assert {(i["value"], i["tlp"], i["confidence"]) for i in rows} == {("bad-one.example", "amber", 70),
                                                                       ("198.51.100.9", "amber", 70)}
    assert client.post(f"/api/v1/intel/feeds/{feed_id}/refresh", headers=auth["hospital"]).status_code == 403
    disabled = client.patch(f"/api/v1/intel/feeds/{feed_id}", headers=auth["analyst"], json={"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert not {"bad-one.example"} & {i.value for i in intel_store.active_indicators(engine)}
    assert client.post(f"/api/v1/intel/feeds/{feed_id}/refresh", headers=auth["analyst"]).status_code == 409
    assert client.delete(f"/api/v1/intel/feeds/{feed_id}", headers=auth["viewer"]).status_code == 403
    assert client.delete(f"/api/v1/intel/feeds/{feed_id}", headers=auth["analyst"]).status_code == 204
    assert client.get(f"/api/v1/intel/feeds/{feed_id}", headers=auth["analyst"]).status_code == 404
    assert intel_store.search_indicators(engine, None, feed_id=feed_id)[1] == 0
    actions = {e.action for e in audit.entries(engine, None)}
    assert {"intel.feed.add", "intel.feed.refresh", "intel.feed.disable", "intel.feed.remove"} <= actions


def wait_for(read, done, timeout_s: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def dns_record(tenant: str, seq: int, name: str) -> RawRecord:
    line = json.dumps({"EventID": 22, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": f"PC-{seq}",
                       "QueryName": name, "UtcTime": "2026-11-23 08:00:00.000"}).encode()
    return RawRecord(tenant, "http:test", JSON, line, 1_790_000_000.0 + seq, "10.0.0.9", seq)


def test_the_live_pipeline_picks_added_and_expired_indicators_up(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    engine = seeded.context.engine
    matcher = IntelMatcher.from_database(engine, refresh_s=0.05)
    matcher.refresh_now(force=True)
    stage = DetectionStage(Engine.from_paths([], include_packs=False), PatientPolicy(b"s" * 32), intel=matcher)
    seq = iter(range(1, 10_000))

    def iocs() -> list:  # type: ignore[type-arg]
        results = stage.process([dns_record("chu-nord", next(seq), "update.evil-c2.example")])
        return results if any(a.kind == "ioc" for r in results for a in r.alerts) else []

    assert iocs() == []
    made = client.post("/api/v1/intel/indicators", headers=auth["analyst"],
                       json={"value": "evil-c2.example", "tlp": "amber", "confidence": 90,
                             "description": "LockBit affiliate"}).json()
    results = wait_for(iocs, bool)  # no restart: the next rebuild has it
    assert results, "the new indicator was not picked up"
    StateStore(engine).store_results(results)
    stage.mark_stored(results)

    # the alert's page shows the indicator with its context, to the hospital's people too
    alert_id = next(a.id for a in StateStore(engine).alerts(["chu-nord"]) if a.kind == "ioc")
    login(client, "hospital")
    page = client.get(f"/alerts/{alert_id}").text
    assert 'id="indicator-context"' in page and "evil-c2.example" in page and "TLP:AMBER" in page
    assert "LockBit affiliate" in page and "Added by hand (chu-nord)" in page
    assert re.search(r"Sightings in my hospitals</dt><dd>1 ", page)
    assert client.get("/api/v1/intel/sightings").json()["items"][0]["value"] == "evil-c2.example"

    client.post(f"/api/v1/intel/indicators/{made['id']}/expire", headers=auth["analyst"])
    assert wait_for(iocs, lambda found: not found) == [], "the expired indicator still matches"


def test_tlp_red_context_on_the_alert_page(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    engine = seeded.context.engine
    client.post("/api/v1/intel/indicators", headers=auth["admin"],
                json={"value": "red-c2.example", "tlp": "red", "shared": True, "description": "partner's source"})
    matcher = IntelMatcher.from_database(engine)
    matcher.refresh_now(force=True)
    stage = DetectionStage(Engine.from_paths([], include_packs=False), PatientPolicy(b"s" * 32), intel=matcher)
    for tenant, seq in (("chu-nord", 1), ("chu-sud", 2), ("chu-sud", 3)):
        results = stage.process([dns_record(tenant, seq, "red-c2.example")])
        StateStore(engine).store_results(results)
        stage.mark_stored(results)
    alert_id = next(a.id for a in StateStore(engine).alerts(["chu-nord"]) if a.kind == "ioc")
    login(client, "analyst")
    page = client.get(f"/alerts/{alert_id}").text
    assert "partner&#39;s source" in page and "TLP:RED" in page
    assert re.search(r"Seen in other hospitals</dt><dd>1 hospitals, 2 sightings", page)
    assert "chu-sud" not in page  # anonymous: chu-sud did not agree to be named
    hospital = TestClient(client.app)
    login(hospital, "hospital")
    restricted = hospital.get(f"/alerts/{alert_id}").text
    assert "for the SOC's analysts only" in restricted and "partner&#39;s source" not in restricted


def test_console_forms(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    seeded, client, _auth = world
    csrf = login(client, "analyst")
    refused = client.post("/intel/indicators", data={"csrf_token": csrf, "value": "999.1.1.1", "type": "ipv4",
                                                     "tenant": "chu-nord", "tlp": "green", "confidence": "70",
                                                     "description": "typed by hand"})
    assert refused.status_code == 400
    assert "not an IP address" in refused.text and 'value="999.1.1.1"' in refused.text
    assert "typed by hand" in refused.text
    added = client.post("/intel/indicators", data={"csrf_token": csrf, "value": "phish.example", "tenant": "chu-nord",
                                                   "tlp": "green", "confidence": "", "expires": "2099-05-01"},
                        follow_redirects=False)
    assert added.status_code == 303
    listed = client.get(added.headers["location"]).text
    assert "phish.example" in listed and "TLP:GREEN" in listed and "2099-05-01 00:00:00 UTC" in listed
    [row] = intel_store.search_indicators(seeded.context.engine, None, "phish.example")[0]
    assert row.confidence == 50 and row.type == "domain"

    bad_feed = client.post("/intel/feeds", data={"csrf_token": csrf, "name": "x", "kind": "taxii",
                                                 "location": "file:///etc/shadow", "tenant": "chu-nord",
                                                 "credential": "hunter2hunter2"})
    assert bad_feed.status_code == 400 and "http:// or https://" in bad_feed.text
    assert "hunter2hunter2" not in bad_feed.text and 'value="file:///etc/shadow"' in bad_feed.text
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "list.csv").write_text("value,type,tlp\nbad-cdn.example,domain,amber\n")
    with static_server(tmp_path / "srv") as base:
        made = client.post("/intel/feeds", data={"csrf_token": csrf, "name": "CSV of the CERT", "kind": "csv",
                                                 "location": f"{base}/list.csv", "tenant": "chu-nord",
                                                 "schedule_minutes": "30"}, follow_redirects=False)
        assert made.status_code == 303
        [feed] = [f for f in intel_store.list_feeds(seeded.context.engine, None) if f.name == "CSV of the CERT"]
        assert client.post(f"/intel/feeds/{feed.id}/refresh", data={"csrf_token": csrf},
                           follow_redirects=False).status_code == 303
        wait_for(lambda: intel_store.get_feed(seeded.context.engine, None, feed.id),
                 lambda f: f.last_run is not None)
    page = client.get("/intel").text
    assert "CSV of the CERT" in page and "bad-cdn.example" in page and "30 min" in page
    client.post(f"/intel/feeds/{feed.id}/enable", data={"csrf_token": csrf, "enabled": "false"})
    assert intel_store.get_feed(seeded.context.engine, None, feed.id).enabled is False
    client.post(f"/intel/feeds/{feed.id}/remove", data={"csrf_token": csrf})
    assert intel_store.get_feed(seeded.context.engine, None, feed.id) is None
    viewer = TestClient(client.app)
    viewer_csrf = login(viewer, "viewer")
    assert "Add an indicator" not in viewer.get("/intel").text
    assert viewer.post("/intel/indicators", data={"csrf_token": viewer_csrf, "value": "x.example"}).status_code == 403
