"""Checks on the asset inventory, on fixture data written here: 10 assets of which 7 sent events
in the last 7 days (70 %), exposed assets with and without risky services, and the age of the
oldest open known-exploited vulnerability; "no data" without an inventory or a KEV catalog."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from hygie.prepare import checks
from hygie.prepare.assets import asset_coverage, internet_exposure, kev_age
from hygie.prepare.evidence import load_config, proposals, run_checks
from hygie.prepare.loader import SHIPPED, load_catalog
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state.prepare_metrics import AssetData, AssetInfo, WarningInfo

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _asset(host: str, exposed: bool = False, services: tuple[str, ...] | None = None, ip: str = "") -> AssetInfo:
    return AssetInfo(host, ip, exposed, "support", services)


def _warning(cve: str, host: str, days: int) -> WarningInfo:
    return WarningInfo(cve, "", host, "new", 100, NOW - timedelta(days=days), "2024-01-01", False, True, "vital")


@pytest.fixture
def telemetry(tmp_path: Path):
    store = EventStore(tmp_path / "events", retention_days=3650)
    events = []
    # 7 of the 10 inventory assets send events: srv00-srv05 by name (one by FQDN), srv06 by its IP
    for i, host in enumerate(["srv00", "SRV01.chu.local", "srv02", "srv03", "srv04", "srv05", "10.0.0.6"]):
        events.append(StoredEvent("chu-a", f"e{i}", (NOW - timedelta(hours=5)).timestamp(), None, host,
                                  "http:test", "json", {"x": 1}, b"{}"))
    # srv07 last sent 9 days ago: silent for the 7-day window
    events.append(StoredEvent("chu-a", "old", (NOW - timedelta(days=9)).timestamp(), None, "srv07",
                              "http:test", "json", {"x": 1}, b"{}"))
    store.append(events)
    store.close()
    reader = EventStoreTelemetry(tmp_path / "events")
    yield reader
    reader.close()


def _inventory() -> AssetData:
    assets = [_asset(f"srv{i:02d}", ip=f"10.0.0.{i}") for i in range(10)]
    return AssetData(assets, [], 1200)


def test_ten_assets_seven_seen_is_seventy_percent(telemetry) -> None:
    found = asset_coverage(telemetry, "chu-a", _inventory(), load_config().asset_coverage, NOW)
    assert found.available and found.details["share"] == pytest.approx(0.7)
    assert found.details["silent"] == ["srv07", "srv08", "srv09"]
    assert "7 of 10 (70 %)" in found.proof and "silent: srv07, srv08, srv09" in found.proof
    assert found.score == 0.33  # 70 %: over 25 %, under 75 %
    other = asset_coverage(telemetry, "chu-b", _inventory(), load_config().asset_coverage, NOW)
    assert other.details["share"] == 0.0  # another tenant's events do not count


def test_internet_exposure() -> None:
    config = load_config().internet_exposure
    quiet = internet_exposure(AssetData([_asset("a"), _asset("b")], [], 0), config, NOW)
    assert quiet.score == 1.0 and "none of the 2 assets" in quiet.proof
    one = internet_exposure(AssetData([_asset("vpn", True, ("https", "443/tcp")), _asset("rdp-gw", True, ("3389/tcp",)),
                                       _asset("c")], [], 0), config, NOW)
    assert one.details["risky"] == ["rdp-gw"] and one.score == 0.33 and "rdp-gw (3389/tcp)" in one.proof
    two = internet_exposure(AssetData([_asset("x", True, ("rdp",)), _asset("y", True, ("smb",))], [], 0), config, NOW)
    assert two.score == 0.0
    unknown = internet_exposure(AssetData([_asset("web", True)], [], 0), config, NOW)
    assert unknown.score == 0.67 and "services not known for web" in unknown.proof
    assert not internet_exposure(AssetData([], [], 0), config, NOW).available


def test_kev_age() -> None:
    config = load_config().kev_age
    assets = [_asset("pacs")]
    assert not kev_age(AssetData(assets, [], 0), config, NOW).available  # no catalog loaded
    clean = kev_age(AssetData(assets, [], 1200), config, NOW)
    assert clean.score == 1.0 and clean.details["open"] == 0
    old = kev_age(AssetData(assets, [_warning("CVE-2024-1", "pacs", 3), _warning("CVE-2023-9", "pacs", 20)], 1200),
                  config, NOW)
    assert old.details == {"open": 2, "oldest_days": 20, "oldest_cve": "CVE-2023-9"} and old.score == 0.33
    assert "CVE-2023-9 on pacs" in old.proof
    assert kev_age(AssetData(assets, [_warning("CVE-1", "pacs", 45)], 1200), config, NOW).score == 0.0


def test_asset_checks_propose_answers(telemetry) -> None:
    data = AssetData([*_inventory().assets, _asset("rdp-gw", True, ("rdp",))],
                     [_warning("CVE-2023-9", "srv01", 20)], 1200)
    found = run_checks(telemetry, "chu-a", load_config(), NOW, assets=data)
    catalog = load_catalog([SHIPPED])
    made = {p.question_id: p.value for p in proposals(catalog, ["care", "nis2", "cis"], "medium", found)}
    assert made["care.exposure.2"] == "1" and made["care.exposure.1"] == "1"  # one risky exposure: 0.33
    assert made["care.exposure.3"] == "1" and made["nis2.e"] == "1" and made["cis.7.2"] == "1"  # 20 days: 0.33
    assert found[checks.ASSET_COVERAGE].details["monitored"] == 7
    assert made["care.workstations.2"] == "1"  # 7 of 11: 64 %, 0.33
