"""``hygie assess`` end to end on a data dir: frameworks, validation, a campaign answered by
import and by confirmed telemetry proposals, scores, the roadmap as CSV and as PDF in French
and English (text extracted with pdftotext), a second campaign compared with the first, and
the monthly report."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.store.events import EventStore, StoredEvent

runner = CliRunner()
ANSWERS = """\
answers:
  care.continuity.2: 0
  care.gov.3: {value: 1, note: "tabletop planned"}
  care.ad.2: 0
  care.aware.1: 2
  cis.11.2: 3
"""


def _pdf_text(path: Path) -> str:
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftotext (poppler-utils) is missing", pytrace=False)
        pytest.skip("pdftotext (poppler-utils) is not installed")
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                         capture_output=True, text=True).stdout
    return " ".join(out.split())  # one line: table cells and wrapped titles read in order


def _invoke(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["assess", *args])
    assert result.exit_code == code, result.output + repr(result.exception)
    return result.output


@pytest.fixture
def data(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    now = datetime.now(timezone.utc)
    store = EventStore(data / "events")
    events = []
    for i in range(10):  # 10 Windows hosts, 7 with Sysmon
        when = now - timedelta(hours=1)
        events.append(StoredEvent("chu-a", f"s{i}", when.timestamp(), when.isoformat(), f"ws{i}",
                                  "http:x", "json", {"Channel": "Security", "EventID": 4624}, b"{}"))
        if i < 7:
            events.append(StoredEvent("chu-a", f"y{i}", when.timestamp(), when.isoformat(),
                                      f"ws{i}", "http:x", "json",
                                      {"Channel": "Microsoft-Windows-Sysmon/Operational",
                                       "EventID": 1}, b"{}"))
    store.append(events)
    store.close()
    (tmp_path / "answers.yml").write_text(ANSWERS)
    return data


def test_a_campaign_from_start_to_roadmap(data: Path, tmp_path: Path) -> None:
    common = ["--data-dir", str(data)]
    listing = _invoke("frameworks", *common)
    for framework in ("care", "cis", "hicp", "nis2"):
        assert framework in listing
    assert "Campaign 1 started" in _invoke("start", "chu-a", "-f", "care", "-f", "cis", "--size",
                                          "medium", "--beds", "350", "--name", "2026", *common)
    assert "5 answers recorded" in _invoke("import", "chu-a", str(tmp_path / "answers.yml"), *common)
    assert "not a level" in _invoke("answer", "chu-a", "care.ad.1", "5", *common, code=2)
    _invoke("answer", "chu-a", "care.ad.1", "1", "--note", "audit in 2025", *common)
    # telemetry: 7 of 10 hosts send Sysmon -> care.workstations.1 proposed at level 1
    out = _invoke("evidence", "chu-a", *common)
    assert "7 of 10 (70 %)" in " ".join(out.split()) and "care.workstations.1" in out
    _invoke("evidence", "chu-a", *common)  # again: no duplicate proposals (sysmon, 2 silent)
    assert "0 new proposals, 3 pending" in " ".join(_invoke("evidence", "chu-a", *common).split())
    assert "reason" in _invoke("confirm", "chu-a", "1", "--value", "3", *common, code=2)
    assert "care.workstations.1 = 2 (override)" in _invoke(
        "confirm", "chu-a", "1", "--value", "2", "--reason", "EDR on the 3 others", *common)
    scores = _invoke("score", "chu-a", *common)
    assert "CaRE" in scores and "Backups, continuity" in scores

    csv_path = tmp_path / "roadmap.csv"
    _invoke("roadmap", "chu-a", "--format", "csv", "--lang", "en", "-o", str(csv_path),
            "--start", "2027-01-04", *common)
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    order = [r["remediation"] for r in rows]
    assert order[:2] == ["ad-tiering", "offline-backups"]  # ransomware, gap 3 + 1*... first
    assert order.index("crisis-exercise") > order.index("edr-deployment")  # continuity after
    assert rows[-1]["risk"] == "other"

    for lang, sections in (("fr", ["Feuille de route cybersécurité", "Scores par référentiel",
                                   "Pas de campagne précédente", "Les 90 premiers jours",
                                   "Feuille de route priorisée", "Totaux",
                                   "Hypothèses du modèle de coûts", "Méthode"]),
                           ("en", ["Cybersecurity roadmap", "Scores by framework", "No previous",
                                   "The first 90 days", "Prioritised roadmap", "Totals",
                                   "Cost model assumptions", "Method"])):
        pdf = tmp_path / f"roadmap-{lang}.pdf"
        _invoke("roadmap", "chu-a", "--format", "pdf", "--lang", lang, "-o", str(pdf),
                "--start", "2027-01-04", *common)
        text = _pdf_text(pdf)
        positions = [text.find(s) for s in sections]
        assert -1 not in positions, [s for s, p in zip(sections, positions) if p == -1]
        assert positions == sorted(positions)
        assert "chu-a" in text and "350" in text
    text = _pdf_text(tmp_path / "roadmap-en.pdf")
    full = text[text.find("Prioritised roadmap"):]
    assert full.find("Active Directory audit") < full.find("Isolated (offline") < full.find(
        "Cyber crisis cell")

    # a second campaign, better on backups: the roadmap compares with the first
    _invoke("close", "chu-a", *common)
    _invoke("start", "chu-a", "-f", "care", "-f", "cis", "--size", "medium", *common)
    _invoke("import", "chu-a", str(tmp_path / "answers.yml"), *common)
    _invoke("answer", "chu-a", "care.continuity.2", "3", *common)
    assert "+" in _invoke("score", "chu-a", *common)
    pdf = tmp_path / "second.pdf"
    _invoke("roadmap", "chu-a", "--lang", "en", "-o", str(pdf), *common)
    text = _pdf_text(pdf)
    assert "No previous campaign" not in text and "Previous campaign" in text

    report = tmp_path / "report.pdf"
    rules = tmp_path / "no-rules"
    rules.mkdir()
    month = datetime.now(timezone.utc).strftime("%Y-%m")
    _invoke("report", "chu-a", "--month", month, "--lang", "en", "-o", str(report),
            "-r", str(rules), *common)
    text = _pdf_text(report)
    for section in ("Monthly security and continuity report", "Continuity indicators",
                    "Mean time to detect", "Top risks", "Roadmap progress",
                    "Assessment score trend", "Detection coverage by ATT&CK tactic",
                    "Sector ransomware techniques covered", "Telemetry"):
        assert section in text, section
    # the first roadmap had 5 actions: offline-backups is now fully in place (care.continuity.2
    # = 3, and cis.11.3/11.4 take it through the cross-walk); ad-tiering, crisis-exercise and
    # awareness-training are still open; edr-deployment (care.workstations.1) was not answered
    assert "Actions of the previous campaign: 1 done, 3 still open, 1 not re-assessed" in text
    assert "Impact" in text and "no data: the asset inventory is empty" in text
    assert "Incidents of the month" in text and "Indicators and trends" in text


def test_validate_reports_file_and_line(tmp_path: Path) -> None:
    good = tmp_path / "regional.yml"
    good.write_text('id: regional\nversion: "1"\ntitle: {fr: R, en: R}\n'
                    'domains: [{id: d, title: {fr: D, en: D}}]\n'
                    'questions:\n  - {id: regional.q, domain: d, crosswalk: [cis.6.4],\n'
                    '     text: {fr: Q, en: Q}}\n')
    assert "ok" in _invoke("validate", str(good), "--data-dir", str(tmp_path / "d"))
    bad = tmp_path / "bad.yml"
    bad.write_text(good.read_text().replace("regional", "bad").replace("cis.6.4", "cis.6.9"))
    out = _invoke("validate", str(bad), "--data-dir", str(tmp_path / "d"), code=1)
    flat = out.replace("\n", "")  # Rich may wrap a long path
    assert f"{bad}:6: bad.q: cross-walk to unknown question 'cis.6.9'" in flat
