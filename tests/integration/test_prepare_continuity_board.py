"""The continuity KPIs over time read from a real event store (Parquet, DuckDB) and the warnings
table: backup success and freshness, restore tests, silent sources and open critical early
warnings per month, values computed by hand; another hospital's events and warnings do not
count; the latest point agrees with the telemetry check run at the same moment."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from hygie.prepare import checks
from hygie.prepare.board import build_board
from hygie.prepare.evidence import load_config, silent_sources
from hygie.prepare.kpis import load_definitions
from hygie.prepare.loader import SHIPPED, load_catalog
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state import intel_assets_store
from hygie.store.state.db import open_database
from hygie.store.state.models_intel import EarlyWarning
from hygie.store.state.prepare_store import PrepareStore
from hygie.store.state.store import StateStore

UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


def _at(month: int, day: int, hour: int) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=timezone.utc)


def _event(tenant: str, key: str, when: datetime, host: str, **fields: object) -> StoredEvent:
    return StoredEvent(tenant, key, when.timestamp(), when.isoformat(), host, "http:test", "json", fields, b"{}")


@pytest.fixture
def world(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    for tenant in ("chu-a", "chu-b"):
        StateStore(engine).ensure_tenant(tenant)
    events = [
        # October: job ehr succeeds on the 30th and 31st, job pacs fails on the 31st
        _event("chu-a", "b1", _at(10, 30, 22), "bk01", backup_job="ehr", backup_result="success"),
        _event("chu-a", "b2", _at(10, 31, 22), "bk01", backup_job="ehr", backup_result="success"),
        _event("chu-a", "b3", _at(10, 31, 23), "bk01", backup_job="pacs", backup_result="failed"),
        _event("chu-a", "b4", _at(11, 19, 22), "bk01", backup_job="ehr", backup_result="success"),
        # a restore test that worked in October, one that failed in November
        _event("chu-a", "r1", _at(10, 15, 10), "bk01", backup_job="ehr", backup_type="restore_test",
               backup_result="success"),
        _event("chu-a", "r2", _at(11, 5, 10), "bk01", backup_job="ehr", backup_type="restore_test",
               backup_result="failed"),
        # two Windows logs: ws1 talks, fs1 went quiet three days before the end
        _event("chu-a", "w1", _at(11, 20, 10), "ws1", Channel="Security", EventID=4624),
        _event("chu-a", "w2", _at(11, 17, 12), "fs1", Channel="Security", EventID=4624),
        # another hospital: failing backups and a silent source that must not count
        _event("chu-b", "x1", _at(11, 19, 22), "bkb", backup_job="ehr", backup_result="failed"),
        _event("chu-b", "x2", _at(11, 1, 1), "old", Channel="Security", EventID=4624),
    ]
    store = EventStore(tmp_path / "events", retention_days=3650)
    store.append(events)
    store.append(events[:2])  # delivered twice: counted once
    store.close()
    intel_assets_store.upsert_kev(engine, [{"cve_id": f"CVE-2026-000{i}", "vendor": "Acme", "product": "x"}
                                           for i in range(1, 7)])
    for tenant in ("chu-a", "chu-b"):
        intel_assets_store.upsert_assets(engine, None, tenant, [{"host": f"{tenant}-srv{i}", "vendor": "Acme",
                                                                 "product": "x"} for i in range(2)])
    ids = {a.host: a.id for t in ("chu-a", "chu-b") for a in intel_assets_store.list_assets(engine, frozenset({t}))}
    with Session(engine) as session, session.begin():
        for tenant, host, cve, rank, level, status, created, updated in (
                # open at Nov 1, resolved on Nov 10
                ("chu-a", "chu-a-srv0", 1, 200, "high", "resolved", _at(10, 10, 0), _at(11, 10, 0)),
                # acknowledged, still open
                ("chu-a", "chu-a-srv0", 2, 100, "high", "acknowledged", _at(11, 5, 0), _at(11, 6, 0)),
                # low rank but levelled critical by the intel stage
                ("chu-a", "chu-a-srv1", 3, 10, "critical", "new", _at(10, 1, 0), None),
                # not critical
                ("chu-a", "chu-a-srv1", 4, 10, "medium", "new", _at(10, 2, 0), None),
                # dismissed without a date: closed since its creation, never counted
                ("chu-a", "chu-a-srv1", 5, 200, "high", "dismissed", _at(10, 2, 0), None),
                ("chu-a", "chu-a-srv0", 6, 150, "high", "new", _at(11, 8, 0), None),
                ("chu-b", "chu-b-srv0", 1, 300, "critical", "new", _at(10, 1, 0), None)):
            session.add(EarlyWarning(tenant_id=tenant, asset_id=ids[host], cve_id=f"CVE-2026-000{cve}", rank=rank,
                                     level=level, reason="test", status=status, created=created, updated=updated))
    telemetry = EventStoreTelemetry(tmp_path / "events")
    yield engine, telemetry
    telemetry.close()
    engine.dispose()


def test_kpis_over_time_from_the_event_store_and_the_warnings(world) -> None:
    engine, telemetry = world
    board = build_board(PrepareStore(engine), load_catalog([SHIPPED]), load_definitions(), "chu-a", UNTIL,
                        count=2, telemetry=telemetry)
    series = board.series_by_key()
    labels = ["2026-10", "2026-11"]
    # Oct 25-31: 2 of 3 runs; Nov 14-20: 1 of 1 (the restore tests are not backup runs)
    assert series["backup_success"].points == list(zip(labels, [66.7, 100.0]))
    assert series["backup_success"].direction == "up" and series["backup_success"].better is True
    # Nov 1 00:00 - Oct 31 22:00; Nov 20 12:00 - Nov 19 22:00
    assert series["backup_age"].points == list(zip(labels, [2.0, 14.0]))
    # last good restore test Oct 15 10:00: 16 d 14 h before Nov 1, 36 d 2 h before Nov 20 12:00
    assert series["restore_test_age"].points == list(zip(labels, [16 * 24 + 14.0, 36 * 24 + 2.0]))
    assert series["restore_test_success"].points == list(zip(labels, [100.0, 0.0]))
    assert series["restore_test_success"].better is False
    # Nov 1: bk01's JSON log talked an hour before; Nov 20 12:00: fs1/Security silent for 72 h
    assert series["silent_sources"].points == list(zip(labels, [0.0, 1.0]))
    # Oct end: CVE-1 (resolved later) and CVE-3 (critical level); Nov 20: CVE-2, CVE-3, CVE-6
    assert series["critical_warnings"].points == list(zip(labels, [2.0, 3.0]))
    assert series["critical_warnings"].latest == board.critical_warnings
    # the latest point is the telemetry check at the same moment
    finding, _silent = silent_sources(telemetry, "chu-a", load_config().silent_sources, UNTIL)
    assert finding.check == checks.SILENT_SOURCES and finding.details["silent"] == 1


def test_sources_last_seen_per_end_matches_the_check(world) -> None:
    """Every source's last event before each end, from one query, is what the telemetry check
    finds when run at that end (a source's last event outside the look-back is left out)."""
    _engine, telemetry = world
    ends = [_at(10, 20, 0), _at(11, 1, 0), _at(11, 18, 0), UNTIL]
    found = telemetry.sources_last_seen("chu-a", ends, 30)
    assert found[_at(10, 20, 0)] == {("bk01", "json"): _at(10, 15, 10)}
    assert found[UNTIL] == {("bk01", "json"): _at(11, 19, 22), ("ws1", "Security"): _at(11, 20, 10),
                            ("fs1", "Security"): _at(11, 17, 12)}
    assert telemetry.sources_last_seen("chu-a", [UNTIL], 1) == {UNTIL: {("bk01", "json"): _at(11, 19, 22),
                                                                        ("ws1", "Security"): _at(11, 20, 10)}}
    config = load_config().silent_sources
    for end in ends:
        _finding, silent = silent_sources(telemetry, "chu-a", config, end)
        cutoff = end - timedelta(hours=config.silent_hours)
        assert sorted(k for k, t in found[end].items() if t < cutoff) == sorted((s.host, s.stream) for s in silent)


def test_weeks_and_another_hospital(world) -> None:
    engine, telemetry = world
    board = build_board(PrepareStore(engine), load_catalog([SHIPPED]), load_definitions(), "chu-b", UNTIL,
                        count=2, unit="week", telemetry=telemetry)
    series = board.series_by_key()
    assert [label for label, _v in series["backup_success"].points] == ["2026-W46", "2026-W47"]
    # chu-b: its one failed run in W47 (Nov 14-20 window), nothing of chu-a
    assert series["backup_success"].points[-1][1] == 0.0
    assert series["backup_age"].points[-1][1] == 30 * 24.0  # runs but no success in 30 days: the floor
    assert series["restore_test_success"].points == [("2026-W46", None), ("2026-W47", None)]
    assert series["critical_warnings"].points == [("2026-W46", 1.0), ("2026-W47", 1.0)]
