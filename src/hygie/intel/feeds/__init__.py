"""Importers: each reads one kind of source into ``Indicator`` objects and ``Problem`` reports.

A malformed entry never stops an import: it is reported with where it is (file and line,
event and attribute uuid, STIX object id) and the rest is read. A source that cannot be read
at all (no answer, not JSON) raises ``FeedError``, and the feed keeps its indicators."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from hygie.intel.indicators import Indicator, IndicatorError, Problem, checked


class FeedError(RuntimeError):
    """The source could not be read at all (network, format): nothing is replaced."""


@dataclass(slots=True)
class ImportResult:
    """What an import read. ``options`` are the feed's own settings: ``tlp`` and
    ``confidence`` where the source gave none, ``expire_days`` after the last sighting where
    the source set no expiry."""

    options: dict[str, Any] = field(default_factory=dict)
    indicators: list[Indicator] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # an incremental source (TAXII): where the next poll starts (``added_after``), and the
    # refs (STIX ids) its new objects revoked, to be removed from the feed
    cursor: str | None = None
    withdrawn: list[str] = field(default_factory=list)

    def add(self, indicator: Indicator, where: str) -> None:
        """Keep ``indicator`` once normalised, or report why it cannot be."""
        options = self.options
        if indicator.tlp is None and "tlp" in options:
            indicator.tlp = str(options["tlp"])
        if indicator.confidence is None and "confidence" in options:
            indicator.confidence = options["confidence"]
        days = options.get("expire_days")
        if days and indicator.expires is None:
            indicator.expires = ((indicator.last_seen or datetime.now(timezone.utc))
                                 + timedelta(days=float(days)))
        try:
            self.indicators.append(checked(indicator))
        except (IndicatorError, ValueError, TypeError) as exc:
            self.problems.append(Problem(where, str(exc)))

    def problem(self, where: str, reason: str) -> None:
        self.problems.append(Problem(where, reason))

    def extend(self, other: ImportResult) -> None:
        self.indicators.extend(other.indicators)
        self.problems.extend(other.problems)
        self.withdrawn.extend(other.withdrawn)

    def unique(self) -> list[Indicator]:
        """One indicator per (type, value): the last read wins, as a later event updates."""
        return list({(i.type, i.value): i for i in self.indicators}.values())


def parse_time(value: Any) -> datetime | None:
    """ISO 8601 text or POSIX seconds (MISP's timestamps) as an aware datetime."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
            return datetime.fromtimestamp(int(value), timezone.utc)
        text = str(value).replace("Z", "+00:00")
        when = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
