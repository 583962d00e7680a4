"""The response policy through ``/api/v1/tenants/{tenant}/response-policy``: what the console's
policy page does (actions allowed without approval, triggers, connector secrets), with roles,
tenant scoping, audit, secrets never returned, and 4xx answers to bad input."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hygie.respond import policy
from hygie.store.state import audit
from tests.integration.console_util import app_for, seed

BASE = "/api/v1/tenants/chu-nord/response-policy"


def test_the_policy_page_is_in_the_api(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    engine = seeded.context.engine
    client = TestClient(app_for(seeded))

    def as_(username: str, role: str, tenant: str = "chu-nord") -> dict[str, str]:
        return {"Authorization": "Bearer " + seeded.context.access.create_token(username, role, tenant, "t", "admin")}
    analyst, viewer, sud = as_("analyst", "analyst"), as_("viewer", "viewer"), as_("sud", "hospital", "chu-sud")

    start = client.get(BASE, headers=viewer).json()
    assert start["tenant"] == "chu-nord" and start["triggers"] == [] and start["secrets"] == []
    assert {a["name"] for a in start["actions"]} >= {"email.send", "ldap.disable_user"}
    assert not any(a["automatic"] for a in start["actions"])

    body = {"action": "email.send", "automatic": True}
    assert client.put(BASE + "/automatic", json=body, headers=viewer).status_code == 403
    assert client.put(BASE + "/automatic", json={"action": "rm -rf", "automatic": True},
                      headers=analyst).status_code == 422
    assert client.put(BASE + "/automatic", json=body, headers=analyst).json()["automatic"] is True
    assert policy.allowed_actions(engine, frozenset({"chu-nord"}), "chu-nord") == {"email.send"}
    assert client.put("/api/v1/tenants/chu-sud/response-policy/automatic", json=body,
                      headers=analyst).status_code == 404  # another hospital
    assert policy.allowed_actions(engine, frozenset({"chu-sud"}), "chu-sud") == set()

    trigger = {"playbook": "ransomware_workstation", "min_severity": "critical"}
    assert client.post(BASE + "/triggers", json={"playbook": "ransomware_workstation"},
                       headers=analyst).status_code == 422  # neither a rule nor a severity
    assert client.post(BASE + "/triggers", json={**trigger, "playbook": "nope"}, headers=analyst).status_code == 422
    created = client.post(BASE + "/triggers", json=trigger, headers=analyst)
    assert created.status_code == 201
    listed = client.get(BASE, headers=viewer).json()["triggers"]
    assert [t["id"] for t in listed] == [created.json()["id"]] and listed[0]["min_severity"] == "critical"
    assert listed[0]["playbook"] != "ransomware_workstation"  # stored by its CACAO id, not the file name
    gone = f"/api/v1/response-policy/triggers/{created.json()['id']}"
    assert client.delete(gone, headers=sud).status_code == 404
    assert client.delete(gone, headers=viewer).status_code == 403
    assert client.delete(gone, headers=analyst).status_code == 204
    assert client.delete(gone, headers=analyst).status_code == 404

    secret = {"name": "smtp-password", "value": "s3cr3t-value"}
    assert client.put(BASE + "/secrets", json=secret, headers=viewer).status_code == 403
    assert client.put(BASE + "/secrets", json={"name": "", "value": "x"}, headers=analyst).status_code == 422
    assert client.put(BASE + "/secrets", json=secret, headers=analyst).status_code == 204
    page = client.get(BASE, headers=viewer)
    assert page.json()["secrets"] == ["smtp-password"] and "s3cr3t-value" not in page.text
    assert client.delete(BASE + "/secrets/smtp-password", headers=viewer).status_code == 403
    assert client.delete("/api/v1/tenants/chu-sud/response-policy/secrets/smtp-password",
                         headers=analyst).status_code == 404
    assert client.delete(BASE + "/secrets/smtp-password", headers=analyst).status_code == 204
    assert client.get(BASE, headers=viewer).json()["secrets"] == []

    actions = {entry.action for entry in audit.entries(engine, None)}
    assert {"respond.auto", "respond.trigger.add", "respond.trigger.remove", "respond.secret.delete"} <= actions
    assert audit.verify(engine).ok
