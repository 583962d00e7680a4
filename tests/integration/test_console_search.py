"""Search in the console and API (scoped, bad queries explained, audited exports), saved
searches running as scheduled hunts, and per-tenant rule switches taking effect."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from hygie.pipeline.hunts import run_due_hunts
from hygie.store.events import StoredEvent
from hygie.store.state import audit
from hygie.store.state.store import RecordResult, StateStore
from tests.integration.console_util import PASSWORD, alert, app_for, seed


def _client(seeded, username: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app_for(seeded))
    client.post("/login", data={"username": username, "password": PASSWORD})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/search").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def test_search_is_scoped_explains_bad_queries_and_audits_exports(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    analyst, _csrf = _client(seeded, "analyst")
    found = analyst.get("/api/v1/search", params={"q": "EventID = 4625", "since": "1h"}).json()
    assert found["count"] == 3 and {e["tenant"] for e in found["items"]} == {"chu-nord"}
    admin, _csrf = _client(seeded, "admin")
    assert admin.get("/api/v1/search", params={"q": "EventID = 4625"}).json()["count"] == 6
    bad = analyst.get("/api/v1/search", params={"q": "EventID = "})
    assert bad.status_code == 400 and "character" in bad.json()["detail"]
    page = analyst.get("/search", params={"q": "EventID = "})
    assert page.status_code == 200 and "character" in page.text  # the page shows the error
    export = analyst.get("/api/v1/search/export", params={"q": "TargetUserName = 'chu-nord-user'", "format": "csv"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    lines = export.text.strip().splitlines()
    assert lines[0].startswith("time,received,tenant") and len(lines) == 4
    exports = [e for e in audit.entries(seeded.context.engine, None) if e.action == "search.export"]
    assert len(exports) == 1 and exports[0].actor == "analyst" and exports[0].detail["events"] == 3


def test_a_scheduled_hunt_raises_one_alert_per_window_with_findings(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    analyst, csrf = _client(seeded, "analyst")
    saved = analyst.post("/api/v1/saved-searches", headers={"X-CSRF-Token": csrf},
                         json={"tenant": "chu-nord", "name": "failed logons", "query": "EventID = 4625",
                               "since": "1h", "every_minutes": 5, "level": "high"})
    assert saved.status_code == 201
    refused = analyst.post("/api/v1/saved-searches", headers={"X-CSRF-Token": csrf},
                           json={"tenant": "chu-nord", "name": "bad", "query": "EventID = = 3"})
    assert refused.status_code == 400
    state, events = StateStore(seeded.context.engine), seeded.context.events
    now = datetime.now(timezone.utc)
    assert run_due_hunts(state, events, now) == 1
    assert run_due_hunts(state, events, now + timedelta(minutes=1)) == 0  # not due yet
    assert run_due_hunts(state, events, now + timedelta(minutes=6)) == 0  # due, nothing new
    events.append([StoredEvent(tenant="chu-nord", record_key="late", received=time.time() + 400, time=None,
                               host="CHU-NORD-PC9", source="http", kind="json", fields={"EventID": 4625}, raw=b"{}")])
    assert run_due_hunts(state, events, now + timedelta(minutes=12)) == 1
    hunts = [a for a in state.alerts(["chu-nord"]) if a.kind == "hunt"]
    assert len(hunts) == 2 and hunts[-1].matched["events"] == 3 and hunts[0].matched["events"] == 1
    assert not [a for a in state.alerts(["chu-sud"]) if a.kind == "hunt"]


def test_a_rule_switched_off_for_one_hospital_stops_its_alerts_there_only(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    analyst, csrf = _client(seeded, "analyst")
    switched = analyst.post("/rules/switch", data={"tenant": "chu-nord", "scope": "rule", "target": "rule-2",
                                                   "enabled": "false", "csrf_token": csrf}, follow_redirects=False)
    assert switched.status_code == 303
    assert "switch on" in analyst.get("/rules", params={"tenant": "chu-nord"}).text
    state = StateStore(seeded.context.engine)  # a fresh store reads the switches at once
    created, _grouped = state.store_results([
        RecordResult(tenant=t, record_key=f"k9-{t}", source="http", kind="json", received=0.0,
                     alerts=[alert("rule-2", f"{t}-PC9")]) for t in ("chu-nord", "chu-sud")])
    assert created == 1
    assert [a.tenant_id for a in state.alerts(["chu-nord", "chu-sud"]) if a.rule_id == "rule-2" and a.host.endswith("PC9")] == ["chu-sud"]
    assert any(e.action == "rules.disable" for e in audit.entries(seeded.context.engine, ["chu-nord"]))
