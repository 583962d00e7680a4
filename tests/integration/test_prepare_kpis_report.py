"""Continuity KPIs from alerts AND cases on fixture rows whose figures were computed by hand
(mean and median time to detect, acknowledge, resolve, per month, with the trend), the share of
assets monitored over time, and the PDFs: the monthly report (KPIs with trends, top risks,
incidents and NIS 2 reports, roadmap progress, radar) and the roadmap (radar, evidence), read
back with pdftotext."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from hygie.prepare import exports
from hygie.prepare.board import build_board
from hygie.prepare.evidence import load_config
from hygie.prepare.kpis import load_definitions
from hygie.prepare.loader import SHIPPED, load_catalog
from hygie.prepare.roadmap import load_costs
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state import intel_assets_store
from hygie.store.state.db import open_database
from hygie.store.state.models import AlertRow
from hygie.store.state.models_cases import Case, CaseAlert, CaseEntry
from hygie.store.state.models_intel import EarlyWarning
from hygie.store.state.models_respond import Nis2Incident, Nis2Report
from hygie.store.state.prepare_store import PrepareStore
from hygie.store.state.store import StateStore

NOV = datetime(2026, 11, 10, tzinfo=timezone.utc)
OCT = datetime(2026, 10, 10, tzinfo=timezone.utc)
UNTIL = datetime(2026, 12, 1, tzinfo=timezone.utc)


def _at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day.replace(hour=hour, minute=minute)


def _alert(session: Session, tenant: str, title: str, first_seen: datetime, event: datetime | None,
           ack: datetime | None = None, closed: datetime | None = None) -> int:
    row = AlertRow(tenant_id=tenant, rule_id=title, title=title, level="high", tags=[], host="h", source="t",
                   event_time=event.isoformat() if event else None, first_seen=first_seen, last_seen=first_seen,
                   status="closed" if closed else "acknowledged" if ack else "new", acknowledged=ack, closed=closed,
                   matched={}, event={})
    session.add(row)
    session.flush()
    return row.id


def _case(session: Session, tenant: str, title: str, created: datetime, alerts: list[int],
          status_at: datetime | None = None, closed: datetime | None = None) -> int:
    case = Case(tenant_id=tenant, title=title, severity="high", status="closed" if closed else "open",
                created_by="analyst", created=created, updated=created, closed=closed,
                close_reason="true_positive" if closed else None)
    session.add(case)
    session.flush()
    for alert_id in alerts:
        session.add(CaseAlert(case_id=case.id, alert_id=alert_id, tenant_id=tenant))
    for moment in (status_at, closed):
        if moment is not None:
            session.add(CaseEntry(case_id=case.id, tenant_id=tenant, created=moment, author="analyst",
                                  kind="status", text="status", data={}))
    return case.id


@pytest.fixture
def world(tmp_path: Path):
    engine = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    state = StateStore(engine)
    for tenant in ("chu-a", "chu-b"):
        state.ensure_tenant(tenant)
    with Session(engine) as session, session.begin():
        # October: one alert detected in 60 min
        _alert(session, "chu-a", "a0", _at(OCT, 1), _at(OCT, 0))
        # November: detect 10 / 30 min; acknowledge 30 / 60 / 5 min; resolve 120 / 60 min
        a1 = _alert(session, "chu-a", "a1", _at(NOV, 8, 10), _at(NOV, 8), _at(NOV, 8, 40), _at(NOV, 10, 10))
        a2 = _alert(session, "chu-a", "a2", _at(NOV, 9, 30), _at(NOV, 9), _at(NOV, 10, 30))
        a3 = _alert(session, "chu-a", "a3", _at(NOV, 12), None, _at(NOV, 12, 5), _at(NOV, 13))
        # cases: c1 (a1, a2) detect 10 min, acknowledged at 08:40 by its alert (30 min), closed 6 h
        # after its first alert; c2 (a3) acknowledged 5 min; c3 without alert, closed after 2 h
        _case(session, "chu-a", "Ransomware on PACS", _at(NOV, 8, 50), [a1, a2], _at(NOV, 9), _at(NOV, 14, 10))
        _case(session, "chu-a", "Phishing wave", _at(NOV, 12, 30), [a3])
        c3 = _case(session, "chu-a", "Lost laptop", _at(NOV, 15), [], None, _at(NOV, 17))
        session.add(Nis2Incident(case_id=c3, tenant_id="chu-a", aware_at=_at(NOV, 15), flagged_by="rssi",
                                 flagged=_at(NOV, 15)))
        session.flush()
        session.add(Nis2Report(case_id=c3, tenant_id="chu-a", kind="early_warning",
                               due=_at(NOV, 15) + timedelta(hours=24), submitted=_at(NOV, 20)))
        # another hospital's slow alert and case must not count
        b1 = _alert(session, "chu-b", "b1", _at(NOV, 8), _at(NOV, 0), _at(NOV, 20), _at(NOV, 22))
        _case(session, "chu-b", "secret of chu-b", _at(NOV, 9), [b1], None, _at(NOV, 23))
    # 4 assets, 3 sending events in November's last week; one known-exploited vulnerability open
    intel_assets_store.upsert_assets(engine, None, "chu-a", [
        {"host": f"srv{i}", "vendor": "Acme", "product": "PACS" if i == 0 else "srv", "exposed": i == 0,
         "criticality": "vital" if i == 0 else "support"} for i in range(4)])
    intel_assets_store.upsert_kev(engine, [{"cve_id": "CVE-2026-0001", "vendor": "Acme", "product": "PACS",
                                            "name": "Acme PACS RCE", "ransomware": "Known"}])
    asset_id = next(a.id for a in intel_assets_store.list_assets(engine, frozenset({"chu-a"})) if a.host == "srv0")
    with Session(engine) as session, session.begin():
        session.add(EarlyWarning(tenant_id="chu-a", asset_id=asset_id, cve_id="CVE-2026-0001", rank=200,
                                 reason="test", status="new", created=_at(NOV, 1)))
    events = EventStore(tmp_path / "events", retention_days=3650)
    events.append([StoredEvent("chu-a", f"e{i}-{d}", (UNTIL - timedelta(days=d, hours=3)).timestamp(), None,
                               f"srv{i}", "t", "json", {"x": 1}, b"{}") for i in range(3) for d in (1, 33)])
    events.close()
    yield engine, tmp_path
    engine.dispose()


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 60, 2)


def test_response_times_from_alerts_and_cases_by_month(world) -> None:
    engine, tmp_path = world
    store = PrepareStore(engine)
    telemetry = EventStoreTelemetry(tmp_path / "events")
    try:
        board = build_board(store, load_catalog([SHIPPED]), load_definitions(), "chu-a",
                            UNTIL - timedelta(microseconds=1), count=2, telemetry=telemetry)
    finally:
        telemetry.close()
    month = board.latest
    assert (_minutes(month["alerts"]["detect"].mean), _minutes(month["alerts"]["detect"].median)) == (20, 20)
    assert _minutes(month["alerts"]["acknowledge"].mean) == round((30 + 60 + 5) / 3, 2)
    assert _minutes(month["alerts"]["acknowledge"].median) == 30
    assert (_minutes(month["alerts"]["resolve"].mean), month["alerts"]["resolve"].count) == (90, 2)
    assert (_minutes(month["cases"]["detect"].mean), month["cases"]["detect"].count) == (10, 1)
    acknowledge = month["cases"]["acknowledge"]
    assert (_minutes(acknowledge.mean), _minutes(acknowledge.median)) == (17.5, 17.5)
    assert (_minutes(month["cases"]["resolve"].mean), _minutes(month["cases"]["resolve"].median)) == (240, 240)
    series = board.series_by_key()
    assert [p for p, _v in series["mttd_alerts"].points] == ["2026-10", "2026-11"]
    assert series["mttd_alerts"].points[0][1] == 1.0 and series["mttd_alerts"].points[1][1] == round(20 / 60, 2)
    assert series["mttd_alerts"].direction == "down" and series["mttd_alerts"].better is True
    assert series["alerts"].points == [("2026-10", 1.0), ("2026-11", 3.0)] and series["alerts"].better is None
    assert series["mttr_cases"].points[0][1] is None  # no case in October: a gap, not a zero
    assert series["assets_monitored"].points == [("2026-10", 75.0), ("2026-11", 75.0)]
    assert (board.assets, board.monitored, board.silent) == (4, 3, ["srv3"])
    assert (board.open_warnings, board.critical_warnings) == (1, 1)


def _pdf_text(data: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext (poppler-utils) is missing", pytrace=False)
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "out.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return " ".join(out.split())


def _campaigns(store: PrepareStore) -> int:
    first = store.create_campaign("chu-a", ["care"], "medium", when=datetime(2026, 6, 1, tzinfo=timezone.utc))
    store.record_answer("chu-a", first.id, "care.gov.3", "1", "rssi")
    store.close_campaign("chu-a", first.id)
    second = store.create_campaign("chu-a", ["care"], "medium", when=datetime(2026, 11, 2, tzinfo=timezone.utc))
    store.record_answer("chu-a", second.id, "care.gov.3", "3", "rssi")
    store.record_answer("chu-a", second.id, "care.ad.1", "0", "rssi")
    store.add_evidence("chu-a", second.id, "care.gov.1", "rssi", data=b"minutes", filename="board-minutes.pdf")
    store.add_evidence("chu-a", second.id, "care.ad.1", "rssi", url="https://intranet.example/ad-audit")
    return second.id


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_monthly_report_pdf(world, lang: str) -> None:
    engine, tmp_path = world
    store = PrepareStore(engine, tmp_path / "evidence")
    _campaigns(store)
    pdf = exports.monthly_report(store, load_catalog([SHIPPED]), load_costs(), load_definitions(), load_config(),
                                 tmp_path / "events", "chu-a", datetime(2026, 11, 1, tzinfo=timezone.utc), UNTIL,
                                 [["attack.impact", "attack.t1486"]], lang)
    text = _pdf_text(pdf, tmp_path)
    words = {
        "fr": ["Rapport mensuel", "Indicateurs et tendances", "Délai moyen de résolution (incidents)",
               "en baisse (mieux)", "Incidents du mois", "Dossiers ouverts", "Ransomware on PACS", "Lost laptop",
               "Déclarations NIS 2", "alerte précoce (24 h)", "Vulnérabilités exploitées non corrigées",
               "CVE-2026-0001", "Écarts les plus importants", "Avancement de la feuille de route",
               "Radar des scores par domaine", "cette campagne", "campagne précédente", "75 %",
               "Âge de la dernière sauvegarde réussie", "Alertes précoces critiques ouvertes",
               "Règles activées face aux techniques du secteur", "T1486 (1)", "cisa-aa24-131a"],
        "en": ["Monthly security and continuity report", "Indicators and trends", "Mean time to resolve (cases)",
               "falling (better)", "Incidents of the month", "Cases opened", "Cases closed", "Ransomware on PACS",
               "NIS 2 reports", "early warning (24 h)", "Unpatched known-exploited vulnerabilities",
               "CVE-2026-0001", "Largest roadmap gaps", "Roadmap progress", "Radar of scores by domain",
               "this campaign", "previous campaign", "asset_coverage", "75 %",
               "Age of the last successful backup", "Sources silent for more than 24 h",
               "Enabled rules against the sector's techniques", "Initial access", "ENISA Threat Landscape"]}[lang]
    for word in words:
        assert word in text, word
    assert "secret of chu-b" not in text
    # the radar's axis labels come from the SVG: CaRE domain titles drawn as text
    assert ("Gouvernance" if lang == "fr" else "Governance") in text


def test_roadmap_pdf_has_radar_and_evidence(world) -> None:
    engine, tmp_path = world
    store = PrepareStore(engine, tmp_path / "evidence")
    campaign = store.campaign("chu-a", _campaigns(store))
    catalog = load_catalog([SHIPPED])
    export = exports.campaign_roadmap(store, catalog, load_costs(), "chu-a", campaign)
    text = _pdf_text(exports.roadmap_pdf(catalog, "chu-a", export, "en"), tmp_path)
    for word in ("Radar of scores by domain", "this campaign", "previous campaign", "Evidence attached",
                 "board-minutes.pdf", "https://intranet.example/ad-audit", "care.ad.1"):
        assert word in text, word


def test_the_service_writes_last_months_report_of_each_hospital_once(world) -> None:
    """``prepare.monthly``: when a month is over, one PDF per hospital and language in the data
    folder; a second pass writes nothing; one hospital's failure does not stop the others."""
    from hygie.prepare.monthly import MonthlyReports, report_path

    engine, tmp_path = world
    asked: list[str] = []

    def tags(tenant: str) -> list[list[str]]:
        asked.append(tenant)
        if tenant == "chu-b":
            raise RuntimeError("chu-b's rules could not be read")
        return [["attack.impact", "attack.t1486"]]

    job = MonthlyReports(engine, tmp_path, tags, langs=("fr",))
    december = datetime(2026, 12, 2, 3, 0, tzinfo=timezone.utc)
    assert job.run(december) == 1  # chu-a; chu-b failed and is logged
    path = report_path(tmp_path, "chu-a", datetime(2026, 11, 1, tzinfo=timezone.utc), "fr")
    assert path.name == "2026-11-fr.pdf" and path.parent.name == "chu-a"
    text = _pdf_text(path.read_bytes(), tmp_path)
    assert "Rapport mensuel" in text and "Ransomware on PACS" in text and "secret of chu-b" not in text
    assert not report_path(tmp_path, "chu-b", datetime(2026, 11, 1, tzinfo=timezone.utc), "fr").exists()
    assert job.run(december) == 0 and asked.count("chu-a") == 1  # written once
    assert not list(path.parent.glob(".*.tmp"))  # no half-written file left
