"""Indicators in the live pipeline: the demo hospital's morning through the detection stage
with indicators of its intrusion loaded, on SQLite and PostgreSQL. A hit is an alert of kind
ioc with the indicator's context, stored once, with a sighting; the Sigma alerts are the same
as without indicators; another tenant's indicators never match."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.intel.indicators import Indicator, checked
from hygie.intel.matcher import IntelMatcher
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.store.state import intel_store
from hygie.store.state.db import open_database
from hygie.store.state.store import StateStore

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
POLICY = PatientPolicy(b"s" * 32)


@pytest.fixture(scope="module")
def engine_packs() -> Engine:
    engine = Engine.from_paths([], include_packs=True)
    engine.warm_up()
    return engine


def records(tenant: str) -> list[RawRecord]:
    return [RawRecord(tenant, "http:demo", JSON, line, 1_790_000_000.0, "10.0.0.9", seq)
            for seq, line in enumerate(DEMO.read_bytes().splitlines()) if line.strip()]


def test_demo_intrusion_raises_ioc_alerts_and_sightings(state_dsn, engine_packs) -> None:
    db = open_database(state_dsn)
    state = StateStore(db)
    for tenant in ("chu-a", "chu-b"):
        state.ensure_tenant(tenant)
    shared = intel_store.add_feed(db, None, None, "regional CERT", "text", "/srv/cert.txt")
    private_b = intel_store.add_feed(db, None, "chu-b", "chu-b list", "text", "/srv/b.txt")
    intel_store.replace_indicators(db, shared.id, [
        checked(Indicator("domain", "cdn-msupdate.net", confidence=90, tlp="amber")),
        checked(Indicator("ipv4", "91.215.85.142", confidence=60)),
        checked(Indicator("url", "https://cdn-msupdate.net/s/a1"))])
    intel_store.replace_indicators(db, private_b.id, [checked(Indicator("domain", "www.vidal.fr"))])

    plain = DetectionStage(engine_packs, POLICY).process(records("chu-a"))
    matcher = IntelMatcher.from_database(db)
    assert matcher.refresh_now() and matcher.snapshot.size == 4
    stage = DetectionStage(engine_packs, POLICY, intel=matcher)
    results = stage.process(records("chu-a"))
    sigma = Counter(a.rule_id for r in results for a in r.alerts if a.kind != "ioc")
    assert sigma == Counter(a.rule_id for r in plain for a in r.alerts)
    iocs = [(r, a) for r in results for a in r.alerts if a.kind == "ioc"]
    by_rule = Counter(a.rule_id.rsplit(":", 1)[0] for _, a in iocs)
    # the PowerShell download (URL and its domain in ScriptBlockText), the DNS query (domain
    # and the answer's address in QueryResults)
    assert by_rule == {"ioc:domain": 2, "ioc:url": 1, "ioc:ipv4": 1}
    dns = next(a for _, a in iocs if "QueryName" in a.matched)
    assert dns.level == "high" and dns.host == "CHSA-WS-URG-014"
    assert dns.matched["indicator"]["source"] == "regional CERT"
    assert dns.matched["indicator"]["tlp"] == "amber"
    assert all("www.vidal.fr" not in str(a.matched) for _, a in iocs)  # chu-b's own indicator

    created, _ = state.store_results(results)
    stage.mark_stored(results)
    stored = [a for a in state.alerts(["chu-a"], limit=1000) if a.kind == "ioc"]
    assert len(stored) >= 3 and all(a.pack == "intel" for a in stored)
    own = intel_store.sightings(db, frozenset({"chu-a"}))
    assert len(own) == 4 and {i.value for _, i in own} == {"cdn-msupdate.net", "91.215.85.142",
                                                            "https://cdn-msupdate.net/s/a1"}
    # delivered again: nothing more stored, no second sighting
    assert state.store_results(results) == (0, 0)
    stage.mark_stored(results)
    assert len(intel_store.sightings(db, frozenset({"chu-a"}))) == 4
    # the other hospital is warned, without being told which one saw it
    warnings = intel_store.shared_warnings(db, frozenset({"chu-b"}))
    assert {w.value for w in warnings} == {"cdn-msupdate.net", "91.215.85.142",
                                           "https://cdn-msupdate.net/s/a1"}
    assert all(w.named == () and w.tenants == 1 for w in warnings)

    # chu-b's records: its own indicator matches there
    results_b = stage.process(records("chu-b"))
    assert any(a.rule_id.startswith("ioc:domain") and a.matched["indicator"]["value"] == "www.vidal.fr"
               for r in results_b for a in r.alerts)
    db.dispose()


def test_sightings_failing_do_not_fail_the_batch(engine_packs, caplog) -> None:
    rows = [checked(Indicator("domain", "cdn-msupdate.net"))]

    def broken(_sightings):
        raise RuntimeError("database away")

    matcher = IntelMatcher(lambda: ([intel_store.ActiveIndicator(1, None, "domain", rows[0].value,
                                                                 50, "clear", None, 1)], {}),
                           record=broken)
    matcher.refresh_now(force=True)
    stage = DetectionStage(engine_packs, POLICY, intel=matcher)
    results = stage.process(records("chu-a"))
    stage.mark_stored(results)
    assert "sightings of this batch could not be recorded" in caplog.text
