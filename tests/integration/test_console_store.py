"""Audit chain, accounts, triage workflow and cases on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from hygie.respond import cases
from hygie.store.state import audit, triage
from hygie.store.state.access import LOCK_AFTER, AccessError
from hygie.store.state.models_access import User
from hygie.store.state.models_audit import AuditEntry
from tests.integration.console_util import PASSWORD, seed


def test_audit_chain_verifies_and_finds_the_edited_entry(state_dsn, tmp_path) -> None:
    seeded = seed(state_dsn, tmp_path)
    engine = seeded.context.engine
    ids = seeded.alert_ids["chu-nord"]
    triage.change_status(engine, None, ids[:2], "acknowledged", "analyst")
    report = audit.verify(engine)
    assert report.ok and report.entries == 5 + 2  # five users created, two status changes
    with Session(engine) as session, session.begin():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 6).values(actor="someone else"))
    report = audit.verify(engine)
    assert not report.ok and report.first_bad_seq == 6 and "hash" in report.reason


def test_audit_chain_finds_removed_entries(state_dsn, tmp_path) -> None:
    engine = seed(state_dsn, tmp_path).context.engine
    with Session(engine) as session, session.begin():
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    assert audit.verify(engine).first_bad_seq == 3
    engine2 = seed(state_dsn.replace("state.db", "state2.db"), tmp_path / "2").context.engine \
        if state_dsn.startswith("sqlite") else None
    if engine2 is not None:  # removing the newest entry is seen through the chain head
        with Session(engine2) as session, session.begin():
            session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
        report = audit.verify(engine2)
        assert not report.ok and report.first_bad_seq == 5


def test_passwords_are_argon2_and_accounts_lock(state_dsn, tmp_path) -> None:
    access = seed(state_dsn, tmp_path).context.access
    with Session(access.engine) as session:
        stored = session.query(User).filter_by(username="analyst").one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    for _ in range(LOCK_AFTER):
        assert access.check_login("analyst", "wrong password", "127.0.0.1")[0] is None
    principal, reason = access.check_login("analyst", PASSWORD, "127.0.0.1")
    assert principal is None and reason == "locked"  # the right password no longer opens it
    assert access.check_login("viewer", PASSWORD, "127.0.0.1")[0] is not None
    assert access.check_login("nobody", PASSWORD, "127.0.0.1") == (None, "unknown user")


def test_api_tokens_narrow_and_never_widen(state_dsn, tmp_path) -> None:
    access = seed(state_dsn, tmp_path).context.access
    with pytest.raises(AccessError):
        access.create_token("hospital", "analyst", "chu-nord", "more rights", "test")
    with pytest.raises(AccessError):
        access.create_token("analyst", "analyst", "chu-sud", "foreign tenant", "test")
    with pytest.raises(AccessError):
        access.create_token("analyst", "analyst", None, "every tenant", "test")
    token = access.create_token("admin", "viewer", "chu-sud", "read one", "test")
    principal = access.token_principal(token)
    assert principal is not None and principal.role == "viewer" and principal.tenants == {"chu-sud"}
    assert access.token_principal(token + "x") is None


def test_status_workflow(state_dsn, tmp_path) -> None:
    engine = seed(state_dsn, tmp_path).context.engine
    first = triage.list_alerts(engine, frozenset({"chu-nord"}), triage.AlertFilter())[0][0].id
    with pytest.raises(triage.TriageError, match="reason"):
        triage.change_status(engine, None, [first], "closed", "a")
    assert triage.change_status(engine, None, [first], "closed", "a", "false_positive") == [first]
    with pytest.raises(triage.TriageError, match="cannot become"):
        triage.change_status(engine, None, [first], "acknowledged", "a")
    row = triage.get_alert(engine, None, first)
    assert row is not None and row.closed is not None and row.acknowledged is not None
    assert triage.change_status(engine, frozenset({"chu-sud"}), [first], "in_progress", "a") == []


def test_cases_collect_observables_and_stay_in_their_tenant(state_dsn, tmp_path) -> None:
    seeded = seed(state_dsn, tmp_path)
    engine, nord, sud = seeded.context.engine, seeded.alert_ids["chu-nord"], seeded.alert_ids["chu-sud"]
    with pytest.raises(cases.CaseError, match="one hospital"):
        cases.create_case(engine, None, [nord[0], sud[0]], "admin")
    assert cases.create_case(engine, frozenset({"chu-nord"}), [sud[0]], "analyst") is None
    case_id = cases.create_case(engine, frozenset({"chu-nord"}), nord[:2], "analyst", "Shadow copies")
    assert case_id is not None
    assert cases.add_note(engine, frozenset({"chu-nord"}), case_id, "PC isolated", "analyst")
    assert not cases.add_note(engine, frozenset({"chu-sud"}), case_id, "intruder", "sud")
    view = cases.get_case(engine, frozenset({"chu-nord"}), case_id)
    assert view is not None and view.case.severity == "critical"
    kinds = {(o.kind, o.value) for o in view.observables}
    assert {("host", "CHU-NORD-PC0"), ("host", "CHU-NORD-PC1"), ("user", "chu-nord-user"),
            ("ip", "10.1.2.3")} <= kinds
    assert [e.kind for e in view.timeline] == ["created", "alert", "alert", "note"]
    assert cases.get_case(engine, frozenset({"chu-sud"}), case_id) is None
