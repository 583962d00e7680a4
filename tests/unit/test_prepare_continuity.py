"""Continuity KPIs over time, on per-day fixtures whose values per period were computed by hand:
backup success and freshness, restore-test age and success, silent sources, open critical early
warnings; and the sector's threat landscape as a sourced data file (good and bad files) with the
coverage of its techniques by the enabled rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hygie.prepare import continuity
from hygie.prepare.landscape import load_landscape, sector_coverage
from hygie.prepare.telemetry import Activity
from hygie.prepare.trends import periods
from hygie.store.state.prepare_metrics import WarningSpan

UNTIL = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
SPANS = periods(UNTIL, 4, "month")  # 2026-08 .. 2026-11; ends Sep 1, Oct 1, Nov 1 and UNTIL


def _at(month: int, day: int, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=timezone.utc)


def _days(*items: tuple[datetime, int]) -> dict[date, Activity]:
    """Per day, the last moment and the number of records (the shape of ``activity_by_day``)."""
    return {moment.date(): Activity(moment, count) for moment, count in items}


# backup runs per day (last run, runs) and the successful ones (last success, successes)
RUNS = _days((_at(8, 10, 22), 1), (_at(9, 28, 22), 2), (_at(9, 30, 22), 1), (_at(10, 29, 23), 4),
             (_at(11, 20, 2), 1))
OK = _days((_at(9, 28, 22), 2), (_at(10, 29, 23), 3), (_at(11, 20, 2), 1))
TESTS = _days((_at(9, 15, 10), 1), (_at(10, 20, 11), 2))
TESTS_OK = _days((_at(9, 15, 10), 1), (_at(10, 20, 9), 1))


def test_periods_end_where_expected() -> None:
    assert [s.label for s in SPANS] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert [continuity.period_end(s, UNTIL) for s in SPANS] == [_at(9, 1), _at(10, 1), _at(11, 1), UNTIL]


def test_backup_success_over_the_window_before_each_end() -> None:
    # August: no run from Aug 25 to 31 (a gap); September (Sep 24-30): 2 of 3; October
    # (Oct 25-31): 3 of 4; November so far (Nov 14-20): 1 of 1
    assert continuity.backup_success(RUNS, OK, SPANS, UNTIL, 7) == [None, 66.7, 75.0, 100.0]


def test_backup_age_at_each_end() -> None:
    # August: a failed run on Aug 10 and no success in the 30 days before Sep 1: the floor, 30 d;
    # Oct 1 - Sep 28 22:00 = 50 h; Nov 1 - Oct 29 23:00 = 49 h; Nov 20 12:00 - 02:00 = 10 h
    assert continuity.backup_age(RUNS, OK, SPANS, UNTIL, 30) == [720.0, 50.0, 49.0, 10.0]
    # no backup run at all in the look-back: a gap, not a floor
    assert continuity.backup_age({}, {}, SPANS, UNTIL, 30) == [None] * 4


def test_restore_tests_age_and_success() -> None:
    # look-back 60 days. Sep 1: no test yet but backup logs (Aug 10): the floor, 60 d = 1440 h;
    # Oct 1 - Sep 15 10:00 = 15 d 14 h; Nov 1 - Oct 20 09:00 = 11 d 15 h; Nov 20 12:00 - Oct 20
    # 09:00 = 31 d 3 h
    ages = continuity.restore_test_age(TESTS_OK, (RUNS, TESTS), SPANS, UNTIL, 60)
    assert ages == [1440.0, 15 * 24 + 14.0, 11 * 24 + 15.0, 31 * 24 + 3.0]
    assert continuity.restore_test_age({}, ({}, {}), SPANS, UNTIL, 60) == [None] * 4
    # tests run in the period: none in August or November; 1 of 1, then 1 of 2
    assert continuity.restore_test_success(TESTS, TESTS_OK, SPANS, UNTIL) == [None, 100.0, 50.0, None]


def test_silent_sources_at_each_end() -> None:
    # each source's last event in the 30 days before each end (what sources_last_seen gives)
    last_seen = {
        _at(9, 1): {}, _at(10, 1): {},  # nothing in the look-back: gaps
        _at(11, 1): {("a", "Security"): _at(10, 31, 12), ("b", "Security"): _at(10, 10, 9)},
        UNTIL: {("a", "Security"): _at(11, 20, 11), ("c", "syslog"): _at(11, 20, 1), ("d", "Sysmon"): _at(11, 18, 6)},
    }
    # Nov 1: b silent since Oct 10, a talked 12 h before. Nov 20 12:00: a (1 h), c (11 h), d (54 h)
    assert continuity.silent_sources(last_seen, SPANS, UNTIL, 24) == [None, None, 1.0, 1.0]
    # 12 h: a at exactly 12 h is not silent yet; 10 h: a and c become silent too
    assert continuity.silent_sources(last_seen, SPANS, UNTIL, 12) == [None, None, 1.0, 1.0]
    assert continuity.silent_sources(last_seen, SPANS, UNTIL, 10) == [None, None, 2.0, 2.0]


def test_open_critical_warnings_at_each_end() -> None:
    warnings = [
        WarningSpan(_at(8, 1), _at(8, 31, 23), 200, ""),  # closed before Sep 1: never counted
        WarningSpan(_at(9, 10), _at(10, 15), 100, ""),  # open at Oct 1 only
        WarningSpan(_at(10, 20), None, 60, ""),  # open from Oct 20
        WarningSpan(_at(10, 5), None, 10, "medium"),  # not critical
        WarningSpan(_at(10, 6), None, 10, "critical"),  # critical by the intel stage's level
        WarningSpan(_at(11, 2), UNTIL, 90, ""),  # closed at the very end: still open until then
        WarningSpan(UNTIL + timedelta(hours=1), None, 300, ""),  # after the end
    ]

    def critical(w: WarningSpan) -> bool:
        return w.rank >= 60 or w.level == "critical"
    assert continuity.open_warnings(warnings, SPANS, UNTIL, critical) == [0.0, 1.0, 2.0, 3.0]


def test_the_shipped_landscape_names_a_source_for_every_group() -> None:
    landscape = load_landscape()
    assert landscape.groups and all(g.sources for g in landscape.groups)
    cited = {s for g in landscape.groups for s in g.sources}
    assert cited == set(landscape.sources)  # no source listed without use
    assert "enisa-health-2023" in landscape.sources
    assert all(s.url.startswith("https://") for s in landscape.sources.values())
    ids = [t.id for t in landscape.techniques]
    assert len(ids) == len(set(ids)) and {"T1486", "T1490", "T1133", "T1566"} <= set(ids)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "threat_landscape.yml"
    path.write_text(text, encoding="utf-8")
    return path


GOOD_SOURCE = """sources:
  s1: {title: T, publisher: P, published: "2024-05", url: "https://example.org/a", about: {fr: a, en: a}}
"""


def test_a_bad_landscape_file_is_reported_with_its_line(tmp_path: Path) -> None:
    unknown = _write(tmp_path, GOOD_SOURCE + """groups:
  - id: impact
    title: {fr: Impact, en: Impact}
    summary: {fr: x, en: x}
    sources: [s1, s2]
    techniques: [{id: T1486, name: Data Encrypted for Impact}]
""")
    with pytest.raises(ValueError, match=r"threat_landscape.yml:.*unknown source\(s\) \['s2'\]"):
        load_landscape(unknown)
    bad_id = _write(tmp_path, GOOD_SOURCE + """groups:
  - id: impact
    title: {fr: Impact, en: Impact}
    summary: {fr: x, en: x}
    sources: [s1]
    techniques:
      - {id: T1486, name: Data Encrypted for Impact}
      - {id: 1490, name: Inhibit System Recovery}
""")
    with pytest.raises(ValueError, match=r"threat_landscape.yml:10: groups -> 0 -> techniques -> 1 -> id"):
        load_landscape(bad_id)
    with pytest.raises(ValueError, match=r"threat_landscape.yml:2: not valid YAML"):
        load_landscape(_write(tmp_path, "sources:\n\tbad: 1\n"))
    with pytest.raises(ValueError, match="cannot read"):
        load_landscape(tmp_path / "missing.yml")


def test_coverage_by_group_counts_the_enabled_rules() -> None:
    landscape = load_landscape()
    rules = [["attack.impact", "attack.t1486"], ["attack.t1486"], ["attack.t1021.001"], ["attack.t1059.001"],
             ["attack.t1562"]]
    coverage = sector_coverage(rules, landscape)
    assert coverage.rules == {"T1486": 2, "T1021.001": 1, "T1059": 1, "T1562.001": 1}
    groups = {g.group.id: g for g in coverage.groups}
    assert [t.id for t in groups["impact"].covered] == ["T1486"]
    assert [t.id for t in groups["impact"].missing] == ["T1489", "T1490"]
    assert [t.id for t in groups["lateral-movement"].covered] == ["T1021.001"]
    assert len(coverage.covered) == 4 and len(coverage.covered) + len(coverage.missing) == len(landscape.techniques)
    assert sector_coverage([], landscape).share == 0.0
