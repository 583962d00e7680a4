"""The normalised event: a flat field dictionary plus where it came from.

Fields use Sigma's names (``EventID``, ``Channel``, ``Image``...). Metadata that rules never
see (origin, receive position) lives in slots, so keyword rules cannot match it by accident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

Fields = dict[str, Any]


class Event:
    """One normalised record. ``time`` is an ISO 8601 string (parsed only when needed)."""

    __slots__ = ("fields", "time", "host", "source", "offset")

    def __init__(
        self,
        fields: Fields,
        time: str | None = None,
        host: str | None = None,
        source: str = "",
        offset: int = 0,
    ) -> None:
        self.fields = fields
        self.time = time
        self.host = host
        self.source = source
        self.offset = offset

    def __repr__(self) -> str:
        return f"Event({self.source}@{self.offset}, {self.time}, {self.host})"

    def timestamp(self) -> float | None:
        """Event time as POSIX seconds, or None when absent or unparseable."""
        dt = parse_time(self.time)
        return dt.timestamp() if dt else None


def parse_time(value: str | None) -> datetime | None:
    """Parse the ISO 8601 shapes Windows, ECS and NXLog produce; naive times are UTC. None
    for anything else, a non-string or a time that UTC cannot hold (year 1 at +01:00)
    included: a record's time comes from its sender, so it must never raise."""
    if not value or value.__class__ is not str:
        return None
    try:  # most times are ISO 8601 as Python writes it (the pipeline's own): its parser, in C
        return _utc(datetime.fromisoformat(value))
    except ValueError:
        return _parse_time_loosely(value)
    except OverflowError:  # a time that UTC cannot hold
        return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _parse_time_loosely(value: str) -> datetime | None:
    """Surrounding blanks, a space for ``T``, more than 6 fractional digits (Windows writes 7):
    what ``datetime.fromisoformat`` refuses as they come."""
    text = value.strip()
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    # Python's fromisoformat accepts at most 6 fractional digits; Windows writes 7.
    dot = text.find(".")
    if dot != -1:
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        if end - dot - 1 > 6:
            text = text[: dot + 7] + text[end:]
    try:
        return _utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class InputProblem:
    """A record or chunk that could not be read: reported, counted, and the run goes on."""

    source: str
    offset: int
    reason: str

    def __str__(self) -> str:
        return f"{self.source}@{self.offset}: {self.reason}"
