"""Assets from what the pipeline observes: records of two hospitals parsed by the real
normalisers and written to the real event store become each hospital's assets; a CSV asset
and the host of the events are one asset; what a person set is kept; a second run changes
nothing; the early-warning match runs on new assets; the CLI command and the service's job."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone

import orjson
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hygie.cli.intel import app as intel_app
from hygie.core.record import HL7, JSON, SYSLOG, RawRecord
from hygie.intel import assets as asset_csv
from hygie.intel import early_warning, kev, observed
from hygie.intel.observed import ObservedAssetsJob, observe
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event
from hygie.pipeline.service import Service, ServiceConfig
from hygie.prepare.evidence import load_config
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state.db import open_database
from hygie.store.state.store import StateStore
from tests.integration.console_util import PASSWORD, app_for, seed

NOW = time.time()
KERNEL_12 = {"Hostname": "pacs01.chu-a.local", "Channel": "System", "EventID": 12,
             "SourceName": "Microsoft-Windows-Kernel-General", "MajorVersion": "10", "MinorVersion": "0",
             "BuildVersion": "17763", "QfeVersion": "5329", "ServicePackVersion": "0"}
SYSMON_1 = {"Hostname": "pacs01.chu-a.local", "Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1,
            "Image": "C:\\Windows\\System32\\cmd.exe", "Product": "Microsoft Windows Operating System",
            "FileVersion": "10.0.99"}
LAB = {"Hostname": "lab-srv", "EventID": 1, "host": {"os": {"name": "Ubuntu 22.04.3 LTS", "version": "22.04"}}}
EHR = {"Hostname": "EHR01.chu-a.local", "Channel": "Security", "EventID": 4624, "IpAddress": "10.9.9.9",
       "OSVersion": "10.0.17763.9999", "OSName": "Windows Server 2019 Datacenter"}
WS_SYSLOG = ('<134>1 2026-11-20T07:00:00Z ws-12 nxlog - - - {"host": {"os": {"name": "Windows 10 Pro", '
             '"version": "10.0", "build": "19045.3570"}, "ip": ["fe80::1", "10.1.2.3"]}, "msg": "started"}')
HL7_MSG = ("MSH|^~\\&|LABSYS|CHUB|EHR|CHUB|20261120070000||ORU^R01|MSG0001|P|2.5\r"
           "PID|1||123456^^^CHUB||DOE^JOHN\r")
FW_SYSLOG = "<189>Nov 20 07:00:01 fw-b sshd[1]: Accepted publickey for backup from 10.0.0.1 port 1 ssh2"


def _store(events: EventStore, records: list[RawRecord]) -> None:
    """Records through the real normalisers into the real event store, as the pipeline does."""
    stored = []
    for record in records:
        event = record_to_event(record, PatientPolicy(b"salt"))
        stored.append(StoredEvent(record.tenant, record.key(), record.received, event.time, event.host,
                                  record.source, record.kind, event.fields, record.payload))
    events.append(stored)


def _json(tenant: str, doc: dict, at: float, seq: int = 0) -> RawRecord:
    return RawRecord(tenant, f"http:{tenant}", JSON, orjson.dumps({**doc, "EventTime": _iso(at)}), at, seq=seq)


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat().replace("+00:00", "Z")


def _syslog(tenant: str, line: str, at: float) -> RawRecord:
    return RawRecord(tenant, f"syslog:{tenant}", SYSLOG, line.replace("2026-11-20T07:00:00Z", _iso(at)).encode(),
                     at, peer="10.1.2.3:514")


@pytest.fixture
def world(tmp_path, state_dsn):
    engine = open_database(state_dsn)
    for tenant in ("chu-a", "chu-b"):
        StateStore(engine).ensure_tenant(tenant)
    csv = tmp_path / "assets.csv"
    csv.write_text("host,criticality,owner,zone,vendor,product,version\n"
                   "PACS01,vital,Imagerie,pacs,,,\n"
                   "EHR01,vital,DSI,serveurs,microsoft,windows_server_2019,10.0.17763.1\n", encoding="utf-8")
    rows, problems = asset_csv.read_csv(str(csv))
    assert not problems
    assets_store.upsert_assets(engine, None, "chu-a", rows)
    events = EventStore(tmp_path / "events")
    _store(events, [_json("chu-a", SYSMON_1, NOW - 3 * 86400), _json("chu-a", KERNEL_12, NOW - 3600),
                    _json("chu-a", LAB, NOW - 60), _json("chu-a", EHR, NOW - 120),
                    _syslog("chu-a", WS_SYSLOG, NOW - 30),
                    _json("chu-a", {"Hostname": "old-ws", "EventID": 1}, NOW - 30 * 86400),
                    RawRecord("chu-b", "mllp:chu-b", HL7, HL7_MSG.encode(), NOW - 10, peer="10.20.0.7:40000"),
                    RawRecord("chu-b", "syslog:chu-b", SYSLOG, FW_SYSLOG.encode(), NOW - 5, peer="10.20.0.1:514")])
    yield engine, events, tmp_path
    events.close()
    engine.dispose()


def _by_host(engine, tenant: str) -> dict[str, assets_store.IntelAsset]:
    return {a.host: a for a in assets_store.list_assets(engine, frozenset({tenant}))}


def test_each_hospitals_hosts_become_its_assets_merged_with_the_inventory(world) -> None:
    engine, events, _tmp = world
    report = observe(engine, events)
    counts = {t.tenant: (t.hosts, t.added, t.seen) for t in report.tenants}
    assert counts == {"chu-a": (4, 2, 2), "chu-b": (2, 2, 0)}
    a, b = _by_host(engine, "chu-a"), _by_host(engine, "chu-b")
    assert set(a) == {"PACS01", "EHR01", "lab-srv", "ws-12"}  # old-ws: older than 7 days
    assert set(b) == {"10.20.0.7", "fw-b"}  # a tenant's events make that tenant's assets only
    pacs = a["PACS01"]  # the CSV's PACS01 is the events' pacs01.chu-a.local: one asset
    assert (pacs.source, pacs.criticality, pacs.owner, pacs.zone) == ("csv", "vital", "Imagerie", "pacs")
    assert (pacs.vendor, pacs.product, pacs.version) == ("microsoft", "windows", "10.0.17763.5329")
    assert pacs.observed["names"] == ["pacs01.chu-a.local"] and pacs.observed["os"] == "Windows 10.0.17763.5329"
    first = pacs.first_seen.replace(tzinfo=timezone.utc) if pacs.first_seen.tzinfo is None else pacs.first_seen
    assert abs(first.timestamp() - (NOW - 3 * 86400)) < 1  # the Sysmon event three days ago
    ehr = a["EHR01"]  # a version given in the inventory wins over the events'
    assert (ehr.product, ehr.version, ehr.source) == ("windows_server_2019", "10.0.17763.1", "csv")
    assert ehr.observed["os"] == "Windows Server 2019 Datacenter 10.0.17763.9999" and ehr.ip == ""
    ws = a["ws-12"]  # syslog JSON body: host.os.* and host.ip (the link-local address skipped)
    assert (ws.source, ws.ip, ws.vendor, ws.product, ws.version, ws.criticality) == (
        "observed", "10.1.2.3", "microsoft", "windows_10", "10.0.19045.3570", "support")
    lab = a["lab-srv"]
    assert (lab.vendor, lab.product, lab.version) == ("canonical", "ubuntu_linux", "22.04")
    lab_b = b["10.20.0.7"]  # HL7 without MSH-24: the sender's address, and its sending application
    assert lab_b.ip == "10.20.0.7" and lab_b.observed["applications"] == ["LABSYS"] and lab_b.vendor == ""
    assert b["fw-b"].product == "" and b["fw-b"].last_seen is not None


def test_a_second_run_changes_nothing_and_a_persons_edit_is_kept(world) -> None:
    engine, events, _tmp = world
    observe(engine, events)
    before = {a.id: (a.host, a.ip, a.vendor, a.product, a.version, a.source)
              for a in assets_store.list_assets(engine, None)}
    again = observe(engine, events)
    assert [(t.added, t.filled) for t in again.tenants] == [(0, 0), (0, 0)] and again.run is None
    assert {a.id: (a.host, a.ip, a.vendor, a.product, a.version, a.source)
            for a in assets_store.list_assets(engine, None)} == before
    ws = _by_host(engine, "chu-a")["ws-12"]
    assets_store.update_asset(engine, frozenset({"chu-a"}), ws.id, {"criticality": "important", "zone": "soins"},
                              "alice")
    lab = _by_host(engine, "chu-a")["lab-srv"]
    assets_store.update_asset(engine, frozenset({"chu-a"}), lab.id, {"version": "22.04.4"}, "alice")
    # later events: ws-12 was upgraded (a value observation set is refreshed), lab-srv says 22.04 still
    _store(events, [_syslog("chu-a", WS_SYSLOG.replace("19045.3570", "19045.4046"), NOW),
                    _json("chu-a", LAB, NOW, seq=1)])
    observe(engine, events)
    ws, lab = _by_host(engine, "chu-a")["ws-12"], _by_host(engine, "chu-a")["lab-srv"]
    assert (ws.version, ws.criticality, ws.zone) == ("10.0.19045.4046", "important", "soins")
    assert lab.version == "22.04.4"  # a person's value is never undone


def test_a_csv_row_for_an_observed_host_takes_it_over(world) -> None:
    engine, events, tmp = world
    observe(engine, events)
    csv = tmp / "more.csv"
    csv.write_text("host,criticality,owner\nWS-12,important,Urgences\n", encoding="utf-8")
    rows, _problems = asset_csv.read_csv(str(csv))
    assert assets_store.upsert_assets(engine, None, "chu-a", rows) == (0, 1)
    a = _by_host(engine, "chu-a")
    assert "ws-12" not in a and (a["WS-12"].source, a["WS-12"].criticality, a["WS-12"].owner) == (
        "csv", "important", "Urgences")
    assert (a["WS-12"].product, a["WS-12"].ip) == ("windows_10", "10.1.2.3")  # left empty in the row: kept


def test_new_observed_assets_run_the_early_warning_match(world) -> None:
    engine, events, tmp = world
    catalog = tmp / "kev.json"
    catalog.write_text(json.dumps({"vulnerabilities": [{
        "cveID": "CVE-2023-99999", "vendorProject": "Canonical", "product": "Ubuntu Linux",
        "vulnerabilityName": "test entry", "dateAdded": "2023-01-01", "knownRansomwareCampaignUse": "Unknown"}]}))
    kev.import_catalog(engine, str(catalog))
    assert assets_store.list_warnings(engine, None) == []
    report = observe(engine, events)
    assert report.run is not None
    # a host only the events know of: no "check your version" warning without NVD's ranges
    # (every observed workstation would get one alert per KEV entry of its OS)
    assert assets_store.list_warnings(engine, None) == []
    nvd_file = tmp / "nvd.json"
    nvd_file.write_text(json.dumps({"vulnerabilities": [_nvd("CVE-2023-99999", "22.10")]}))
    early_warning.import_nvd(engine, str(nvd_file))  # 22.04 < 22.10: in the vulnerable range
    (warning, asset, _entry), = assets_store.list_warnings(engine, None)
    assert (asset.host, warning.cve_id, warning.tenant_id) == ("lab-srv", "CVE-2023-99999", "chu-a")
    assert warning.detail["confirmed"] and warning.alert_id is not None  # raised in chu-a's queue
    nvd_file.write_text(json.dumps({"vulnerabilities": [_nvd("CVE-2023-99999", "20.04")]}))
    early_warning.import_nvd(engine, str(nvd_file))  # fixed before 22.04: the warning is resolved
    assert [w.status for w, _a, _e in assets_store.list_warnings(engine, None)] == ["resolved"]


def _nvd(cve: str, fixed_in: str) -> dict:
    """An NVD CVE API 2.0 record: Ubuntu Linux before ``fixed_in`` is vulnerable."""
    return {"cve": {"id": cve, "published": "2023-01-01T00:00:00.000", "lastModified": "2023-01-02T00:00:00.000",
                    "descriptions": [{"lang": "en", "value": "test record"}],
                    "configurations": [{"nodes": [{"operator": "OR", "negate": False, "cpeMatch": [{
                        "vulnerable": True, "criteria": "cpe:2.3:o:canonical:ubuntu_linux:*:*:*:*:*:*:*:*",
                        "matchCriteriaId": "00000000-0000-4000-8000-000000000001",
                        "versionEndExcluding": fixed_in}]}]}]}}


def test_the_work_per_run_is_capped(world) -> None:
    engine, events, _tmp = world
    report = observe(engine, events, ["chu-a"], limit=2)
    (only,) = report.tenants
    assert (only.hosts, only.left) == (2, 2)
    assert {"ws-12", "lab-srv"} <= set(_by_host(engine, "chu-a"))  # the most recently seen first
    assert set(_by_host(engine, "chu-b")) == set()
    observe(engine, events, ["chu-a"], days=31)
    assert "old-ws" in _by_host(engine, "chu-a")
    with pytest.raises(ValueError):
        observe(engine, events, days=0)


def test_the_service_registers_the_job_which_reads_what_is_new(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a", "chu-b"])
    service = Service(config, pack_engine)
    try:
        jobs = [j.__self__ for j in service.periodic if isinstance(getattr(j, "__self__", None), ObservedAssetsJob)]
        assert len(jobs) == 1 and jobs[0].events is service.events
        service.accept([_json("chu-a", KERNEL_12, NOW - 60), _syslog("chu-b", WS_SYSLOG, NOW - 30)])
        while service.drain_once():
            pass
        service.run_periodic()  # what the upkeep thread runs every 30 s
        assert set(_by_host(service.state.engine, "chu-a")) == {"pacs01.chu-a.local"}
        assert set(_by_host(service.state.engine, "chu-b")) == {"ws-12"}
        assert jobs[0].run_due() is None  # not due again for minutes
        service.accept([_json("chu-a", {"Hostname": "ws-99", "EventID": 1}, NOW - 10)])
        while service.drain_once():
            pass
        jobs[0]._next = 0.0  # as if the minutes had passed
        report = jobs[0].run_due()
        assert report is not None and {t.tenant: t.hosts for t in report.tenants}["chu-a"] >= 1
        assert set(_by_host(service.state.engine, "chu-a")) == {"pacs01.chu-a.local", "ws-99"}
    finally:
        service.close()


def test_the_cli_command(world) -> None:
    engine, _events, tmp = world
    runner = CliRunner()
    result = runner.invoke(intel_app, ["assets", "observe", "--tenant", "chu-b", "--data-dir", str(tmp),
                                       "--database", str(engine.url)])
    assert result.exit_code == 0, result.output
    assert "chu-b: 2 hosts seen in 7 days, 2 new assets" in result.output
    assert set(_by_host(engine, "chu-b")) == {"10.20.0.7", "fw-b"} and _by_host(engine, "chu-a").keys() == {
        "PACS01", "EHR01"}
    bad = runner.invoke(intel_app, ["assets", "observe", "--tenant", "nowhere", "--data-dir", str(tmp),
                                    "--database", str(engine.url)])
    assert bad.exit_code == 2 and "no tenant" in bad.output
    assert runner.invoke(intel_app, ["assets", "observe", "--days", "0", "--data-dir", str(tmp)]).exit_code == 2


def test_the_console_shows_the_source_last_seen_and_silent_assets(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    engine = seeded.context.engine
    assets_store.upsert_assets(engine, None, "chu-nord", [{"host": "chu-nord-pc1", "criticality": "vital"},
                                                          {"host": "PACS-NEVER", "criticality": "vital"}])
    observe(engine, seeded.context.events)  # the seeded events: CHU-NORD-PC0..2, CHU-SUD-PC0..2
    client = TestClient(app_for(seeded))
    client.post("/login", data={"username": "viewer", "password": PASSWORD})
    page = client.get("/intel/assets").text
    assert "CHU-NORD-PC0" in page and "observed in events" in page and "CSV import" in page
    assert "CHU-SUD" not in page  # another hospital's hosts: never
    rows = {m.group(1): m.group(2) for m in re.finditer(r'>([A-Za-z0-9-]+)</a>.*?</td>(.*?)</tr>', page, re.S)}
    assert "silent (no events)" in rows["PACS-NEVER"] and "silent" not in rows["chu-nord-pc1"]
    silent = client.get("/intel/assets", params={"seen": "silent"}).text
    assert "PACS-NEVER" in silent and "CHU-NORD-PC0" not in silent
    assert "PACS-NEVER" not in client.get("/intel/assets", params={"seen": "seen"}).text
    listed = {a["host"]: a for a in client.get("/api/v1/intel/assets").json()["items"]}
    assert listed["PACS-NEVER"]["silent"] and listed["PACS-NEVER"]["last_seen"] is None
    pc0 = listed["CHU-NORD-PC0"]
    assert (pc0["source"], pc0["silent"], pc0["observed"]) == ("observed", False, {"names": ["CHU-NORD-PC0"]})
    assert pc0["last_seen"] is not None and "filled" not in pc0["observed"]
    detail = client.get(f"/intel/assets/{pc0['id']}", headers={"Accept-Language": "fr"}).text
    assert "Noms dans les événements" in detail and "observé dans les événements" in detail
    seeded.context.events.close()


def test_silent_means_what_prepare_counts_as_not_monitored() -> None:
    assert observed.DAYS == load_config().asset_coverage.window_days
    now = datetime.now(timezone.utc)
    assert observed.silent(None) and observed.silent(now.replace(year=now.year - 1))
    assert not observed.silent(now.replace(tzinfo=None))  # SQLite's naive UTC
