"""``hygie intel`` end to end on a data folder: import, feeds, match, sharing consent and
warnings, export of a case, assets and the KEV catalog."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.models_cases import Case, Observable

from .intel_peers import FIXTURES

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["intel", *args], env={"COLUMNS": "300"})
    assert result.exit_code == code, result.output
    return result.output


def test_intel_commands(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path)]
    out = run("import", str(FIXTURES / "list.txt"), *data)
    assert "5 indicators (5 new" in out and "1 entries skipped" in out and "list.txt:6" in out
    run("import", str(FIXTURES / "list.txt"), *data)  # again: the same feed, nothing new
    out = run("import", str(FIXTURES / "bundle.json"), "--tenant", "chu-a", *data)
    assert "6 indicators" in out and "indicator--1a2b3c4d-0004" in out
    out = run("feeds", "add", "CERT", "misp-feed", str(FIXTURES / "misp-feed"), "--every", "60",
              "-o", "expire_days=30", *data)
    assert "added" in out
    out = run("feeds", "refresh", *data)
    assert "8 indicators" in out
    listing = run("feeds", "list", *data)
    assert "CERT" in listing and "(shared)" in listing and "chu-a" in listing
    run("feeds", "add", "bad", "rss", "/x", *data, code=2)
    missing = run("feeds", "add", "gone", "text", str(tmp_path / "missing.txt"), *data)
    assert "added" in missing
    run("feeds", "refresh", *data, code=1)  # the missing file is an error, reported

    attack = tmp_path / "event.json"
    attack.write_text(next(line for line in DEMO.read_text().splitlines() if "cdn-msupdate" in line))
    out = run("match", str(attack), "--tenant", "chu-b", *data)
    assert "cdn-msupdate.net" in out and "hit(s)" in out
    benign = tmp_path / "benign.json"
    benign.write_text(DEMO.read_text().splitlines()[0])
    assert "0 hit(s)" in run("match", str(benign), *data, code=1)

    run("share-name", "chu-a", "--named", *data)
    assert "indicator" in run("warnings", "--tenant", "chu-b", *data)

    engine = open_database(sqlite_dsn(tmp_path / "state.db"))
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        case = Case(tenant_id="chu-a", title="Stager", created_by="a", created=now, updated=now)
        session.add(case)
        session.flush()
        session.add_all([Observable(case_id=case.id, tenant_id="chu-a", kind="domain", value="cdn-msupdate.net"),
                         Observable(case_id=case.id, tenant_id="chu-a", kind="host", value="CHSA-PC1")])
        case_id = case.id
    engine.dispose()
    exported = tmp_path / "case.json"
    run("export-case", str(case_id), "--tlp", "green", "--output", str(exported), *data)
    bundle = json.loads(exported.read_text())
    assert bundle["type"] == "bundle" and "CHSA-PC1" not in exported.read_text()
    out = run("export-case", str(case_id), "--tlp", "red", *data, code=2)
    assert "RED" in out
    misp = tmp_path / "case-misp.json"
    run("export-case", str(case_id), "--format", "misp", "--tlp", "amber", "--output", str(misp), *data)
    assert json.loads(misp.read_text())["Event"]["Attribute"][0]["value"] == "cdn-msupdate.net"
    run("export-case", "999", "--tlp", "green", *data, code=2)

    out = run("assets", "import", str(FIXTURES / "assets.csv"), "--tenant", "chu-a", *data)
    assert "4 assets added" in out and "2 rows skipped" in out
    out = run("kev", "import", str(FIXTURES / "kev.json"), *data)
    assert "3 new catalog entries" in out and "2 new early warnings" in out
    out = run("kev", "warnings", "--tenant", "chu-a", *data)
    assert "CVE-2024-21762" in out and "FW-EDGE-01" in out
