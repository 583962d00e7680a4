"""KPIs over time: calendar periods (months or ISO weeks, UTC), a value per period, and the
direction of the trend, read as better or worse according to the KPI (a shorter time to
resolve is better, a larger share of assets monitored is better).

Direction compares the latest period that has a value with the mean of up to three periods
before it that have one; a change under 5 % of that mean is "flat". Periods without data are
gaps, not zeros."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal, TypeVar

T = TypeVar("T")
Unit = Literal["month", "week"]
FLAT = 0.05
MONTHS = (1990, 2999)  # the years a monthly report may be asked for


@dataclass(frozen=True, slots=True)
class Period:
    label: str  # 2026-11, or 2026-W47
    start: datetime
    end: datetime  # exclusive


def _month_start(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def periods(until: datetime, count: int, unit: Unit = "month") -> list[Period]:
    """The ``count`` periods ending with the one that holds ``until``, oldest first."""
    if count < 1:
        raise ValueError("count must be at least 1")
    out: list[Period] = []
    if unit == "month":
        start = _month_start(until)
        for _ in range(count):
            end = (start + timedelta(days=32)).replace(day=1)
            out.append(Period(f"{start:%Y-%m}", start, end))
            start = _month_start(start - timedelta(days=1))
    elif unit == "week":
        day = until.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        start = day - timedelta(days=day.weekday())
        for _ in range(count):
            year, week, _weekday = start.isocalendar()
            out.append(Period(f"{year}-W{week:02d}", start, start + timedelta(days=7)))
            start -= timedelta(days=7)
    else:
        raise ValueError(f"unit must be month or week, not {unit!r}")
    return out[::-1]


def bucket(items: Iterable[T], moment: Callable[[T], datetime | None], spans: Sequence[Period]) -> list[list[T]]:
    """``items`` split by the period their ``moment`` falls in (items outside are left out)."""
    out: list[list[T]] = [[] for _ in spans]
    for item in items:
        when = moment(item)
        if when is None:
            continue
        for index, span in enumerate(spans):
            if span.start <= when < span.end:
                out[index].append(item)
                break
    return out


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    unit: str  # "h" (hours), "%", "" (a count)
    points: list[tuple[str, float | None]]
    lower_is_better: bool | None  # None: neither (a count of alerts)

    @property
    def latest(self) -> float | None:
        return next((v for _label, v in reversed(self.points) if v is not None), None)

    @property
    def direction(self) -> str | None:
        """``up``, ``down``, ``flat``, or None with fewer than two periods of data."""
        values = [v for _label, v in self.points if v is not None]
        if len(values) < 2:
            return None
        before = values[-4:-1]
        reference = sum(before) / len(before)
        change = values[-1] - reference
        if abs(change) <= FLAT * abs(reference) or (reference == 0 and change == 0):
            return "flat"
        return "up" if change > 0 else "down"

    @property
    def better(self) -> bool | None:
        """True when the trend goes the good way, False the bad way, None when flat or neutral."""
        direction = self.direction
        if direction in (None, "flat") or self.lower_is_better is None:
            return None
        return (direction == "down") == self.lower_is_better


def month_span(text: str | None, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[first day, first day of the next month) of ``YYYY-MM``; None: the previous month."""
    if text is None:
        start = _month_start(_month_start(now or datetime.now(timezone.utc)) - timedelta(days=1))
    else:
        try:
            start = datetime.strptime(text, "%Y-%m").replace(tzinfo=timezone.utc)
        except ValueError:
            raise ValueError(f"month {text!r}: write YYYY-MM, e.g. 2026-11") from None
        if not MONTHS[0] <= start.year <= MONTHS[1]:  # the KPIs read years back from it
            raise ValueError(f"month {text!r}: the year must be between {MONTHS[0]} and {MONTHS[1]}")
    return start, (start + timedelta(days=32)).replace(day=1)
