"""The state store on SQLite and on a real PostgreSQL: migrations, tokens, idempotent alerts,
grouping, quarantine, and reads that never cross tenants."""

from __future__ import annotations

from sqlalchemy import inspect

from hygie.core.alert import Alert
from hygie.store.state.db import migrate, open_database
from hygie.store.state.store import RecordResult, StateStore


def _alert(rule: str = "r1", host: str = "WS1", offset: int = 0) -> Alert:
    return Alert(rule, "Shadow copies deleted", "high", ["attack.impact"], "2026-11-20T07:00:00Z",
                 host, "http:a", offset, {"CommandLine": "vssadmin delete shadows"})


def _result(tenant: str, key: str, *alerts: Alert) -> RecordResult:
    return RecordResult(tenant, key, "http:" + tenant, "json", 1_790_000_000.0, list(alerts),
                        event={"CommandLine": "vssadmin delete shadows"})


def test_migrations_create_the_schema_and_are_idempotent(state_dsn) -> None:
    engine = open_database(state_dsn)
    migrate(engine)  # a second run changes nothing
    tables = set(inspect(engine).get_table_names())
    assert {"tenants", "ingest_tokens", "alerts", "alert_keys", "quarantine", "alembic_version"} <= tables
    engine.dispose()


def test_tokens_are_hashed_and_name_their_tenant(state_dsn) -> None:
    store = StateStore(open_database(state_dsn))
    store.ensure_tenant("chu-a")
    token = store.create_ingest_token("chu-a", "fluent-bit")
    assert store.tenant_for_token(token) == "chu-a"
    assert store.tenant_for_token(token + "x") is None
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash FROM ingest_tokens").scalar_one()
    assert token not in stored and len(stored) == 64
    store.engine.dispose()


def test_a_batch_stored_twice_adds_nothing(state_dsn) -> None:
    store = StateStore(open_database(state_dsn))
    store.ensure_tenant("chu-a")
    batch = [_result("chu-a", "k1", _alert("r1", "WS1")), _result("chu-a", "k2", _alert("r2", "WS2"))]
    assert store.store_results(batch) == (2, 0)
    assert store.store_results(batch) == (0, 0)  # redelivered after a crash
    assert store.alert_count(["chu-a"]) == 2
    store.engine.dispose()


def test_repeats_of_a_rule_on_a_host_are_grouped(state_dsn) -> None:
    store = StateStore(open_database(state_dsn))
    store.ensure_tenant("chu-a")
    store.store_results([_result("chu-a", f"k{i}", _alert("r1", "WS1")) for i in range(5)])
    store.store_results([_result("chu-a", "other-host", _alert("r1", "WS9"))])
    rows = store.alerts(["chu-a"])
    assert sorted((row.host, row.count) for row in rows) == [("WS1", 5), ("WS9", 1)]
    store.engine.dispose()


def test_quarantine_keeps_reason_and_payload_once(state_dsn) -> None:
    store = StateStore(open_database(state_dsn))
    store.ensure_tenant("chu-a")
    bad = _result("chu-a", "bad1")
    bad.quarantine_reason, bad.payload = "not JSON: unexpected character", b"{oops"
    store.store_results([bad])
    store.store_results([bad])
    rows = store.quarantine(["chu-a"])
    assert [(r.reason, r.payload) for r in rows] == [("not JSON: unexpected character", b"{oops")]
    store.engine.dispose()


def test_reads_never_cross_tenants(state_dsn) -> None:
    store = StateStore(open_database(state_dsn))
    for tenant in ("chu-a", "chu-b"):
        store.ensure_tenant(tenant)
    store.store_results([_result("chu-a", "k1", _alert()), _result("chu-b", "k1", _alert())])
    bad = _result("chu-b", "bad")
    bad.quarantine_reason = "x"
    store.store_results([bad])
    assert {row.tenant_id for row in store.alerts(["chu-a"])} == {"chu-a"}
    assert store.alert_count(["chu-b"]) == 1  # same record key, other tenant: its own alert
    assert store.quarantine(["chu-a"]) == []
    store.engine.dispose()
