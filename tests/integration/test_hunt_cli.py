"""``hygie hunt`` end to end through the real CLI (Typer's runner), on real and demo data."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from hygie.cli.main import app
from tests.conftest import ATTACK_SAMPLES, SIGMA, require_corpora

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HYGIE_HOME", str(tmp_path / "home"))  # no installed rules


def test_hunt_demo_with_packs_as_jsonl(tmp_path) -> None:
    out = tmp_path / "alerts.jsonl"
    result = runner.invoke(app, ["hunt", str(DEMO), "--format", "jsonl", "--output", str(out),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    alerts = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert alerts and all(a["pack"] == "hygie-ransomware" for a in alerts)
    assert {"impact", "lateral_movement"} <= {t for a in alerts for t in a["tactics"]}
    assert "3 input problems" in result.output  # the demo's malformed lines, reported
    assert all(a["host"] and a["time"] and a["matched"] for a in alerts)


def test_hunt_evtx_with_sigma_rules_as_csv(tmp_path) -> None:
    require_corpora()
    out = tmp_path / "alerts.csv"
    rules = SIGMA / "rules" / "windows" / "builtin" / "security"
    result = runner.invoke(app, ["hunt", str(ATTACK_SAMPLES / "Defense Evasion"), "--rules",
                                 str(rules), "--no-packs", "--format", "csv", "--output", str(out),
                                 "--min-level", "high", "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and {r["level"] for r in rows} <= {"high", "critical"}
    assert any(r["title"] == "Security Eventlog Cleared" for r in rows)
    assert all(r["source"].endswith(".evtx") and int(r["offset"]) > 0 for r in rows)


def test_hunt_table_output_and_summary() -> None:
    result = runner.invoke(app, ["hunt", str(DEMO), "--no-progress", "--limit", "5"])
    assert result.exit_code == 0, result.output
    assert "By rule" in result.output and "ATT&CK" in result.output


def test_hunt_rejects_unknown_level_cleanly() -> None:
    result = runner.invoke(app, ["hunt", str(DEMO), "--min-level", "severe"])
    assert result.exit_code == 2 and "unknown level" in result.output
    assert "Traceback" not in result.output


def test_hunt_without_any_rule_is_a_clear_error(tmp_path) -> None:
    result = runner.invoke(app, ["hunt", str(DEMO), "--no-packs", "--no-progress"])
    assert result.exit_code == 1 and "no rules loaded" in result.output


def test_rules_list_shows_packs_inactive_rules_and_errors(tmp_path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "broken.yml").write_text("title: broken\nlogsource: {product: windows}\n"
                                       "detection:\n  sel: {Image|nosuch: x}\n  condition: sel\n")
    (folder / "macos.yml").write_text("title: macos rule\nlogsource: {product: macos}\n"
                                      "detection:\n  sel: {Image: x}\n  condition: sel\n")
    result = runner.invoke(app, ["rules", "list", "--rules", str(folder)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "hygie-ransomware" in flat and "1 inactive" in flat  # macOS: no mapping routes it
    assert "broken.yml:4" in flat and "nosuch" in flat
    assert "1 failed to load" in flat
