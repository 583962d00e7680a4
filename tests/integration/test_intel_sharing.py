"""Sharing out and early warning: a case's observables as a STIX 2.1 bundle (pushed to a real
TAXII server, medallion, and read back) or a MISP event (pushed to the local MISP stand-in; no
real MISP is run); TLP:RED refused; the hospital's own names never leave. Assets and the KEV
catalog raise ranked warnings per tenant."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import stix2
from sqlalchemy.orm import Session

from hygie.intel import assets as asset_csv
from hygie.intel import kev, sharing
from hygie.intel.feeds import FeedError, taxii
from hygie.intel.refresh import read_source
from hygie.store.state import intel_assets_store, intel_store
from hygie.store.state.db import open_database
from hygie.store.state.models_cases import Case, Observable
from hygie.store.state.store import StateStore

from .intel_peers import FIXTURES, MISP_KEY, TAXII_PASSWORD, TAXII_USER, fake_misp, medallion_server

OBSERVABLES = [("host", "CHSA-WS-URG-014"), ("user", "CHSA\\p.lambert48"), ("ip", "10.10.3.20"),
               ("ip", "91.215.85.142"), ("domain", "cdn-msupdate.net"),
               ("url", "https://cdn-msupdate.net/s/a1"), ("file", "C:\\Users\\x\\a1.ps1"),
               ("hash", "4F5C1B1D0E4A0F0E7A2E6B8C1D3F5A7B9C0D2E4F6A8B0C1D3E5F7A9B1C3D5E7F")]


def test_bundle_holds_only_what_may_leave_marked_with_the_tlp() -> None:
    bundle = sharing.stix_bundle(OBSERVABLES, "TLP:AMBER", "Case 12: stager")
    parsed = stix2.parse(bundle, allow_custom=True)  # valid STIX 2.1
    kinds = [o.type for o in parsed.objects]
    assert kinds.count("indicator") == 4 and "grouping" in kinds and "identity" in kinds
    text = str(bundle)
    for private in ("CHSA-WS-URG-014", "lambert", "10.10.3.20", "a1.ps1"):
        assert private not in text
    marking = next(o for o in parsed.objects if o.type == "marking-definition")
    assert marking.id == "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"  # TLP 2.0 amber
    assert all(marking.id in o.object_marking_refs for o in parsed.objects if o.type == "indicator")
    patterns = {o.pattern for o in parsed.objects if o.type == "indicator"}
    assert "[ipv4-addr:value = '91.215.85.142']" in patterns
    assert any("SHA-256" in p and "4f5c1b1d" in p for p in patterns)


@pytest.mark.parametrize("tlp", ["red", "TLP:RED"])
def test_tlp_red_never_leaves(tlp: str) -> None:
    with pytest.raises(sharing.SharingRefused, match="RED"):
        sharing.stix_bundle(OBSERVABLES, tlp, "x")
    with pytest.raises(sharing.SharingRefused, match="RED"):
        sharing.misp_event(OBSERVABLES, tlp, "x")


def test_nothing_shareable_and_unknown_tlp_are_refused() -> None:
    with pytest.raises(sharing.SharingRefused, match="shareable"):
        sharing.stix_bundle([("host", "PC1"), ("ip", "192.168.1.2")], "green", "x")
    with pytest.raises(sharing.SharingRefused, match="TLP"):
        sharing.stix_bundle(OBSERVABLES, "purple", "x")


def test_case_observables_are_read_with_a_tenant_scope(state_dsn) -> None:
    engine = open_database(state_dsn)
    state = StateStore(engine)
    state.ensure_tenant("chu-a")
    state.ensure_tenant("chu-b")
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        case = Case(tenant_id="chu-a", title="Stager on URG-014", created_by="analyst",
                    created=now, updated=now)
        session.add(case)
        session.flush()
        case_id = case.id
        session.add_all([Observable(case_id=case_id, tenant_id="chu-a", kind=k, value=v)
                         for k, v in OBSERVABLES])
    assert intel_store.case_observables(engine, frozenset({"chu-b"}), case_id) is None
    tenant, title, observables = intel_store.case_observables(engine, frozenset({"chu-a"}), case_id)
    assert (tenant, title, observables) == ("chu-a", "Stager on URG-014", OBSERVABLES)
    engine.dispose()


def test_bundle_pushed_to_taxii_and_read_back(tmp_path: Path) -> None:
    bundle = sharing.stix_bundle(OBSERVABLES, "green", "Case 12")
    options = {"user": TAXII_USER, "password": TAXII_PASSWORD}
    with medallion_server(tmp_path) as collection:
        status = sharing.push_taxii(collection, bundle, options)
        assert status["status"] == "complete" and status["success_count"] == len(bundle["objects"])
        back = read_source("taxii", collection, options)
    assert {(i.type, i.value, i.tlp) for i in back.indicators} == {
        ("ipv4", "91.215.85.142", "green"), ("domain", "cdn-msupdate.net", "green"),
        ("url", "https://cdn-msupdate.net/s/a1", "green"),
        ("sha256", "4f5c1b1d0e4a0f0e7a2e6b8c1d3f5a7b9c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f", "green")}
    with pytest.raises(FeedError):
        taxii.push("http://127.0.0.1:9/x/collections/y/", bundle, {})


def test_misp_event_pushed_to_a_misp_rest_peer(monkeypatch) -> None:
    event = sharing.misp_event(OBSERVABLES, "amber", "Case 12")
    attributes = {(a["type"], a["value"]) for a in event["Event"]["Attribute"]}
    assert attributes == {("ip-dst", "91.215.85.142"), ("domain", "cdn-msupdate.net"),
                          ("url", "https://cdn-msupdate.net/s/a1"),
                          ("sha256", "4f5c1b1d0e4a0f0e7a2e6b8c1d3f5a7b9c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f")}
    assert all(a["to_ids"] for a in event["Event"]["Attribute"])
    assert [t["name"] for t in event["Event"]["Tag"]] == ["tlp:amber"]
    monkeypatch.setenv("HYGIE_TEST_MISP_KEY", MISP_KEY)
    with fake_misp() as (url, misp):
        answer = sharing.push_misp(url, event, {"key_env": "HYGIE_TEST_MISP_KEY"})
    assert answer["Event"]["id"] == "101"
    [added] = misp.added
    assert {a["value"] for a in added["Attribute"]} == {v for _, v in attributes}


def test_assets_and_kev_raise_ranked_early_warnings(state_dsn) -> None:
    engine = open_database(state_dsn)
    state = StateStore(engine)
    for tenant in ("chu-a", "chu-b"):
        state.ensure_tenant(tenant)
    assets, problems = asset_csv.read_csv(str(FIXTURES / "assets.csv"))
    assert [p.where.rsplit(":", 1)[-1] for p in problems] == ["6", "7"]
    fw = next(a for a in assets if a["host"] == "FW-EDGE-01")
    assert (fw["vendor"], fw["product"], fw["version"], fw["exposed"]) == ("fortinet", "fortios", "7.2.4", True)
    assert intel_assets_store.upsert_assets(engine, None, "chu-a", assets) == (4, 0)
    assert intel_assets_store.upsert_assets(engine, None, "chu-a", assets[:1]) == (0, 1)
    intel_assets_store.upsert_assets(engine, None, "chu-b", [{"host": "VPN", "vendor": "Citrix",
                                                              "product": "NetScaler Gateway"}])
    with pytest.raises(intel_assets_store.AssetStoreError):
        intel_assets_store.upsert_assets(engine, frozenset({"chu-b"}), "chu-a", assets)
    new, bad, warned = kev.import_catalog(engine, str(FIXTURES / "kev.json"))
    assert sorted(new) == ["CVE-2021-44228", "CVE-2023-4966", "CVE-2024-21762"]
    assert len(bad) == 1 and "vulnerabilities[3]" in str(bad[0])
    assert warned == 2  # the exposed FortiOS firewall and the EHR's Log4j2, both chu-a's
    queue = intel_assets_store.list_warnings(engine, frozenset({"chu-a"}))
    assert [(w.cve_id, a.host) for w, a, _ in queue] == [("CVE-2024-21762", "FW-EDGE-01"),
                                                         ("CVE-2021-44228", "EHR-APP-01")]
    assert "exposed to the internet: yes" in queue[0][0].reason and queue[0][0].rank > queue[1][0].rank
    assert intel_assets_store.list_warnings(engine, frozenset({"chu-b"})) == []  # "NetScaler Gateway" != product
    assert kev.import_catalog(engine, str(FIXTURES / "kev.json"))[2] == 0  # once each
    # a new asset re-runs the match at once
    intel_assets_store.upsert_assets(engine, None, "chu-b", [{"host": "VPN2", "vendor": "Citrix",
                                                              "product": "NetScaler ADC and NetScaler Gateway",
                                                              "exposed": True}])
    assert kev.run_early_warning(engine) == 1
    assert [w.cve_id for w, _, _ in intel_assets_store.list_warnings(engine, frozenset({"chu-b"}))] == [
        "CVE-2023-4966"]
    engine.dispose()


def test_cpe_names_and_product_words() -> None:
    assert asset_csv.parse_cpe("cpe:2.3:a:apache:log4j:2.14.1:*:*:*:*:*:*:*")["version"] == "2.14.1"
    with pytest.raises(ValueError):
        asset_csv.parse_cpe("cpe:/a:apache:log4j:2.14.1")
    assert kev._same_product("fortios_ssl_vpn", "fortios")
    assert not kev._same_product("fortiosx", "fortios") and not kev._same_product("", "x")
