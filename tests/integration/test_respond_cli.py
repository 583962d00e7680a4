"""``hygie respond``: validate playbooks, dry-run a playbook on a case, NIS 2 flag and report."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.respond.playbooks.loader import LIBRARY
from tests.integration.test_respond_ransomware_e2e import seed_case

runner = CliRunner()


def test_validate(tmp_path) -> None:
    good = runner.invoke(app, ["respond", "validate", str(LIBRARY / "pacs_exfiltration.json")])
    assert good.exit_code == 0 and "ok" in good.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "playbook"}')
    result = runner.invoke(app, ["respond", "validate", str(bad)])
    assert result.exit_code == 1 and "bad.json:1" in result.output


def test_dry_run_and_nis2(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("HYGIE_SECRET_KEY", raising=False)
    data = tmp_path / "data"
    _, _, case_id = seed_case(f"sqlite:///{data / 'state.db'}")
    listed = runner.invoke(app, ["respond", "playbooks", "--data-dir", str(data)])
    assert listed.exit_code == 0 and "Ransomware" in listed.output
    run = runner.invoke(app, ["respond", "run", "ransomware_workstation", "--case", str(case_id), "--dry-run",
                              "--data-dir", str(data)])
    assert run.exit_code == 0, run.output
    (data / "connectors.json").write_text(json.dumps({"defaults": {"ticket": {"url": "http://127.0.0.1:9/t"}}}))
    run = runner.invoke(app, ["respond", "run", "ransomware_workstation", "--case", str(case_id), "--dry-run",
                              "--data-dir", str(data)])
    # a dry run goes through the whole workflow and shows each problem (here: connectors not configured)
    assert ": done" in run.output and "dry_run" in run.output and "not configured" in run.output
    flag = runner.invoke(app, ["respond", "nis2", "flag", str(case_id), "--aware", "2026-10-24T10:00",
                               "--malicious", "--data-dir", str(data)])
    assert flag.exit_code == 0, flag.output
    assert "2026-10-25 09:00 CET" in flag.output  # 24 h across the October change
    out = tmp_path / "report.json"
    report = runner.invoke(app, ["respond", "nis2", "report", str(case_id), "--lang", "en", "--output", str(out),
                                 "--data-dir", str(data)])
    assert report.exit_code == 0, report.output
    assert json.loads(out.read_text())["kind"] == "early_warning"
    sent = runner.invoke(app, ["respond", "nis2", "sent", str(case_id), "early_warning", "--data-dir", str(data)])
    assert sent.exit_code == 0
    deadlines = runner.invoke(app, ["respond", "nis2", "deadlines", str(case_id), "--data-dir", str(data)])
    assert "submitted" in deadlines.output
