"""The Prepare tables on SQLite and PostgreSQL: migration 0003 matches the models, answers keep
their history, evidence files are kept by content hash, telemetry proposals are confirmed or
overridden with who/when/what, and no read crosses tenants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, update

from hygie.core.alert import Alert
from hygie.store.state.db import MIGRATIONS, migrate, open_database
from hygie.store.state.models import AlertRow, Base
from hygie.store.state.prepare_store import NotFound, PrepareStore
from hygie.store.state.store import RecordResult, StateStore

TABLES = {"assessment_campaigns", "assessment_answers", "assessment_evidence", "assessment_proposals"}
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def stores(state_dsn, tmp_path: Path):
    engine = open_database(state_dsn)
    state = StateStore(engine)
    for tenant in ("chu-a", "chu-b"):
        state.ensure_tenant(tenant)
    yield state, PrepareStore(engine, tmp_path / "evidence")
    engine.dispose()


def test_migration_matches_the_models_and_downgrades(state_dsn) -> None:
    engine = open_database(state_dsn)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if any(t in str(d) for t in TABLES)] == []
    _downgrade(engine, "0002")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def _downgrade(engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_answers_keep_their_history_and_the_latest_wins(stores) -> None:
    _, prepare = stores
    campaign = prepare.create_campaign("chu-a", ["care", "cis"], "medium", beds=420, sites=2,
                                       it_staff=9, by="rssi")
    for minutes, value in ((0, "1"), (5, "2"), (10, "0")):
        prepare.record_answer("chu-a", campaign.id, "care.ad.1", value, "rssi",
                              when=T0 + timedelta(minutes=minutes))
    prepare.record_answer("chu-a", campaign.id, "cis.6.4", "3", "dsi", note="VPN with TOTP",
                          when=T0)
    latest = prepare.latest_answers("chu-a", campaign.id)
    assert {q: a.value for q, a in latest.items()} == {"care.ad.1": "0", "cis.6.4": "3"}
    history = prepare.answer_history("chu-a", campaign.id, "care.ad.1")
    assert [a.value for a in history] == ["1", "2", "0"]
    assert latest["cis.6.4"].note == "VPN with TOTP"
    with pytest.raises(NotFound):
        prepare.close_campaign("chu-b", campaign.id, by="intruder")
    assert prepare.close_campaign("chu-a", campaign.id, by="rssi") is True
    assert prepare.close_campaign("chu-a", campaign.id, by="rssi") is False  # already closed
    with pytest.raises(ValueError, match="closed"):
        prepare.record_answer("chu-a", campaign.id, "care.ad.1", "3", "rssi")
    with pytest.raises(ValueError, match="closed"):
        prepare.add_proposal("chu-a", campaign.id, "care.ad.1", "sysmon_coverage", "3", "proof", T0)
    assert prepare.campaign("chu-a", campaign.id).beds == 420
    from hygie.store.state import audit
    closes = [e for e in audit.entries(prepare.engine, ["chu-a", "chu-b"]) if e.action == "assessment.campaign.close"]
    assert [(e.actor, e.target, e.tenant_id) for e in closes] == [("rssi", f"campaign:{campaign.id}", "chu-a")]


def test_campaigns_never_cross_tenants(stores) -> None:
    _, prepare = stores
    mine = prepare.create_campaign("chu-a", ["care"], "small")
    prepare.record_answer("chu-a", mine.id, "care.ad.1", "2", "rssi")
    with pytest.raises(NotFound):
        prepare.latest_answers("chu-b", mine.id)
    with pytest.raises(NotFound):
        prepare.record_answer("chu-b", mine.id, "care.ad.1", "0", "intruder")
    with pytest.raises(NotFound):
        prepare.campaign("chu-b")  # chu-b has no open campaign
    assert prepare.campaigns("chu-b") == []
    with pytest.raises(NotFound):
        prepare.create_campaign("chu-z", ["care"], "small")


def test_previous_campaign_is_the_one_before(stores) -> None:
    _, prepare = stores
    first = prepare.create_campaign("chu-a", ["care"], "medium", when=T0)
    second = prepare.create_campaign("chu-a", ["care"], "medium", when=T0 + timedelta(days=180))
    prepare.create_campaign("chu-b", ["care"], "medium", when=T0 + timedelta(days=90))
    assert prepare.previous_campaign("chu-a", second.id).id == first.id
    assert prepare.previous_campaign("chu-a", first.id) is None
    assert prepare.campaign("chu-a").id == second.id  # latest open one


def test_evidence_files_are_kept_once_by_content(stores, tmp_path: Path) -> None:
    _, prepare = stores
    campaign = prepare.create_campaign("chu-a", ["care"], "medium")
    report = tmp_path / "audit-ad.pdf"
    report.write_bytes(b"%PDF-1.7 audit")
    copy = tmp_path / "copy.pdf"
    copy.write_bytes(b"%PDF-1.7 audit")
    one = prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi", file=report)
    two = prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi", file=copy)
    prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi", url="https://intranet/ad",
                         note="PingCastle report")
    prepare.add_evidence("chu-a", campaign.id, "care.gov.3", "dir", note="exercise of 12 May")
    assert one.sha256 == two.sha256 and one.filename == "audit-ad.pdf" and one.size == 14
    stored = prepare.evidence_path(one.sha256)
    assert stored.read_bytes() == b"%PDF-1.7 audit"
    assert len([p for p in stored.parent.iterdir()]) == 1
    kinds = [(e.kind, e.question_id) for e in prepare.evidence("chu-a", campaign.id)]
    assert kinds == [("file", "care.ad.1"), ("file", "care.ad.1"), ("link", "care.ad.1"),
                     ("note", "care.gov.3")]
    with pytest.raises(NotFound):
        prepare.evidence("chu-b", campaign.id)
    with pytest.raises(ValueError):
        prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi")
    # deleting one of two rows with the same content keeps the file; the last one removes it
    prepare.delete_evidence("chu-a", one.id, "rssi")
    assert stored.exists()
    prepare.delete_evidence("chu-a", two.id, "rssi")
    assert not stored.exists()
    with pytest.raises(NotFound):
        prepare.delete_evidence("chu-b", two.id + 1, "intruder")  # the link, seen from another tenant
    with pytest.raises(NotFound):
        prepare.find("evidence", frozenset({"chu-b"}), two.id + 1)
    assert prepare.find("evidence", None, two.id + 1).url == "https://intranet/ad"
    for bad in ("javascript:alert(1)", "file:///etc/passwd", "https://", "http://a b"):
        with pytest.raises(ValueError, match="http"):
            prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi", url=bad)
    prepare.close_campaign("chu-a", campaign.id)
    with pytest.raises(ValueError, match="closed"):
        prepare.delete_evidence("chu-a", two.id + 1, "rssi")
    with pytest.raises(ValueError, match="closed"):
        prepare.add_evidence("chu-a", campaign.id, "care.ad.1", "rssi", note="late")


def test_proposals_are_confirmed_or_overridden_with_a_record(stores) -> None:
    _, prepare = stores
    campaign = prepare.create_campaign("chu-a", ["care"], "medium")
    sysmon = prepare.add_proposal("chu-a", campaign.id, "care.workstations.1", "sysmon_coverage",
                                  "2", "8 of 10 (80 %) Windows hosts sent Sysmon events", T0,
                                  {"share": 0.8})
    vpn = prepare.add_proposal("chu-a", campaign.id, "care.remote.2", "vpn_mfa", "1",
                               "3 of 4 VPN logins used a second factor", T0)
    confirmed = prepare.decide("chu-a", sysmon.id, "rssi")
    assert (confirmed.value, confirmed.origin, confirmed.proposal_id) == ("2", "telemetry", sysmon.id)
    with pytest.raises(ValueError, match="reason"):
        prepare.decide("chu-a", vpn.id, "dsi", value="3")
    with pytest.raises(NotFound):
        prepare.decide("chu-b", vpn.id, "intruder", value="3", reason="x")
    overridden = prepare.decide("chu-a", vpn.id, "dsi", value="3",
                                reason="the 4th login is the vendor's break-glass account")
    assert (overridden.value, overridden.origin) == ("3", "override")
    assert "break-glass" in overridden.note and "vpn_mfa" in overridden.note
    decided = {p.id: p for p in prepare.proposals("chu-a", campaign.id)}
    assert (decided[vpn.id].status, decided[vpn.id].decided_by, decided[vpn.id].final_value,
            decided[vpn.id].value) == ("overridden", "dsi", "3", "1")
    assert decided[vpn.id].decided is not None and decided[sysmon.id].status == "confirmed"
    assert prepare.proposals("chu-a", campaign.id, "pending") == []
    with pytest.raises(ValueError, match="already"):
        prepare.decide("chu-a", sysmon.id, "rssi")
    assert prepare.latest_answers("chu-a", campaign.id)["care.remote.2"].value == "3"


def test_alert_timings_read_triage_timestamps(stores) -> None:
    state, prepare = stores
    alert = Alert("r1", "Shadow copies deleted", "high", ["attack.impact"],
                  "2026-11-02T07:58:00Z", "WS1", "http:a", 0, {})
    state.store_results([RecordResult("chu-a", "k1", "http:a", "json", T0.timestamp(), [alert]),
                         RecordResult("chu-b", "k1", "http:b", "json", T0.timestamp(), [alert])])
    with state.engine.begin() as connection:
        connection.execute(update(AlertRow).where(AlertRow.tenant_id == "chu-a").values(
            first_seen=T0, acknowledged=T0 + timedelta(minutes=20),
            closed=T0 + timedelta(hours=2), status="closed"))
    timings = prepare.alert_timings("chu-a", T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert len(timings) == 1
    timing = timings[0]
    assert timing.acknowledged - timing.first_seen == timedelta(minutes=20)
    assert timing.closed.tzinfo is not None and timing.tags == ("attack.impact",)
    assert prepare.alert_timings("chu-a", T0 + timedelta(days=1)) == []
