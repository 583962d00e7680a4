"""Importers on real formats served on 127.0.0.1: a MISP feed and a STIX 2.1 bundle over HTTP,
a TAXII 2.1 collection on a real medallion server, a MISP instance's REST API through PyMISP
(against a local stand-in: no real MISP is run), plain lists; malformed entries reported with
where they are, the rest imported; feed refresh and its status in the store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hygie.intel.feeds import FeedError
from hygie.intel.feeds.stix import pattern_values, PatternError
from hygie.intel.refresh import read_source, refresh_due, refresh_feed
from hygie.store.state import intel_store
from hygie.store.state.db import open_database
from hygie.store.state.store import StateStore

from .intel_peers import FIXTURES, MISP_KEY, TAXII_PASSWORD, TAXII_USER, fake_misp, medallion_server, \
    static_server

SHA = "4f5c1b1d0e4a0f0e7a2e6b8c1d3f5a7b9c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f"
FEED_VALUES = {("domain", "cdn-msupdate.net"), ("ipv4", "91.215.85.142"),
               ("url", "https://cdn-msupdate.net/s/a1"), ("cidr", "198.51.100.0/24"),
               ("sha256", SHA), ("email", "factures@mutuelle-paiement.example"),
               ("md5", "0f343b0931126a20f133d67c2b018a3b"),
               ("domain", "login.mutuelle-paiement.example")}


def by_value(result):
    return {(i.type, i.value): i for i in result.indicators}


def test_misp_feed_over_http_and_from_a_folder() -> None:
    with static_server() as base:
        over_http = read_source("misp-feed", f"{base}/misp-feed/")
    from_folder = read_source("misp-feed", str(FIXTURES / "misp-feed"))
    for result in (over_http, from_folder):
        found = by_value(result)
        assert set(found) == FEED_VALUES  # to_ids false (8.8.8.8, text, filename) left out
        assert found[("url", "https://cdn-msupdate.net/s/a1")].tlp == "red"  # attribute tag wins
        assert found[("domain", "cdn-msupdate.net")].tlp == "amber"  # the event's
        assert found[("domain", "cdn-msupdate.net")].confidence == 90  # threat level high
        assert found[("email", "factures@mutuelle-paiement.example")].confidence == 75  # its tag
        assert found[("md5", "0f343b0931126a20f133d67c2b018a3b")].tlp == "green"
        assert found[("domain", "cdn-msupdate.net")].ref == "a0000001-0000-4000-8000-000000000001"
        assert 'misp-galaxy:ransomware="LockBit"' in found[("domain", "cdn-msupdate.net")].tags
        problems = [str(p) for p in result.problems]
        assert len(problems) == 3
        assert any("a0000001-0000-4000-8000-000000000005" in p and "999.1.2.3" in p for p in problems)
        assert any("a0000002-0000-4000-8000-000000000004" in p and "two parts" in p for p in problems)
        assert any("0e03.json" in p and "not JSON" in p for p in problems)


def test_misp_feed_without_manifest_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="manifest.json"):
        read_source("misp-feed", str(tmp_path))
    with static_server(tmp_path) as base, pytest.raises(FeedError, match="HTTP 404"):
        read_source("misp-feed", f"{base}/")


def test_stix_bundle_over_http_and_as_a_file() -> None:
    with static_server() as base:
        over_http = read_source("stix", f"{base}/bundle.json")
    as_file = read_source("stix", str(FIXTURES / "bundle.json"))
    for result in (over_http, as_file):
        found = by_value(result)
        assert set(found) == {("ipv4", "91.215.85.142"), ("sha256", SHA),
                              ("domain", "cdn-msupdate.net"), ("url", "https://cdn-msupdate.net/s/a1"),
                              ("cidr", "198.51.100.0/24"),
                              ("email", "factures@mutuelle-paiement.example")}
        c2 = found[("ipv4", "91.215.85.142")]
        assert (c2.tlp, c2.confidence, c2.ref) == ("amber", 85, "indicator--1a2b3c4d-0001-4e5f-8a9b-0c1d2e3f4a5b")
        assert c2.expires is not None and c2.expires.isoformat().startswith("2027-02-18T08:00")
        assert found[("sha256", SHA)].tlp == "green"  # TLP 1.0 green marking
        assert found[("domain", "cdn-msupdate.net")].tlp == "green"  # tlp: label
        assert found[("domain", "cdn-msupdate.net")].tags == ["ransomware"]
        problems = {str(p).split(": ")[1]: str(p) for p in result.problems}
        assert set(problems) == {"indicator--1a2b3c4d-0004-4e5f-8a9b-0c1d2e3f4a5b",  # AND
                                 "indicator--1a2b3c4d-0005-4e5f-8a9b-0c1d2e3f4a5b",  # no pattern
                                 "indicator--1a2b3c4d-0008-4e5f-8a9b-0c1d2e3f4a5b"}  # bad pattern
        assert "revoked" not in str(result.indicators)  # the revoked one is not imported


def test_stix_patterns() -> None:
    assert pattern_values("[url:value IN ('http://a.example/', 'http://b.example/')]") == [
        ("url", "http://a.example/"), ("url", "http://b.example/")]
    assert pattern_values("[file:hashes.MD5 = 'aa' OR file:hashes.'SHA-1' = 'bb']") == [
        ("md5", "aa"), ("sha1", "bb")]
    for bad in ("[process:name = 'x.exe']", "[ipv4-addr:value != '1.2.3.4']",
                "[ipv4-addr:value = '1.2.3.4'] FOLLOWEDBY [ipv4-addr:value = '1.2.3.5']"):
        with pytest.raises(PatternError):
            pattern_values(bad)


def test_stix_that_is_not_a_bundle(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"objects": 3}')
    (tmp_path / "y.json").write_text("not json")
    for name in ("x.json", "y.json", "missing.json"):
        with pytest.raises(FeedError):
            read_source("stix", str(tmp_path / name))


def test_taxii_collection_on_medallion_pushed_then_polled(tmp_path: Path) -> None:
    from hygie.intel.feeds import taxii

    bundle = (FIXTURES / "bundle.json").read_text()
    import json

    objects = json.loads(bundle)["objects"]
    valid = [o for o in objects if o["id"] not in {"indicator--1a2b3c4d-0005-4e5f-8a9b-0c1d2e3f4a5b",
                                                   "indicator--1a2b3c4d-0008-4e5f-8a9b-0c1d2e3f4a5b"}]
    options = {"user": TAXII_USER, "password": TAXII_PASSWORD, "per_request": 3}
    with medallion_server(tmp_path) as collection:
        status = taxii.push(collection, {"type": "bundle", "id": json.loads(bundle)["id"],
                                         "objects": valid}, options)
        assert status["success_count"] == len(valid) and status["failure_count"] == 0
        result = read_source("taxii", collection, options)  # several pages of 3
        with pytest.raises(FeedError, match="401|Unauthorized|auth"):
            read_source("taxii", collection, {"user": TAXII_USER, "password": "wrong"})
    found = by_value(result)
    assert ("ipv4", "91.215.85.142") in found and ("sha256", SHA) in found
    assert len(found) == 6
    assert [p.where.split(": ")[-1] for p in result.problems] == [
        "indicator--1a2b3c4d-0004-4e5f-8a9b-0c1d2e3f4a5b"]


def test_taxii_server_away_is_an_error() -> None:
    with pytest.raises(FeedError):
        read_source("taxii", "http://127.0.0.1:9/api/collections/x/", {})


@pytest.mark.parametrize("mode", ["events", "attributes"])
def test_misp_instance_through_pymisp(monkeypatch, mode: str) -> None:
    monkeypatch.setenv("HYGIE_TEST_MISP_KEY", MISP_KEY)
    with fake_misp() as (url, misp):
        result = read_source("misp", url, {"key_env": "HYGIE_TEST_MISP_KEY", "mode": mode})
    found = by_value(result)
    assert set(found) == FEED_VALUES
    assert found[("domain", "cdn-msupdate.net")].tlp == "amber"
    assert found[("url", "https://cdn-msupdate.net/s/a1")].tlp == "red"
    search = [r for r in misp.requests if r[1].endswith("/restSearch")]
    assert len(search) == 1 and search[0][1] == f"/{mode}/restSearch"
    assert search[0][2]["to_ids"] in (1, True) and search[0][3]["Authorization"] == MISP_KEY
    # attribute 5 (999.1.2.3) and the pipe-less composite are reported
    assert {p.where.rsplit(" ", 1)[-1] for p in result.problems} == {
        "a0000001-0000-4000-8000-000000000005", "a0000002-0000-4000-8000-000000000004"}


def test_misp_instance_errors(monkeypatch) -> None:
    monkeypatch.setenv("HYGIE_TEST_MISP_KEY", "wrong-key")
    with fake_misp() as (url, _misp), pytest.raises(FeedError):
        read_source("misp", url, {"key_env": "HYGIE_TEST_MISP_KEY"})
    monkeypatch.delenv("HYGIE_TEST_MISP_KEY")
    with pytest.raises(FeedError, match="API key"):
        read_source("misp", "http://127.0.0.1:9", {"key_env": "HYGIE_TEST_MISP_KEY"})


def test_plain_lists() -> None:
    text = read_source("text", str(FIXTURES / "list.txt"))
    assert set(by_value(text)) == {("ipv4", "91.215.85.142"), ("domain", "cdn-msupdate.net"),
                                   ("url", "https://cdn-msupdate.net/s/a1"), ("sha256", SHA),
                                   ("cidr", "10.66.0.0/16")}
    assert [p.where.rsplit(":", 1)[-1] for p in text.problems] == ["6"]
    csv = read_source("csv", str(FIXTURES / "list.csv"))
    found = by_value(csv)
    assert set(found) == {("ipv4", "91.215.85.142"), ("domain", "cdn-msupdate.net"),
                          ("domain", "login.mutuelle-paiement.example"),
                          ("email", "factures@mutuelle-paiement.example")}
    assert (found[("ipv4", "91.215.85.142")].confidence, found[("ipv4", "91.215.85.142")].tlp) == (90, "amber")
    assert found[("email", "factures@mutuelle-paiement.example")].confidence == 70
    assert sorted(p.where.rsplit(":", 1)[-1] for p in csv.problems) == ["4", "5", "8"]


def test_feed_refresh_and_its_status(state_dsn, tmp_path: Path) -> None:
    engine = open_database(state_dsn)
    StateStore(engine).ensure_tenant("chu-a")
    folder = tmp_path / "served"
    shutil.copytree(FIXTURES / "misp-feed", folder / "misp-feed")
    with static_server(folder) as base:
        feed = intel_store.add_feed(engine, None, None, "CERT Santé", "misp-feed",
                                    f"{base}/misp-feed/", {"expire_days": 90}, schedule_minutes=60)
        [report] = refresh_due(engine)
        assert report.added == len(FEED_VALUES) and len(report.problems) == 3
        assert refresh_due(engine) == []  # not due again before its hour
        [status] = intel_store.list_feeds(engine, None)
        assert status.indicator_count == len(FEED_VALUES) and status.problem_count == 3
        assert status.last_success is not None and "skipped" in (status.last_error or "")
        rows, _ = intel_store.search_indicators(engine, None)
        assert all(r.expires is not None for r in rows)  # expire_days
        shutil.rmtree(folder / "misp-feed")
        failed = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id))
    assert failed.error and "404" in failed.error
    [status] = intel_store.list_feeds(engine, None)
    assert status.indicator_count == len(FEED_VALUES) and "404" in (status.last_error or "")
    assert intel_store.search_indicators(engine, None)[1] == len(FEED_VALUES)  # kept
    engine.dispose()
