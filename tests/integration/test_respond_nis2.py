"""NIS 2 on a real state store: flag a case, countdowns, notification moving the final
deadline, continuity of care with recovery time, and the drafted report in French and English
as JSON and as PDF (read back with pdftotext)."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from hygie.respond import cases, continuity, nis2, nis2_report, runs
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks import load_library
from hygie.store.state import audit
from tests.integration.test_respond_ransomware_e2e import seed_case

PARIS = ZoneInfo("Europe/Paris")
AWARE = datetime(2026, 3, 28, 10, 0, tzinfo=PARIS)
# elapsed-time arithmetic in UTC: adding hours to a Paris datetime adds wall-clock time
AWARE_UTC = AWARE.astimezone(timezone.utc)


@pytest.fixture
def flagged(tmp_path):
    engine, alert_id, case_id = seed_case(f"sqlite:///{tmp_path / 'state.db'}")
    assert nis2.flag(engine, frozenset({"chu-nord"}), case_id, "analyst", AWARE, suspected_malicious=True,
                     cross_border=False, summary="Chiffrement du poste de radiologie PC-RADIO-01.")
    return engine, case_id


def test_flag_deadlines_and_countdowns(flagged) -> None:
    engine, case_id = flagged
    with pytest.raises(nis2.Nis2Error):
        nis2.flag(engine, None, case_id, "analyst", AWARE)
    assert not nis2.flag(engine, frozenset({"chu-sud"}), case_id, "x", AWARE)  # invisible case
    now = AWARE_UTC + timedelta(hours=20)
    state = nis2.status(engine, None, case_id, now)
    assert state is not None and [r.kind for r in state.reports] == ["early_warning", "notification", "final"]
    early = state.reports[0]
    assert early.due_local == datetime(2026, 3, 29, 11, 0, tzinfo=PARIS) and early.countdown == "4 h 00 min"
    assert not early.overdue
    late = nis2.status(engine, None, case_id, AWARE_UTC + timedelta(hours=25))
    assert late is not None and late.reports[0].overdue and late.reports[0].countdown == "-1 h 00 min"
    nis2.mark_submitted(engine, None, case_id, "early_warning", "analyst", AWARE_UTC + timedelta(hours=23))
    sent_at = datetime(2026, 3, 30, 16, 0, tzinfo=PARIS)
    nis2.mark_submitted(engine, None, case_id, "notification", "analyst", sent_at)
    state = nis2.status(engine, None, case_id, now)
    assert state is not None
    assert {r.kind: r.due_local for r in state.reports}["final"] == datetime(2026, 4, 30, 16, 0, tzinfo=PARIS)
    nis2.request_intermediate(engine, None, case_id, datetime(2026, 4, 10, 12, 0, tzinfo=PARIS), "analyst")
    pending = nis2.open_deadlines(engine, frozenset({"chu-nord"}), now)
    assert [r.kind for _, r in pending] == ["intermediate", "final"]
    assert nis2.open_deadlines(engine, frozenset({"chu-sud"}), now) == []
    assert nis2.status(engine, frozenset({"chu-sud"}), case_id) is None
    assert audit.verify(engine).ok


def test_continuity_recovery_time(flagged) -> None:
    engine, case_id = flagged
    start = datetime(2026, 3, 28, 9, 0, tzinfo=timezone.utc)
    for hours, service, status in ((0, "Imagerie", "down"), (2, "Imagerie", "degraded"), (5, "Imagerie", "up"),
                                   (1, "Urgences", "degraded")):
        assert continuity.set_status(engine, None, case_id, service, status, "cadre", start + timedelta(hours=hours))
    with pytest.raises(continuity.ContinuityError):
        continuity.set_status(engine, None, case_id, "Imagerie", "broken", "cadre")
    summary = {s.service: s for s in continuity.summary(engine, None, case_id, start + timedelta(hours=8))}
    imaging = summary["Imagerie"]
    assert imaging.current == "up" and imaging.recovery_seconds == 5 * 3600
    assert imaging.down_seconds == 2 * 3600 and imaging.degraded_seconds == 3 * 3600
    assert summary["Urgences"].recovered is None and summary["Urgences"].degraded_seconds == 7 * 3600
    view = cases.get_case(engine, None, case_id)
    assert view is not None and view.case.care_impact == ["Imagerie", "Urgences"]


@pytest.mark.parametrize("lang, words", [("fr", ["NIS 2 : notification d'incident", "Actes illicites ou",
                                                  "actes illicites", "Indicateurs de", "Imagerie",
                                                  "203.0.113.7", "À compléter", "art. 23(4)(b)",
                                                  "Action effectuée"]),
                                         ("en", ["NIS 2 incident notification", "Suspected unlawful or",
                                                 "malicious acts", "Indicators of", "Imagerie",
                                                 "203.0.113.7", "To complete", "art. 23(4)(b)",
                                                 "Action done"])])
def test_report_json_and_pdf(flagged, tmp_path, lang, words) -> None:
    engine, case_id = flagged
    continuity.set_status(engine, None, case_id, "Imagerie", "down", "cadre", AWARE)
    toolkit = Toolkit(load_library())
    run_id = runs.start_run(engine, None, toolkit, "fiches_reflexes", "analyst", case_id=case_id)
    for _ in range(5):  # staff first steps: manual steps, confirmed one by one
        view = runs.get_run(engine, None, run_id)
        assert view is not None
        waiting = [s for s in view.steps if s.status == "awaiting_approval"]
        if not waiting:
            break
        runs.decide(engine, None, toolkit, run_id, waiting[0].id, "analyst", True)
    report = nis2_report.draft(engine, None, case_id, "notification", lang, now=AWARE + timedelta(hours=3))
    data = json.loads(nis2_report.to_json(report))
    assert data["suspected_malicious"] is True and data["entity"] == "CH de Saint-Aurèle"
    assert {"kind": "ip", "value": "203.0.113.7"} in data["iocs"]
    assert all(i["kind"] != "user" for i in data["iocs"])
    assert data["due_local"] == "2026-03-31 11:00 CEST" and data["aware_at_local"] == "2026-03-28 10:00 CET"
    done = "Action effectuée : Déconnecter le poste" if lang == "fr" else "Action done: Disconnect the workstation"
    assert any(m["text"].startswith(done) for m in data["measures"])  # the timeline, in the report's language
    assert "contact" in data["missing"] and "status" in data["missing"]
    assert data["what_happened"].startswith("Chiffrement")
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = tmp_path / f"report-{lang}.pdf"
    pdf.write_bytes(nis2_report.to_pdf(report))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True,
                          timeout=60).stdout
    for word in words:
        assert word in text, word
    with pytest.raises(nis2_report.ReportError):
        nis2_report.draft(engine, None, case_id, "early_warning", "de")


# what each report must carry: NIS 2 art. 23(4) (a) early warning, (b) notification, (c)
# intermediate, (d) final; plus what the French declaration is expected to ask (identification,
# contact, dates) and French/EU obligations next to it (GDPR art. 33, health adverse events)
REQUIRED = {
    "early_warning": {"entity", "entity_category", "sector", "contact", "aware_at", "detected_at", "summary",
                      "suspected_malicious", "cross_border", "status", "assistance"},
    "notification": {"entity", "entity_category", "sector", "contact", "aware_at", "incident_start", "detected_at",
                     "summary", "suspected_malicious", "cross_border", "status", "severity_impact", "services",
                     "iocs", "measures", "personal_data", "other_declarations"},
    "intermediate": {"entity", "contact", "status", "severity_impact", "services", "measures", "mitigation_ongoing"},
    "final": {"entity", "entity_category", "sector", "contact", "description", "severity_impact", "services",
              "threat_type", "root_cause", "measures", "mitigation_ongoing", "cross_border", "iocs", "status",
              "personal_data", "other_declarations"},
}


@pytest.mark.parametrize("kind", sorted(REQUIRED))
def test_each_report_carries_its_required_fields_labelled(flagged, kind) -> None:
    engine, case_id = flagged
    if kind == "intermediate":
        nis2.request_intermediate(engine, None, case_id, datetime(2026, 4, 10, 12, 0, tzinfo=PARIS), "analyst")
    for lang in ("fr", "en"):
        report = nis2_report.draft(engine, None, case_id, kind, lang, now=AWARE + timedelta(hours=3))
        fields = {f["id"]: f for f in report["fields"]}
        assert REQUIRED[kind] <= set(fields), REQUIRED[kind] - set(fields)
        for field in report["fields"]:
            assert field["label"] and field["basis"], field
            assert field["missing"] == (field["id"] in report["missing"])
        html = nis2_report.to_html(report)
        for field in report["fields"]:
            assert field["label"].replace("'", "&#39;") in html
    # the basis of what NIS 2 itself asks is the article; the assumed form fields say so
    english = {f["id"]: f for f in nis2_report.draft(engine, None, case_id, kind, "en")["fields"]}
    if kind == "early_warning":
        assert english["suspected_malicious"]["basis"] == "NIS 2 art. 23(4)(a)"
        assert english["contact"]["basis"].startswith("ANSSI form (assumed)")
    if kind == "final":
        assert english["root_cause"]["basis"] == "NIS 2 art. 23(4)(d)(ii)"


def test_details_fill_the_gaps_and_bad_details_are_refused(flagged) -> None:
    engine, case_id = flagged
    before = nis2_report.draft(engine, None, case_id, "final", "fr")
    assert {"contact", "threat_type", "root_cause", "description", "status"} <= set(before["missing"])
    assert before["progress_report"]  # no status: not known to be resolved
    nis2.update(engine, frozenset({"chu-nord"}), case_id, "analyst", details={
        "contact": "RSSI, 01 23 45 67 89, rssi@chu.test", "threat_type": "rançongiciel (LockBit)",
        "root_cause": "VPN sans MFA", "description": "Chiffrement de 3 postes de radiologie.", "status": "resolved",
        "mitigation_ongoing": "Durcissement du VPN", "users_affected": "40 soignants", "personal_data": "unknown",
        "other_declarations": "Portail des signalements : 2026-0042", "entity_category": "essential",
        "incident_start": "2026-03-28T07:30:00+01:00"})
    after = nis2_report.draft(engine, None, case_id, "final", "fr")
    fields = {f["id"]: f["value"] for f in after["fields"]}
    assert after["missing"] == [] and not after["progress_report"]
    assert fields["root_cause"] == "VPN sans MFA" and fields["status"] == "résolu"
    assert fields["entity_category"] == "entité essentielle" and fields["incident_start"] == "2026-03-28 07:30 CET"
    nis2.update(engine, None, case_id, "analyst", details={"contact": ""})  # an empty value removes it
    assert "contact" in nis2_report.draft(engine, None, case_id, "final", "en")["missing"]
    for bad in ({"colour": "blue"}, {"status": "finished"}, {"incident_start": "yesterday"},
                {"incident_start": "0001-01-01T00:00:00"}, {"threat_type": "x" * 501}):
        with pytest.raises(nis2.Nis2Error):
            nis2.update(engine, None, case_id, "analyst", details=bad)
    with pytest.raises(nis2.Nis2Error):
        nis2.update(engine, frozenset({"chu-sud"}), case_id, "other", details={"contact": "x"})
    assert audit.verify(engine).ok
