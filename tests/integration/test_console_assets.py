"""Assets and early warnings in the console and ``/api/v1/intel``: the inventory and the queue of
the caller's hospitals only, an asset's page with its NVD vulnerabilities and exposure, edits by
the roles that may (a hospital on its own assets), refused edits that say why, warning decisions
audited, and an edit that exposes a risky service raising an alert in the queue at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from hygie.intel import assets as asset_csv
from hygie.intel import early_warning, kev
from hygie.store.state import audit
from hygie.store.state import intel_assets_store as assets_store
from tests.integration.console_util import PASSWORD, app_for, seed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("assets")
    seeded = seed(f"sqlite:///{folder / 'state.db'}", folder)
    engine = seeded.context.engine
    rows, _problems = asset_csv.read_csv(str(FIXTURES / "assets.csv"))
    assets_store.upsert_assets(engine, None, "chu-nord", rows)
    assets_store.upsert_assets(engine, None, "chu-sud", [{"host": "FW-CHU-SUD", "vendor": "fortinet",
                                                          "product": "fortios", "version": "7.2.5", "exposed": True}])
    kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    early_warning.import_nvd(engine, str(FIXTURES / "nvd"))
    early_warning.import_scan(engine, "chu-nord", str(FIXTURES / "scan-nmap.xml"))
    ids = {a.host: a.id for a in assets_store.list_assets(engine, None)}
    return seeded, ids


def login(seeded, username: str) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app_for(seeded))
    client.post("/login", data={"username": username, "password": PASSWORD})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/alerts").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def test_the_inventory_and_queue_show_the_callers_hospitals_only(world) -> None:
    seeded, ids = world
    client, _csrf = login(seeded, "viewer")
    page = client.get("/intel/assets")
    assert page.status_code == 200 and "FW-EDGE-01" in page.text and "pacs-ext.chu-a.example" in page.text
    assert "FW-CHU-SUD" not in page.text and "CVE-2024-21762" in page.text
    listed = client.get("/api/v1/intel/assets", params={"exposed": True}).json()
    assert {a["host"] for a in listed["items"]} == {"FW-EDGE-01", "pacs-ext.chu-a.example"}
    assert client.get("/api/v1/intel/assets", params={"tenant": "chu-sud"}).status_code == 404
    queue = client.get("/api/v1/intel/early-warnings", params={"status": "open", "kind": "kev"}).json()
    assert {(w["asset_host"], w["cve_id"]) for w in queue["items"]} == {("FW-EDGE-01", "CVE-2024-21762"),
                                                                         ("EHR-APP-01", "CVE-2021-44228")}
    assert client.get(f"/intel/assets/{ids['FW-CHU-SUD']}").status_code == 404
    admin, _csrf = login(seeded, "admin")
    assert "FW-CHU-SUD" in admin.get("/intel/assets", params={"tenant": "chu-sud"}).text


def test_an_assets_page_shows_the_ranges_that_matched_and_its_exposure(world) -> None:
    seeded, ids = world
    client, _csrf = login(seeded, "viewer")
    detail = client.get(f"/api/v1/intel/assets/{ids['FW-EDGE-01']}").json()
    [vulnerability] = detail["vulnerabilities"]
    assert (vulnerability["cve_id"], vulnerability["kev"], vulnerability["ransomware"], vulnerability["result"]) == (
        "CVE-2024-21762", True, True, "yes")
    assert vulnerability["matched"][0]["range"] == ">= 7.2.0, < 7.2.7"
    assert [(e["port"], e["risk"], e["source"]) for e in detail["exposures"]] == [(443, "vpn-portal", "nmap")]
    assert {w["kind"] for w in detail["warnings"]} == {"kev", "exposure"}
    assert detail["open_services"] == 1 and detail["open_warnings"] == 2
    page = client.get(f"/intel/assets/{ids['FW-EDGE-01']}", headers={"Accept-Language": "fr"}).text
    assert "Vulnérabilités (NVD)" in page and "&gt;= 7.2.0, &lt; 7.2.7" in page and "Portail VPN" in page
    assert 'action="/intel/assets/' not in page  # a viewer gets no edit form
    pacs = client.get(f"/api/v1/intel/assets/{ids['PACS-ARCH-01']}").json()
    [maybe] = pacs["vulnerabilities"]  # "running on Windows": the inventory does not say
    assert maybe["cve_id"] == "CVE-2026-10001" and maybe["result"] == "maybe" and not maybe["kev"]


def test_edits_by_role_and_refusals_that_say_why(world) -> None:
    seeded, ids = world
    viewer, csrf = login(seeded, "viewer")
    url = f"/api/v1/intel/assets/{ids['PRINT-01']}"
    assert viewer.patch(url, json={"owner": "x"}, headers={"X-CSRF-Token": csrf}).status_code == 403
    hospital, csrf = login(seeded, "hospital")
    headers = {"X-CSRF-Token": csrf}
    bad = hospital.patch(url, json={"ip": "10.300.0.1"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "ip"]
    bad = hospital.patch(url, json={"cpe": "cpe:/h:hp:laserjet"}, headers=headers)
    assert bad.status_code == 422 and "CPE 2.2 URI" in bad.json()["detail"][0]["msg"]
    assert hospital.patch(url, json={"services": "telnet"}, headers=headers).status_code == 422
    clash = hospital.patch(url, json={"host": "EHR-APP-01", "vendor": "Apache", "product": "Log4j2"}, headers=headers)
    assert clash.status_code == 409 and "same host" in clash.json()["detail"]
    done = hospital.patch(url, json={"owner": "Services techniques", "zone": "office", "criticality": "important"},
                          headers=headers)
    assert done.status_code == 200 and (done.json()["owner"], done.json()["criticality"]) == (
        "Services techniques", "important")
    assert hospital.patch(f"/api/v1/intel/assets/{ids['FW-CHU-SUD']}", json={"owner": "x"},
                          headers=headers).status_code == 404
    [entry] = [e for e in audit.entries(seeded.context.engine, ["chu-nord"]) if e.target == f"asset:{ids['PRINT-01']}"]
    assert entry.actor == "hospital" and entry.detail["owner"] == ["", "Services techniques"]


def test_declaring_a_risky_service_alerts_at_once(world) -> None:
    seeded, ids = world
    analyst, csrf = login(seeded, "analyst")
    before = {a["id"] for a in analyst.get("/api/v1/alerts", params={"limit": 500}).json()["items"]}
    form = {"csrf_token": csrf, "host": "PRINT-01", "ip": "10.30.0.2", "vendor": "HP", "product": "LaserJet",
            "version": "", "cpe": "", "criticality": "support", "owner": "", "zone": "office",
            "services": "23/tcp telnet, 9100"}
    response = analyst.post(f"/intel/assets/{ids['PRINT-01']}", data=form, follow_redirects=False)
    assert response.status_code == 303
    new = [a for a in analyst.get("/api/v1/alerts", params={"limit": 500}).json()["items"] if a["id"] not in before]
    assert [(a["rule_id"], a["host"], a["level"]) for a in new] == [
        ("hygie-early-warning-exposure", "PRINT-01", "high")]
    page = analyst.get(f"/alerts/{new[0]['id']}")
    assert page.status_code == 200 and "PRINT-01" in page.text and "Telnet" in page.text
    case = analyst.post("/api/v1/cases", json={"alert_ids": [new[0]["id"]]}, headers={"X-CSRF-Token": csrf})
    assert case.status_code == 201  # an early warning opens a case like any alert
    detail = analyst.get(f"/api/v1/intel/assets/{ids['PRINT-01']}").json()
    assert sorted((e["port"], e["risk"], e["source"]) for e in detail["exposures"]) == [
        (23, "telnet", "console"), (9100, "", "console")]
    assert detail["exposed"] is False  # the checkbox was left unticked; the services speak for themselves
    # a refused form keeps what was typed and says why
    refused = analyst.post(f"/intel/assets/{ids['PRINT-01']}", data={**form, "ip": "not-an-ip"})
    assert refused.status_code == 422 and "not-an-ip" in refused.text
    assert "does not appear to be an IPv4" in refused.text


def test_warning_decisions(world) -> None:
    seeded, ids = world
    hospital, csrf = login(seeded, "hospital")
    queue = hospital.get("/api/v1/intel/early-warnings", params={"asset_id": ids["EHR-APP-01"]}).json()["items"]
    [warning] = queue
    url = f"/api/v1/intel/early-warnings/{warning['id']}"
    assert hospital.patch(url, json={"status": "gone"}, headers={"X-CSRF-Token": csrf}).status_code == 422
    done = hospital.patch(url, json={"status": "acknowledged", "note": "patch planned Friday"},
                          headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200 and (done.json()["status"], done.json()["note"]) == (
        "acknowledged", "patch planned Friday")
    form = hospital.post(f"/intel/early-warnings/{warning['id']}", data={"csrf_token": csrf, "status": "resolved",
                                                                         "back": "asset"}, follow_redirects=False)
    assert form.status_code == 303 and form.headers["location"] == f"/intel/assets/{ids['EHR-APP-01']}#warnings"
    assert hospital.get(url).json()["status"] == "resolved"
    viewer, csrf = login(seeded, "viewer")
    assert viewer.patch(url, json={"status": "new"}, headers={"X-CSRF-Token": csrf}).status_code == 403
    actions = [(e.actor, e.detail["to"]) for e in audit.entries(seeded.context.engine, ["chu-nord"])
               if e.action == "intel.warning.status"]
    assert actions[:2] == [("hospital", "resolved"), ("hospital", "acknowledged")]
