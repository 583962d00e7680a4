"""Continuity KPIs: response times by hand, coverage by tactic and of the sector's techniques."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hygie.prepare.kpis import (alerts_by_level, format_duration, load_definitions,
                                response_times, sector_coverage, tactic_coverage)
from hygie.store.state.prepare_store import AlertTiming

T0 = datetime(2026, 11, 2, 8, 0, tzinfo=timezone.utc)


def _alert(level: str, event_delay_min: int | None, ack_min: int | None, close_min: int | None) -> AlertTiming:
    event_time = None if event_delay_min is None else (T0 - timedelta(minutes=event_delay_min)).isoformat()
    return AlertTiming(level, (), event_time, T0, T0, "new",
                       None if ack_min is None else T0 + timedelta(minutes=ack_min),
                       None if close_min is None else T0 + timedelta(minutes=close_min))


def test_response_times_by_hand() -> None:
    alerts = [_alert("high", 2, 30, 120), _alert("high", 4, 90, None), _alert("low", None, None, None),
              _alert("critical", -5, None, 600)]  # a sender clock ahead: detection delay 0
    times = response_times(alerts)
    assert times.mttd == timedelta(minutes=(2 + 4 + 0) / 3)
    assert times.mtta == timedelta(minutes=(30 + 90) / 2)
    assert times.mttr == timedelta(minutes=(120 + 600) / 2)
    assert (times.detected, times.acknowledged, times.closed, times.alerts) == (3, 2, 2, 4)
    assert alerts_by_level(alerts) == {"critical": 1, "high": 2, "low": 1}


def test_no_triage_data_is_no_data() -> None:
    times = response_times([_alert("high", None, None, None)])
    assert (times.mttd, times.mtta, times.mttr) == (None, None, None)
    assert format_duration(None) == "—"


def test_tactic_coverage_counts_rules_per_tactic() -> None:
    definitions = load_definitions()
    rules = [["attack.impact", "attack.t1490"], ["attack.lateral_movement", "attack.t1021.002"],
             ["attack.lateral-movement", "attack.execution", "attack.t1047"], ["cve.2021.1"]]
    counts = {c.tactic.id: c.rules for c in tactic_coverage(rules, definitions)}
    assert counts["impact"] == 1 and counts["lateral-movement"] == 2 and counts["execution"] == 1
    assert counts["exfiltration"] == 0
    assert list(counts)[0] == "reconnaissance" and len(counts) == 14


def test_sector_coverage_matches_techniques_and_sub_techniques() -> None:
    definitions = load_definitions()
    rules = [["attack.t1490"], ["attack.t1021.002"], ["attack.t1059.001"], ["attack.t1562"]]
    coverage = sector_coverage(rules, definitions)
    covered = {t.id for t in coverage.covered}
    # T1059 by its sub-technique; T1562.001 by its parent; T1021.001 (RDP) not by T1021.002
    assert covered == {"T1490", "T1021.002", "T1059", "T1562.001"}
    assert "T1021.001" in {t.id for t in coverage.missing}
    assert coverage.share == 4 / len(definitions.sector_techniques)


def test_duration_formats() -> None:
    assert format_duration(timedelta(seconds=42)) == "42 s"
    assert format_duration(timedelta(minutes=7, seconds=59)) == "7 min"
    assert format_duration(timedelta(hours=3, minutes=5)) == "3 h 05 min"
    assert format_duration(timedelta(days=2, hours=4), "fr") == "2 j 4 h"
