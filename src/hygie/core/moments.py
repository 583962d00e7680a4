"""Moments as people write them in searches: ``2h``, ``30m``, ``7d``, ``1w``, ``45s`` before
now, or an ISO 8601 time (the command line and the console read them alike)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import overload

from hygie.core.event import parse_time

_RELATIVE = re.compile(r"(\d{1,7})\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A duration before ``now`` or an ISO 8601 time (UTC if no zone). Raises ValueError
    with a message for a person."""
    now = now or datetime.now(timezone.utc)
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        try:
            return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
        except OverflowError:
            raise ValueError(f"{text!r} reaches before year 1") from None
    moment = parse_time(text)
    if moment is None:
        raise ValueError(f"{text!r} is neither a duration (30m, 2h, 7d, 1w) nor an ISO 8601 time")
    return moment


@overload
def as_utc(moment: datetime) -> datetime: ...
@overload
def as_utc(moment: None) -> None: ...
def as_utc(moment: datetime | None) -> datetime | None:
    """A stored time made aware: SQLite gives naive datetimes back (they were written as UTC),
    PostgreSQL aware ones. ``None`` stays ``None``."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)
