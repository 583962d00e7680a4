"""Early warning end to end on SQLite and PostgreSQL: the KEV catalog with NVD's version ranges
against the inventory, internet-exposure scans, warnings raised once as alerts in the tenant's
queue (grouped per asset, idempotent), resolved when they no longer apply, re-run at once by a
new catalog entry; the migration; and ``hygie intel nvd`` / ``exposure``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.intel import assets as asset_csv
from hygie.intel import early_warning, kev
from hygie.store.state import audit
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state import intel_exposure_store as exposure_store
from hygie.store.state.db import MIGRATIONS, migrate, open_database
from hygie.store.state.models import AlertRow, Base
from hygie.store.state.models_intel import EarlyWarning
from hygie.store.state.store import StateStore

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
TABLES = {"intel_exposures", "intel_cves", "intel_cve_products"}


@pytest.fixture
def engine(state_dsn):
    engine = open_database(state_dsn)
    state = StateStore(engine)
    for tenant in ("chu-a", "chu-b"):
        state.ensure_tenant(tenant)
    assets, _problems = asset_csv.read_csv(str(FIXTURES / "assets.csv"))
    assets_store.upsert_assets(engine, None, "chu-a", assets)
    yield engine
    engine.dispose()


def warnings_of(engine, tenant: str, status: str | None = "open") -> dict[tuple[str, str], EarlyWarning]:
    return {(a.host, w.cve_id or f"{w.detail['port']}/{w.detail['transport']}"): w
            for w, a, _e in assets_store.list_warnings(engine, frozenset({tenant}), status=status)}


def alerts_of(engine, tenant: str) -> list[AlertRow]:
    with Session(engine) as session:
        return list(session.scalars(select(AlertRow).where(AlertRow.tenant_id == tenant,
                                                           AlertRow.pack == "intel").order_by(AlertRow.id)))


def test_migration_matches_the_models_and_keeps_kev_warnings_on_downgrade(engine) -> None:
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if "intel" in str(d)] == []
    kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-nmap.xml"))
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    assert not TABLES & set(inspect(engine).get_table_names())
    with engine.connect() as connection:  # the KEV warnings are kept (no cascade from a table copy)
        assert connection.exec_driver_sql("SELECT count(*) FROM intel_warnings").scalar() == 2
        assert connection.exec_driver_sql("SELECT count(*) FROM intel_assets").scalar() == 5
    migrate(engine)
    assert len(warnings_of(engine, "chu-a")) == 2


def test_kev_with_nvd_ranges_warns_ranks_and_alerts_once(engine) -> None:
    new, _bad, warned = kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    assert len(new) == 3 and warned == 2
    before = warnings_of(engine, "chu-a")
    assert "check the version" in before[("FW-EDGE-01", "CVE-2024-21762")].reason
    added, updated, problems, run = early_warning.import_nvd(engine, str(FIXTURES / "nvd"))
    assert (added, updated, len(problems), run.new, run.resolved) == (5, 0, 3, 0, 0)
    now = warnings_of(engine, "chu-a")
    fw, ehr = now[("FW-EDGE-01", "CVE-2024-21762")], now[("EHR-APP-01", "CVE-2021-44228")]
    assert "version 7.2.4 is in the vulnerable range (>= 7.2.0, < 7.2.7" in fw.reason
    assert fw.detail["confirmed"] and fw.detail["matched"][0]["range"] == ">= 7.2.0, < 7.2.7"
    assert fw.level == "critical" and fw.rank > ehr.rank  # exposed, vital, ransomware, confirmed
    # "Log4j2" is not NVD's "log4j": the KEV's own names keep the warning, and say why
    assert "do not name this product" in ehr.reason and not ehr.detail["confirmed"]
    alerts = alerts_of(engine, "chu-a")
    # raised when the KEV import found them (product level, before NVD confirmed the range)
    assert sorted((a.rule_id, a.host, a.level, a.kind, a.pack) for a in alerts) == [
        ("hygie-early-warning-kev", "EHR-APP-01", "medium", "early_warning", "intel"),
        ("hygie-early-warning-kev", "FW-EDGE-01", "critical", "early_warning", "intel")]
    assert {w.alert_id for w in now.values()} == {a.id for a in alerts}
    assert alerts[0].matched["cves"] and alerts[0].matched["asset"].startswith("/intel/assets/")
    # idempotent: the same imports again add no warning and no alert
    assert kev.import_catalog(engine, str(FIXTURES / "kev.json"))[2] == 0
    assert early_warning.import_nvd(engine, str(FIXTURES / "nvd"))[3].alerts == 0
    assert early_warning.run_early_warning(engine).new == 0
    assert len(alerts_of(engine, "chu-a")) == 2

    # the firewall patched: outside every range, the warning is resolved (and audited by the edit)
    fw_asset = assets_store.get_asset(engine, None, fw.asset_id)
    assets_store.update_asset(engine, None, fw_asset.id, {"version": "7.2.7", "cpe": ""}, "analyst")
    report = early_warning.run_early_warning(engine)
    assert report.resolved == 1 and ("FW-EDGE-01", "CVE-2024-21762") not in warnings_of(engine, "chu-a")
    resolved = warnings_of(engine, "chu-a", "resolved")[("FW-EDGE-01", "CVE-2024-21762")]
    assert "no longer applies" in resolved.note
    # and rolled back: the warning opens again, with a new alert
    assets_store.update_asset(engine, None, fw_asset.id, {"version": "7.2.5"}, "analyst")
    report = early_warning.run_early_warning(engine)
    assert (report.new, report.alerts) == (1, 1)
    reopened = warnings_of(engine, "chu-a")[("FW-EDGE-01", "CVE-2024-21762")]
    # the firewall's alert is still open and recent: the store counts the warning as a repeat
    fw_alert = next(a for a in alerts_of(engine, "chu-a") if a.host == "FW-EDGE-01")
    assert reopened.status == "new" and reopened.alert_id == fw_alert.id and fw_alert.count == 2
    assert len(alerts_of(engine, "chu-a")) == 2
    actions = [e.action for e in audit.entries(engine, ["chu-a"])]
    assert actions.count("intel.asset.update") == 2


def test_a_version_the_inventory_does_not_know_is_a_warning_to_check(engine) -> None:
    early_warning.import_nvd(engine, str(FIXTURES / "nvd"))
    assets_store.upsert_assets(engine, None, "chu-b", [
        {"host": "GW", "vendor": "Citrix", "product": "NetScaler Gateway", "version": "13.1-48.47", "exposed": True},
        {"host": "GW2", "vendor": "Citrix", "product": "NetScaler Gateway", "version": "13.1-49.15"},
        {"host": "GW3", "vendor": "Citrix", "product": "NetScaler Gateway"}])
    kev.import_catalog(engine, str(FIXTURES / "kev.json"))  # a new catalog entry: the match runs at once
    found = warnings_of(engine, "chu-b")
    assert set(found) == {("GW", "CVE-2023-4966"), ("GW3", "CVE-2023-4966")}  # 13.1-49.15 is the fix
    assert found[("GW", "CVE-2023-4966")].detail["confirmed"]
    assert "not known precisely" in found[("GW3", "CVE-2023-4966")].reason
    gateway = found[("GW", "CVE-2023-4966")].asset_id
    assert assets_store.list_warnings(engine, frozenset({"chu-a"}), asset_id=gateway) == []  # chu-b's only


def test_exposure_scans_flag_risky_services_link_assets_and_alert(engine, tmp_path) -> None:
    kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    done = early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-nmap.xml"))
    assert (done.kind, done.counts.hosts, done.counts.services, done.counts.risky, done.counts.new_assets) == (
        "nmap", 2, 4, 3, 1)
    assert len(done.problems) == 2
    hosts = {a.host: a for a in assets_store.list_assets(engine, frozenset({"chu-a"}))}
    assert hosts["pacs-ext.chu-a.example"].source == "scan" and hosts["pacs-ext.chu-a.example"].exposed
    assert hosts["FW-EDGE-01"].exposure_seen is not None
    found = warnings_of(engine, "chu-a")
    vpn = found[("FW-EDGE-01", "443/tcp")]
    # a VPN portal whose firewall has a KEV warning: critical, with the CVE named
    assert vpn.kind == "exposure" and vpn.level == "critical" and vpn.detail["kev"] == ["CVE-2024-21762"]
    assert found[("pacs-ext.chu-a.example", "104/tcp")].level == "high"
    assert "patients' images" in found[("pacs-ext.chu-a.example", "11112/tcp")].detail["why"]["en"]
    assert "443/tcp" not in {k[1] for k in found if k[0] == "pacs-ext.chu-a.example"}  # nginx: not risky
    exposure_alerts = [a for a in alerts_of(engine, "chu-a") if a.rule_id == "hygie-early-warning-exposure"]
    assert sorted((a.host, a.count, len(a.matched["warnings"])) for a in exposure_alerts) == [
        ("FW-EDGE-01", 1, 1), ("pacs-ext.chu-a.example", 1, 2)]  # one alert per asset and kind
    # the same scan again: nothing new; a later scan without the DICOM ports closes and resolves them
    assert early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-nmap.xml")).run.alerts == 0
    later = Path(str(FIXTURES / "scan-nmap.xml")).read_text().replace('portid="104"', 'portid="8080"').replace(
        '<port protocol="tcp" portid="11112"><state state="open"',
        '<port protocol="tcp" portid="11112"><state state="closed"')
    target = tmp_path / "later.xml"
    target.write_text(later)
    again = early_warning.import_scan(engine, "chu-a", str(target))
    assert again.counts.closed == 2 and again.run.resolved == 2
    open_ports = {(e.port, e.open) for e in exposure_store.list_exposures(
        engine, frozenset({"chu-a"}), asset_id=hosts["pacs-ext.chu-a.example"].id)}
    assert open_ports == {(104, False), (11112, False), (443, True), (8080, True)}
    # the scan service's JSON: the Citrix portal reports a KEV CVE itself
    shodan = early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-shodan.json"))
    portal = warnings_of(engine, "chu-a")[("portail.chu-a.example", "443/tcp")]
    assert shodan.counts.new_assets == 1 and portal.level == "critical" and portal.detail["kev"] == ["CVE-2023-4966"]
    with pytest.raises(exposure_store.ExposureError):
        exposure_store.record_scan(engine, frozenset({"chu-b"}), "chu-a", "nmap", [])


def test_the_queue_is_scoped_and_a_person_decides_with_an_audit_entry(engine) -> None:
    early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-shodan.json"))
    [(warning, _asset, _entry), *_rest] = assets_store.list_warnings(engine, frozenset({"chu-a"}))
    assert assets_store.get_warning(engine, frozenset({"chu-b"}), warning.id) is None
    assert assets_store.set_warning_status(engine, frozenset({"chu-b"}), warning.id, "dismissed", "", "x") is None
    done = assets_store.set_warning_status(engine, frozenset({"chu-a"}), warning.id, "dismissed", "test range", "it")
    assert done is not None and done.status == "dismissed"
    early_warning.run_early_warning(engine)  # a dismissed warning stays dismissed
    assert assets_store.get_warning(engine, None, warning.id)[0].status == "dismissed"
    [entry] = [e for e in audit.entries(engine, ["chu-a"]) if e.action == "intel.warning.status"]
    assert entry.detail == {"from": "new", "to": "dismissed", "note": "test range"} and entry.actor == "it"
    with pytest.raises(assets_store.AssetStoreError):
        assets_store.set_warning_status(engine, None, warning.id, "gone", "", "it")


def test_cli_nvd_and_exposure(tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["intel", *args, "--data-dir", str(tmp_path)], env={"COLUMNS": "300"})
        assert result.exit_code == code, result.output
        return result.output

    run("assets", "import", str(FIXTURES / "assets.csv"), "--tenant", "chu-a")
    run("kev", "import", str(FIXTURES / "kev.json"))
    out = run("nvd", "import", str(FIXTURES / "nvd"))
    assert "5 CVE records added" in out and "3 skipped" in out and "CVE-2026-10004" in out
    out = run("exposure", "import", str(FIXTURES / "scan-nmap.xml"), "--tenant", "chu-a")
    assert "nmap: 2 addresses, 4 open services (3 risky)" in out and "1 new assets" in out and "host 4" in out
    out = run("exposure", "list", "--tenant", "chu-a")
    assert "vpn-portal" in out and "dicom" in out
    out = run("kev", "warnings", "--tenant", "chu-a")
    assert "104/tcp" in out and "CVE-2024-21762" in out
    run("nvd", "import", str(tmp_path / "missing.json"), code=2)
    (tmp_path / "bad.json").write_text(json.dumps({"x": 1}))
    assert "not an NVD" in run("nvd", "import", str(tmp_path / "bad.json"), code=2)
    run("exposure", "import", str(tmp_path / "bad.json"), "--tenant", "chu-a")  # JSON, no host: reported


def test_prepare_reads_the_exposure_a_scan_import_wrote(engine) -> None:
    """The self-assessment's exposure and KEV checks on what the intel stage stored (issue 7
    reading issue 5's tables), not on fixtures of its own."""
    from datetime import datetime, timezone

    from hygie.prepare.assets import internet_exposure, kev_age
    from hygie.prepare.evidence import load_config
    from hygie.store.state.prepare_metrics import asset_data

    config = load_config()
    before = internet_exposure(asset_data(engine, "chu-a"), config.internet_exposure, datetime.now(timezone.utc))
    assert before.details.get("risky") == []
    kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    early_warning.import_scan(engine, "chu-a", str(FIXTURES / "scan-nmap.xml"))
    now = datetime.now(timezone.utc)
    data = asset_data(engine, "chu-a")
    found = internet_exposure(data, config.internet_exposure, now)
    assert "FW-EDGE-01" in found.details["risky"] and "pacs-ext.chu-a.example" in found.details["risky"]
    assert found.score is not None and found.score < before.score
    assert "risky services exposed" in found.proof
    assert kev_age(data, config.kev_age, now).available
    assert asset_data(engine, "chu-b").assets == []  # another hospital's inventory is not read
