"""Response through ``/api/v1``: everything the console's pages do (playbooks, runs with dry
run, approval, rejection, rollback, cancel; NIS 2 flag, details, deadlines, reports sent,
drafts; care services), with API tokens, tenant scoping, roles, and 4xx answers to bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hygie.respond import cases
from hygie.store.state import audit
from tests.integration.console_util import app_for, seed


def _setup(tmp_path):  # type: ignore[no-untyped-def]
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    engine = seeded.context.engine
    case_id = cases.create_case(engine, None, seeded.alert_ids["chu-nord"][:1], "admin")
    other = cases.create_case(engine, None, seeded.alert_ids["chu-sud"][:1], "admin")
    client = TestClient(app_for(seeded))

    def as_(username: str, role: str, tenant: str = "chu-nord") -> dict[str, str]:
        token = seeded.context.access.create_token(username, role, tenant, "api test", "admin")
        return {"Authorization": f"Bearer {token}"}
    return seeded, client, case_id, other, as_


def test_runs_through_the_api(tmp_path) -> None:
    seeded, client, case_id, other, as_ = _setup(tmp_path)
    analyst, viewer = as_("analyst", "analyst"), as_("viewer", "viewer")
    playbooks = client.get("/api/v1/playbooks", params={"lang": "fr"}, headers=viewer).json()
    assert {p["file"] for p in playbooks} >= {"fiches_reflexes", "ransomware_spreading"}
    assert "Fiches réflexes" in " ".join(p["name"] for p in playbooks)

    dry = client.post(f"/api/v1/cases/{case_id}/runs", json={"playbook": "fiches_reflexes", "dry_run": True},
                      headers=analyst)
    assert dry.status_code == 201 and dry.json()["status"] == "done" and dry.json()["dry_run"]
    assert {s["status"] for s in dry.json()["steps"] if s["step_type"] == "action"} == {"dry_run"}
    summaries = {lang: [o["summary"] for s in client.get(f"/api/v1/runs/{dry.json()['id']}", params={"lang": lang},
                                                          headers=viewer).json()["steps"]
                        for o in s["result"].get("outcomes", [])] for lang in ("en", "fr")}
    assert summaries["en"] and len(summaries["en"]) == len(summaries["fr"])
    assert summaries["en"] != summaries["fr"]  # the outcomes' own texts, in the reader's language
    assert client.post(f"/api/v1/cases/{case_id}/runs", json={"playbook": "fiches_reflexes"},
                       headers=viewer).status_code == 403
    assert client.post(f"/api/v1/cases/{case_id}/runs", json={"playbook": "no_such_playbook"},
                       headers=analyst).status_code == 409
    assert client.post(f"/api/v1/cases/{other}/runs", json={"playbook": "fiches_reflexes"},
                       headers=analyst).status_code == 404  # another hospital's case
    assert client.post(f"/api/v1/cases/{case_id}/runs", json={"playbook": ""}, headers=analyst).status_code == 422

    run = client.post(f"/api/v1/cases/{case_id}/runs", json={"playbook": "fiches_reflexes"}, headers=analyst).json()
    assert run["status"] == "waiting"
    waiting = client.get("/api/v1/approvals", params={"lang": "fr"}, headers=viewer).json()
    assert [w["run_id"] for w in waiting] == [run["id"]] and waiting[0]["name"] == "Déconnecter le poste du réseau"
    assert client.get("/api/v1/approvals", headers=as_("sud", "viewer", "chu-sud")).json() == []
    step = waiting[0]["step_id"]
    decision = f"/api/v1/runs/{run['id']}/steps/{step}/decision"
    assert client.post(decision, json={"decision": "approve"}, headers=viewer).status_code == 403
    assert client.post(decision, json={"decision": "maybe"}, headers=analyst).status_code == 422
    assert client.post(decision, json={"decision": "approve"},
                       headers=as_("sud", "hospital", "chu-sud")).status_code == 404
    after = client.post(decision, json={"decision": "approve"}, headers=analyst)
    assert after.status_code == 200 and [s["status"] for s in after.json()["steps"] if s["id"] == step] == ["done"]
    assert client.post(decision, json={"decision": "approve"}, headers=analyst).status_code == 409  # not waiting now
    second = [s for s in after.json()["steps"] if s["status"] == "awaiting_approval"][0]
    rejected = client.post(f"/api/v1/runs/{run['id']}/steps/{second['id']}/decision", json={"decision": "reject"},
                           headers=analyst).json()
    assert [s["status"] for s in rejected["steps"] if s["id"] == second["id"]] == ["rejected"]
    french = client.get(f"/api/v1/runs/{run['id']}", params={"lang": "fr"}, headers=viewer).json()
    assert french["playbook_name"].startswith("Fiches réflexes") and french["steps"][1]["name"] == \
        "Déconnecter le poste du réseau"
    listed = client.get(f"/api/v1/cases/{case_id}/runs", headers=viewer).json()
    assert [r["id"] for r in listed] == [run["id"], dry.json()["id"]]
    cancelled = client.post(f"/api/v1/runs/{run['id']}/cancel", headers=analyst)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert client.post(f"/api/v1/runs/{run['id']}/cancel", headers=analyst).status_code == 409
    undone = client.post(f"/api/v1/runs/{run['id']}/rollback", json={}, headers=analyst)
    assert undone.status_code == 200 and undone.json() == {"outcomes": []}  # manual steps: nothing to undo
    assert client.post(f"/api/v1/runs/{run['id']}/rollback", json={"step_id": 999_999},
                       headers=analyst).status_code == 404
    assert client.get(f"/api/v1/runs/{run['id']}", headers=as_("sud", "viewer", "chu-sud")).status_code == 404
    assert audit.verify(seeded.context.engine).ok


def test_nis2_and_services_through_the_api(tmp_path) -> None:
    _seeded, client, case_id, other, as_ = _setup(tmp_path)
    analyst, viewer, hospital = as_("analyst", "analyst"), as_("viewer", "viewer"), as_("hospital", "hospital")
    base = f"/api/v1/cases/{case_id}/nis2"
    assert client.get(base, headers=viewer).status_code == 404  # not flagged yet
    assert client.post(base, json={"aware_at": "1900-01-01T00:00:00Z"}, headers=analyst).status_code == 422
    assert client.post(base, json={"timezone": "Mars/Olympus"}, headers=analyst).status_code == 409
    assert client.post(base, json={"details": {"status": "finished"}}, headers=analyst).status_code == 422
    assert client.post(base, json={}, headers=viewer).status_code == 403
    flagged = client.post(base, headers=analyst, json={
        "aware_at": "2026-03-28T22:30:00", "suspected_malicious": True, "summary": "Chiffrement du PACS",
        "details": {"contact": "RSSI 01 23 45 67 89", "status": "ongoing"}})
    assert flagged.status_code == 201, flagged.text
    state = flagged.json()
    assert state["aware_at"].startswith("2026-03-28T21:30:00")  # no offset: the hospital's time zone
    assert [(r["kind"], r["due_local"]) for r in state["reports"]][:1] == [("early_warning", "2026-03-29 23:30 CEST")]
    assert state["details"] == {"contact": "RSSI 01 23 45 67 89", "status": "ongoing"}
    assert client.post(base, json={}, headers=analyst).status_code == 409  # already flagged
    patched = client.patch(base, json={"cross_border": True, "details": {"root_cause": "VPN sans MFA", "contact": ""}},
                           headers=analyst)
    assert patched.status_code == 200 and patched.json()["details"] == {"status": "ongoing", "root_cause": "VPN sans MFA"}
    draft = client.get(f"{base}/reports/final", params={"lang": "fr"}, headers=hospital)
    assert draft.status_code == 200 and "attachment" in draft.headers["content-disposition"]
    fields = {f["id"]: f for f in draft.json()["fields"]}
    assert fields["root_cause"]["value"] == "VPN sans MFA" and fields["contact"]["missing"]
    assert draft.json()["progress_report"] is True
    assert client.get(f"{base}/reports/weekly", headers=viewer).status_code == 422
    deadlines = client.get("/api/v1/nis2/deadlines", headers=viewer).json()
    assert {d["case_id"] for d in deadlines} == {case_id} and deadlines[0]["kind"] == "early_warning"
    assert client.get("/api/v1/nis2/deadlines", headers=as_("sud", "viewer", "chu-sud")).json() == []
    sent = client.post(f"{base}/reports/early_warning/sent", json={"at": "2026-03-29T10:00:00+02:00"}, headers=analyst)
    assert sent.status_code == 200 and sent.json()["reports"][0]["countdown"] == "submitted"
    assert client.post(f"{base}/reports/early_warning/sent", headers=analyst).status_code == 409  # already sent
    asked = client.post(f"{base}/intermediate", json={"due": "2026-04-10T12:00:00+02:00"}, headers=analyst)
    assert asked.status_code == 201
    assert "intermediate" in [r["kind"] for r in client.get(base, headers=viewer).json()["reports"]]
    assert client.get(f"/api/v1/cases/{other}/nis2", headers=viewer).status_code == 404

    services = f"/api/v1/cases/{case_id}/services"
    down = client.post(services, json={"service": "Imagerie", "status": "down", "at": "2026-03-28T22:00:00Z"},
                       headers=hospital)
    assert down.status_code == 201 and down.json()[0]["current"] == "down"
    up = client.post(services, json={"service": "Imagerie", "status": "up", "at": "2026-03-29T04:00:00Z"},
                     headers=hospital).json()
    assert up[0]["recovery_seconds"] == 6 * 3600
    assert client.post(services, json={"service": "Imagerie", "status": "broken"}, headers=hospital).status_code == 422
    assert client.post(services, json={"service": "Imagerie", "status": "up"}, headers=viewer).status_code == 403
    assert client.get(f"/api/v1/cases/{other}/services", headers=viewer).status_code == 404
    assert [s["service"] for s in client.get(services, headers=viewer).json()] == ["Imagerie"]
