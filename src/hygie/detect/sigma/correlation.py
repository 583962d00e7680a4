"""Sigma correlation rules (event_count, value_count, temporal, temporal_ordered).

State is kept per (correlation, group-by values) in sliding windows on event time. A window
that satisfies its condition raises one alert and starts afresh, so a brute force of 500
failed logons gives a handful of alerts, not 490. ``lt``/``lte`` conditions can only be
decided when a window closes (a later event of the group, or the end of input).
Input is assumed roughly time-ordered per source, as logs are.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hygie.core.event import Event

_OPS = {
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
}
_CLOSE_ONLY = {"LT", "LTE"}


@dataclass(slots=True)
class CorrelationSpec:
    """A compiled correlation: which base rules feed it and how windows are judged."""

    rule_id: str
    title: str
    level: str
    tags: list[str]
    pack: str
    kind: str  # event_count | value_count | temporal | temporal_ordered
    base_rules: list[str]  # base rule ids, in the order the rule lists them
    group_by: list[str]
    aliases: dict[str, dict[str, str]]  # alias -> base rule id -> field name
    timespan: float
    op: str
    count: int
    value_field: str | None = None
    generate: bool = False


@dataclass(slots=True)
class CorrelationHit:
    spec: CorrelationSpec
    group: dict[str, Any]
    events: list[Event]
    count: int


@dataclass(slots=True)
class _Window:
    entries: deque[tuple[float, str, Event]] = field(default_factory=deque)


class Correlator:
    """Feeds base-rule matches into the correlations that reference them."""

    def __init__(self, specs: list[CorrelationSpec]) -> None:
        self.specs = specs
        self.by_base: dict[str, list[CorrelationSpec]] = {}
        for spec in specs:
            for base in dict.fromkeys(spec.base_rules):
                self.by_base.setdefault(base, []).append(spec)
        self.windows: dict[tuple[str, tuple[Any, ...]], _Window] = {}
        self.last_time = 0.0

    def wants(self, base_rule_id: str) -> bool:
        return base_rule_id in self.by_base

    def feed(self, base_rule_id: str, event: Event) -> Iterator[CorrelationHit]:
        ts = event.timestamp()
        if ts is None:
            ts = self.last_time
        self.last_time = max(self.last_time, ts)
        for spec in self.by_base.get(base_rule_id, ()):
            group = tuple(self._group_value(spec, name, base_rule_id, event) for name in spec.group_by)
            key = (spec.rule_id, group)
            window = self.windows.get(key)
            if window is None:
                window = self.windows[key] = _Window()
            entries = window.entries
            if entries and ts - entries[0][0] > spec.timespan and spec.op in _CLOSE_ONLY:
                hit = self._judge(spec, group, entries)
                entries.clear()
                if hit:
                    yield hit
            entries.append((ts, base_rule_id, event))
            while entries and ts - entries[0][0] > spec.timespan:
                entries.popleft()
            if spec.op not in _CLOSE_ONLY:
                hit = self._judge(spec, group, entries)
                if hit:
                    entries.clear()
                    yield hit

    def flush(self) -> Iterator[CorrelationHit]:
        """End of input: decide the windows that only close (``lt``/``lte``)."""
        for (rule_id, group), window in list(self.windows.items()):
            spec = next(s for s in self.specs if s.rule_id == rule_id)
            if spec.op in _CLOSE_ONLY and window.entries:
                hit = self._judge(spec, group, window.entries)
                if hit:
                    yield hit
        self.windows.clear()

    @staticmethod
    def _group_value(spec: CorrelationSpec, name: str, base: str, event: Event) -> Any:
        field_name = spec.aliases.get(name, {}).get(base, name)
        return _hashable(event.fields.get(field_name))

    def _judge(self, spec: CorrelationSpec, group: tuple[Any, ...],
               entries: deque[tuple[float, str, Event]]) -> CorrelationHit | None:
        test = _OPS[spec.op]
        if spec.kind == "event_count":
            measured = len(entries)
        elif spec.kind == "value_count":
            measured = len({_hashable(e.fields.get(spec.value_field or "")) for _, _, e in entries
                            if e.fields.get(spec.value_field or "") is not None})
        elif spec.kind == "temporal":
            measured = len({base for _, base, _ in entries})
        else:
            measured = _ordered_prefix(spec.base_rules, entries)
        if test(measured, spec.count):
            return self._hit(spec, group, entries, measured)
        return None

    @staticmethod
    def _hit(spec: CorrelationSpec, group: tuple[Any, ...],
             entries: deque[tuple[float, str, Event]], measured: int) -> CorrelationHit:
        return CorrelationHit(spec, dict(zip(spec.group_by, group)),
                              [e for _, _, e in entries], measured)


def _hashable(value: Any) -> Any:
    """A field value as a key: a list as a tuple; an object, or a list holding one, as its
    text. Values come from senders, so one with a nested object must not stop correlation."""
    if isinstance(value, list):
        value = tuple(value)
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _ordered_prefix(order: list[str], entries: deque[tuple[float, str, Event]]) -> int:
    """How many of ``order``'s rules were seen in that order within the window."""
    position = 0
    for _, base, _ in entries:
        if position < len(order) and base == order[position]:
            position += 1
    return position
