"""The required end-to-end test: Hygie's ransomware playbook on a case, against real SMTP,
LDAP (slapd) and HTTP peers on 127.0.0.1, with a dry run, approvals, idempotence, rollback,
and the audit chain verified at the end (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from hygie.core.alert import Alert
from hygie.respond import cases, policy, runs
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks import load_library
from hygie.respond.secrets import SecretStore, load_key
from hygie.store.state import audit
from hygie.store.state.db import open_database
from hygie.store.state.store import RecordResult, StateStore
from tests.integration.respond_peers import ADMIN_DN, BASE_DN, HttpRecorder, Slapd, SmtpPeer

PEOPLE = f"ou=people,{BASE_DN}"
PRIVILEGED = [f"cn=domain-admins,ou=groups,{BASE_DN}", f"cn=pacs-admins,ou=groups,{BASE_DN}"]
SECRETS = {"smtp-password": "smtp-Secret-1", "hmac": "hmac-Secret-2", "fw-token": "fw-Secret-3",
           "edr-token": "edr-Secret-4"}


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    server = Slapd(tmp_path_factory.mktemp("slapd-e2e")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def peers(slapd):
    """A fresh directory content per test (the slapd process is shared by the module)."""
    from ldap3 import SUBTREE, Connection, Server

    with Connection(Server(slapd.url), ADMIN_DN, slapd.password, auto_bind=True) as conn:
        conn.search(BASE_DN, "(objectClass=*)", SUBTREE, attributes=["cn"])
        for dn in sorted((e["dn"] for e in conn.response if e.get("type") == "searchResEntry"), key=len, reverse=True):
            conn.delete(dn)
    slapd.seed()
    smtp = SmtpPeer(password=SECRETS["smtp-password"]).start()
    http = HttpRecorder(hmac_secret=SECRETS["hmac"]).start()
    yield slapd, smtp, http
    smtp.stop()
    http.stop()


def seed_case(dsn: str) -> tuple[object, int, int]:
    engine = open_database(dsn)
    state = StateStore(engine)
    state.ensure_tenant("chu-nord", "CH de Saint-Aurèle")
    alert = Alert(rule_id="ransomware-shadow-copy", title="Shadow copies deleted", level="critical",
                  tags=["attack.t1490"], time="2026-11-23T08:00:00Z", host="PC-RADIO-01", source="http", offset=0,
                  matched={"CommandLine": "vssadmin delete shadows /all"})
    state.store_results([RecordResult(tenant="chu-nord", record_key="r1", source="http", kind="json", received=0.0,
                                      alerts=[alert], payload=b"{}",
                                      event={"Computer": "PC-RADIO-01", "User": "alice", "IpAddress": "203.0.113.7"})])
    alert_id = state.alerts(["chu-nord"])[0].id
    case_id = cases.create_case(engine, None, [alert_id], "analyst", severity="critical")
    assert case_id is not None
    return engine, alert_id, case_id


def toolkit_for(engine, tmp_path, slapd: Slapd, smtp: SmtpPeer, http: HttpRecorder) -> Toolkit:
    secrets = SecretStore(engine, load_key(tmp_path / "data"))
    for name, value in {**SECRETS, "ldap-password": slapd.password}.items():
        secrets.set("chu-nord", name, value, "admin")
    settings = {"defaults": {}, "tenants": {"chu-nord": {
        "email": {"host": "127.0.0.1", "port": smtp.port, "sender": "hygie@chu.test", "username": "hygie",
                  "password": {"secret": "smtp-password"}},
        "ldap": {"url": slapd.url, "bind_dn": ADMIN_DN, "password": {"secret": "ldap-password"}, "base_dn": PEOPLE,
                 "strategy": "attribute", "disable_attribute": "shadowExpire", "disabled_value": "1",
                 "object_class": "shadowAccount", "privileged_groups": PRIVILEGED},
        "edr": {"kind": "generic", "base_url": http.url, "token": {"secret": "edr-token"},
                "isolate": {"method": "POST", "path": "/hosts/{host}/isolate"},
                "release": {"method": "POST", "path": "/hosts/{host}/release"}},
        "firewall": {"base_url": http.url, "token": {"secret": "fw-token"},
                     "block": {"method": "POST", "path": "/blocklist"},
                     "unblock": {"method": "DELETE", "path": "/blocklist/{address}"}},
        "ticket": {"url": f"{http.url}/tickets", "secret": {"secret": "hmac"}}}}}
    return Toolkit(load_library(), settings, secrets, default_timeout=10)


def waiting_step(engine, run_id: int):
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "waiting", (view.run.status, view.run.error)
    return [s for s in view.steps if s.status == "awaiting_approval"][0]


def test_ransomware_playbook_end_to_end(state_dsn, tmp_path, peers) -> None:
    slapd, smtp, http = peers
    engine, alert_id, case_id = seed_case(state_dsn)
    toolkit = toolkit_for(engine, tmp_path, slapd, smtp, http)
    playbook = toolkit.library.get("ransomware_workstation")
    assert playbook is not None
    policy.set_auto(engine, None, "chu-nord", "email.send", True, "admin")  # the tenant lets email go alone

    # 1. dry run: every step says what it would do; nothing reaches a peer, nothing waits
    dry = runs.start_run(engine, frozenset({"chu-nord"}), toolkit, playbook.id, "analyst", case_id=case_id, dry_run=True)
    view = runs.get_run(engine, None, dry)
    assert view is not None and view.run.status == "done"
    actions_seen = {s.name: s for s in view.steps if s.step_type == "action"}
    assert {s.status for s in actions_seen.values()} == {"dry_run"}
    assert "would" in actions_seen["Disable the account"].result["outcomes"][0]["summary"]
    assert not smtp.messages and not http.requests
    assert not slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"]).get("shadowExpire")

    # 2. the real run: email goes at once (auto-approved), the rest waits for the analyst
    run_id = runs.start_run(engine, frozenset({"chu-nord"}), toolkit, playbook.id, "analyst", case_id=case_id)
    assert len(smtp.messages) == 1 and b"PC-RADIO-01" in smtp.messages[0][2]
    approved = []
    for _ in range(10):
        view = runs.get_run(engine, None, run_id)
        assert view is not None
        if view.run.status != "waiting":
            break
        step = waiting_step(engine, run_id)
        approved.append(step.name)
        runs.decide(engine, frozenset({"chu-nord"}), toolkit, run_id, step.id, "analyst", approve=True)
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "done", view.run.error
    assert approved == ["Isolate the workstation", "Disable the account", "Remove the account from privileged groups",
                        "Confirm the workstation is unplugged", "Block the attacker's address", "Open an incident ticket"]
    assert "/hosts/PC-RADIO-01/isolate" in http.paths("POST") and "/blocklist" in http.paths("POST")
    ticket = [r for r in http.requests if r.path == "/tickets"][0]
    assert http.bad_signatures == 0 and ticket.json()["data"]["title"] == "Ransomware on PC-RADIO-01"
    assert slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"])["shadowExpire"] == 1
    for group in PRIVILEGED:
        assert f"uid=alice,{PEOPLE}" not in slapd.entry(group, ["member"])["member"]
    condition = [s for s in view.steps if s.step_type == "if-condition"][0]
    assert condition.result == {"condition": True}

    # 3. idempotence: the same playbook again on the same case does not redo what is done
    again = runs.start_run(engine, None, toolkit, playbook.id, "analyst", case_id=case_id)
    again_view = runs.get_run(engine, None, again)
    assert again_view is not None and again_view.steps[-1].status == "awaiting_approval"
    assert [s.status for s in again_view.steps if s.name == "Warn the SOC on-call"] == ["skipped"]
    assert len(smtp.messages) == 1
    step = waiting_step(engine, again)
    runs.decide(engine, None, toolkit, again, step.id, "analyst", approve=True)  # isolate again: skipped
    assert http.paths("POST").count("/hosts/PC-RADIO-01/isolate") == 1
    assert runs.cancel(engine, None, again, "analyst")

    # 4. rollback: the account is enabled and back in its groups, host released, address unblocked
    outcomes = runs.rollback(engine, frozenset({"chu-nord"}), toolkit, run_id, "analyst")
    assert outcomes and all(o.ok for o in outcomes), [o.summary for o in outcomes]
    assert not slapd.entry(f"uid=alice,{PEOPLE}", ["shadowExpire"]).get("shadowExpire")
    for group in PRIVILEGED:
        assert f"uid=alice,{PEOPLE}" in slapd.entry(group, ["member"])["member"]
    assert "/hosts/PC-RADIO-01/release" in http.paths("POST")
    assert ("DELETE", "/blocklist/203.0.113.7") in [(r.method, r.path) for r in http.requests]
    assert runs.rollback(engine, None, toolkit, run_id, "analyst") == []  # nothing left to undo

    # 5. the case's timeline tells the story, the audit chain holds, and no secret leaked
    case = cases.get_case(engine, None, case_id)
    assert case is not None
    texts = [e.text for e in case.timeline]
    assert any(t.startswith("Playbook started (dry run)") for t in texts)
    assert any(t.startswith("Step approved: Disable the account") for t in texts)
    assert any(t.startswith("Action done: Isolate the workstation") for t in texts)
    assert any(t.startswith("Rollback done: Disable the account") for t in texts)
    report = audit.verify(engine)
    assert report.ok, report.reason
    entries = audit.entries(engine, None, limit=1000)
    assert {"respond.run.start", "respond.step.approve", "respond.action", "respond.rollback"} <= {e.action for e in entries}
    dump = json.dumps([e.detail for e in entries]) + " ".join(texts)
    assert not any(secret in dump for secret in SECRETS.values())


def test_reject_timeout_and_other_tenant(state_dsn, tmp_path, peers) -> None:
    slapd, smtp, http = peers
    engine, alert_id, case_id = seed_case(state_dsn)
    toolkit = toolkit_for(engine, tmp_path, slapd, smtp, http)
    playbook = toolkit.library.get("ransomware_workstation")
    assert playbook is not None
    # another hospital cannot see, start or approve anything of chu-nord
    StateStore(engine).ensure_tenant("chu-sud")
    with pytest.raises(runs.RunError):
        runs.start_run(engine, frozenset({"chu-sud"}), toolkit, playbook.id, "other", case_id=case_id)
    run_id = runs.start_run(engine, None, toolkit, playbook.id, "analyst", case_id=case_id)
    step = waiting_step(engine, run_id)  # the email: not auto-approved for this tenant
    assert runs.get_run(engine, frozenset({"chu-sud"}), run_id) is None
    with pytest.raises(runs.RunError):
        runs.decide(engine, frozenset({"chu-sud"}), toolkit, run_id, step.id, "other", approve=True)
    assert runs.pending_approvals(engine, frozenset({"chu-sud"})) == []
    runs.decide(engine, None, toolkit, run_id, step.id, "analyst", approve=False)  # rejected: skipped
    assert not smtp.messages
    http.delay = 2.0  # the EDR now answers too slowly for the step's timeout
    toolkit.default_timeout = 0.5
    playbook.data["workflow"] = {k: ({**v, "timeout": 500} if v.get("name") == "Isolate the workstation" else v)
                                 for k, v in playbook.data["workflow"].items()}
    isolate = waiting_step(engine, run_id)
    assert isolate.name == "Isolate the workstation"
    runs.decide(engine, None, toolkit, run_id, isolate.id, "analyst", approve=True)
    view = runs.get_run(engine, None, run_id)
    assert view is not None and view.run.status == "failed"
    failed = [s for s in view.steps if s.status == "failed"][0]
    assert "timed out" in failed.result["outcomes"][0]["summary"] or "ReadTimeout" in failed.result["outcomes"][0]["summary"]
    with pytest.raises(runs.RunError):
        runs.decide(engine, None, toolkit, run_id, isolate.id, "analyst", approve=True)  # not waiting any more
    assert audit.verify(engine).ok


def test_triggers_start_a_playbook_once(state_dsn, tmp_path, peers) -> None:
    slapd, smtp, http = peers
    engine, alert_id, case_id = seed_case(state_dsn)
    toolkit = toolkit_for(engine, tmp_path, slapd, smtp, http)
    playbook = toolkit.library.get("ransomware_workstation")
    assert playbook is not None
    policy.add_trigger(engine, None, "chu-nord", playbook.id, "admin", min_severity="high")
    policy.add_trigger(engine, None, "chu-nord", playbook.id, "admin", rule_id="ransomware-shadow-copy")
    with pytest.raises(policy.PolicyError):
        policy.add_trigger(engine, None, "chu-nord", playbook.id, "admin")
    started = policy.fire(engine, toolkit, [alert_id])
    assert len(started) == 1  # two triggers, one playbook: one run
    view = runs.get_run(engine, None, started[0])
    assert view is not None and view.run.trigger.startswith(("severity", "rule")) and view.run.case_id == case_id
    assert policy.fire(engine, toolkit, [alert_id]) == []  # already run on that case
    assert audit.verify(engine).ok
