"""NIS 2 deadlines in Europe/Paris: 24 h and 72 h of elapsed time across daylight-saving
changes, one calendar month for the final report (month ends, the spring-forward gap)."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from hygie.respond.nis2 import Nis2Error, ReportDue, add_month, deadlines

PARIS = ZoneInfo("Europe/Paris")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


def test_spring_forward_last_sunday_of_march() -> None:
    # 2026-03-29 is the last Sunday of March: 02:00 CET -> 03:00 CEST
    due = deadlines(local(2026, 3, 28, 10, 0))
    assert due["early_warning"].astimezone(PARIS) == local(2026, 3, 29, 11, 0)  # 24 h elapsed = 11:00 local
    assert (due["early_warning"] - local(2026, 3, 28, 10, 0)).total_seconds() == 24 * 3600
    assert due["notification"].astimezone(PARIS) == local(2026, 3, 31, 11, 0)
    assert due["final"].astimezone(PARIS) == local(2026, 4, 30, 11, 0)


def test_fall_back_last_sunday_of_october() -> None:
    # 2026-10-25 is the last Sunday of October: 03:00 CEST -> 02:00 CET
    aware = local(2026, 10, 24, 10, 0)
    due = deadlines(aware)
    assert due["early_warning"].astimezone(PARIS) == local(2026, 10, 25, 9, 0)
    assert (due["early_warning"] - aware).total_seconds() == 24 * 3600  # (aware is CEST, due is CET)
    assert due["notification"].astimezone(PARIS) == local(2026, 10, 27, 9, 0)
    assert due["final"].astimezone(PARIS) == local(2026, 11, 27, 9, 0)  # a calendar month, local wall time


def test_awareness_given_in_utc_or_naive_utc() -> None:
    aware = datetime(2026, 3, 29, 0, 30, tzinfo=timezone.utc)  # 01:30 CET, just before the change
    assert deadlines(aware)["early_warning"] == datetime(2026, 3, 30, 0, 30, tzinfo=timezone.utc)
    assert deadlines(aware.replace(tzinfo=None))["early_warning"] == deadlines(aware)["early_warning"]


@pytest.mark.parametrize("start, expected", [
    (local(2026, 1, 31, 10, 0), local(2026, 2, 28, 10, 0)),
    (local(2028, 1, 31, 10, 0), local(2028, 2, 29, 10, 0)),  # leap year
    (local(2026, 3, 31, 23, 30), local(2026, 4, 30, 23, 30)),
    (local(2026, 12, 15, 8, 0), local(2027, 1, 15, 8, 0)),
    (local(2026, 2, 28, 12, 0), local(2026, 3, 28, 12, 0)),  # CET -> a date before the change
    (local(2026, 9, 25, 12, 0), local(2026, 10, 25, 12, 0)),  # CEST -> CET on the day itself
])
def test_one_calendar_month(start: datetime, expected: datetime) -> None:
    assert add_month(start).astimezone(PARIS) == expected


def test_month_landing_in_the_spring_forward_gap() -> None:
    # 02:30 on 2027-02-28 + 1 month = 02:30 on 2027-03-28, which does not exist in Paris
    result = add_month(local(2027, 2, 28, 2, 30)).astimezone(PARIS)
    assert (result.hour, result.minute, result.utcoffset().total_seconds()) == (3, 30, 7200)


def test_time_zone_matters_and_is_checked() -> None:
    aware = datetime(2026, 1, 31, 23, 30, tzinfo=timezone.utc)  # 1 February 00:30 in Paris
    assert add_month(aware, "Europe/Paris").astimezone(PARIS).date().isoformat() == "2026-03-01"
    assert add_month(aware, "UTC").date().isoformat() == "2026-02-28"
    with pytest.raises(Nis2Error):
        add_month(aware, "Mars/Olympus")


def test_countdown_text() -> None:
    due = datetime(2026, 1, 2, tzinfo=timezone.utc)
    assert ReportDue("early_warning", due, due, None, 83_100, False).countdown == "23 h 05 min"
    assert ReportDue("final", due, due, None, -(2 * 86400 + 600), True).countdown == "-2 d 0 h 10 min"
    assert ReportDue("final", due, due, due, 5, False).countdown == "submitted"
