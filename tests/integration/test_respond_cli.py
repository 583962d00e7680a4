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


def test_nis2_details(tmp_path, monkeypatch) -> None:
    """``nis2 details``: the fields of the console form and the API, from options or a YAML
    or JSON file, checked against nis2_fields.json, audited, refused for another tenant."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from hygie.respond import nis2
    from hygie.store.state import audit
    from hygie.store.state.db import open_database
    from hygie.store.state.models_audit import AuditEntry

    monkeypatch.delenv("HYGIE_SECRET_KEY", raising=False)
    data = tmp_path / "data"
    _, _, case_id = seed_case(f"sqlite:///{data / 'state.db'}")
    where = ["--data-dir", str(data)]
    not_flagged = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--status", "ongoing", *where])
    assert not_flagged.exit_code == 2 and "not flagged" in not_flagged.output
    flagged = runner.invoke(app, ["respond", "nis2", "flag", str(case_id), "--aware", "2026-03-28T10:00", *where])
    assert flagged.exit_code == 0

    done = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--status", "ongoing",
                               "--entity-category=essential", "--contact", "RSSI, 01 23 45 67 89",
                               "--incident-start", "2026-03-28T08:30+01:00", "--malicious", "--summary", "Chiffrement",
                               "--actor", "alice", *where])
    assert done.exit_code == 0, done.output
    assert "essential" in done.output and "ongoing" in done.output
    engine = open_database(f"sqlite:///{data / 'state.db'}")
    state = nis2.status(engine, None, case_id)
    assert state is not None and state.suspected_malicious and state.summary == "Chiffrement"
    assert state.details == {"status": "ongoing", "entity_category": "essential", "contact": "RSSI, 01 23 45 67 89",
                             "incident_start": "2026-03-28T07:30:00+00:00"}

    yml = tmp_path / "details.yml"
    yml.write_text("cross_border: true\ndetails:\n  personal_data: no\n  status: contained\n  contact: ''\n"
                   "threat_type: rançongiciel\n", encoding="utf-8")
    from_file = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--file", str(yml),
                                    "--root-cause", "VPN sans MFA", *where])
    assert from_file.exit_code == 0, from_file.output
    state = nis2.status(engine, None, case_id)
    assert state is not None and state.cross_border
    assert state.details == {"status": "contained", "entity_category": "essential", "personal_data": "no",
                             "incident_start": "2026-03-28T07:30:00+00:00", "threat_type": "rançongiciel",
                             "root_cause": "VPN sans MFA"}  # contact removed by its empty value
    as_json = tmp_path / "details.json"
    as_json.write_text(json.dumps({"status": "resolved"}))
    from_json = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--file", str(as_json), *where])
    assert from_json.exit_code == 0
    assert nis2.status(engine, None, case_id).details["status"] == "resolved"  # type: ignore[union-attr]

    # bad input: a clear message, exit 2, nothing changed
    for args, message in ((["--status", "finished"], "status must be one of ongoing, contained, resolved"),
                          (["--colour", "blue"], "unknown detail 'colour'"),
                          (["--contact"], "--contact needs a value"),
                          (["stray"], "unexpected 'stray'"),
                          (["--incident-start", "yesterday"], "incident_start must be an ISO date and time")):
        refused = runner.invoke(app, ["respond", "nis2", "details", str(case_id), *args, *where])
        assert refused.exit_code == 2 and message in refused.output, (args, refused.output)
    broken = tmp_path / "broken.yml"
    broken.write_text("status: ongoing\n  contact: [\n")
    refused = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--file", str(broken), *where])
    assert refused.exit_code == 2 and "broken.yml:2" in refused.output
    flags = tmp_path / "flags.yml"
    flags.write_text("cross_border: maybe\n")
    refused = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--file", str(flags), *where])
    assert refused.exit_code == 2 and "cross_border must be true or false" in refused.output
    assert nis2.status(engine, None, case_id).details["status"] == "resolved"  # type: ignore[union-attr]

    # another tenant's case is not found, whatever its state
    foreign = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--status", "ongoing",
                                  "--tenant", "chu-sud", *where])
    assert foreign.exit_code == 2 and "not flagged" in foreign.output
    shown = runner.invoke(app, ["respond", "nis2", "details", str(case_id), "--tenant", "chu-nord", *where])
    assert shown.exit_code == 0 and "resolved" in shown.output

    with Session(engine) as session:
        updates = list(session.scalars(select(AuditEntry).where(AuditEntry.action == "nis2.update")
                                       .order_by(AuditEntry.seq)))
    assert [(u.actor, u.tenant_id) for u in updates] == [("alice", "chu-nord"), ("cli", "chu-nord"),
                                                         ("cli", "chu-nord")]
    assert updates[0].detail["details"] == ["contact", "entity_category", "incident_start", "status"]
    assert audit.verify(engine).ok
