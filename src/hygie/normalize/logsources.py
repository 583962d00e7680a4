"""Log-source routing: which Sigma ``logsource`` an event belongs to.

The mapping is data, user-editable: by default every ``*.yml`` of ``mappings/`` (``windows.yml``
for Windows channels, ``healthcare.yml`` for DICOM ATNA, HL7 v2 and FHIR AuditEvent,
``syslog.yml`` for Linux daemons and firewalls), or one file or folder of the user's. Routing is
computed once per distinct combination of the few fields the mapping looks at (Channel,
EventID, LogSource, app_name...), so its cost per event is one tuple build and one dictionary
lookup; for the same reason a mapping must only test fields with few distinct values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hygie.core.errors import HygieError

DEFAULT_MAPPING = Path(__file__).parent / "mappings"  # a folder: all its *.yml files


CACHE_LIMIT = 65_536  # routes remembered by key (cheap to compute again)


@dataclass(frozen=True, slots=True)
class LogSource:
    """Sigma's (product, category, service) triple; None means "not specified"."""

    product: str | None = None
    category: str | None = None
    service: str | None = None

    def covers(self, provided: LogSource) -> bool:
        """True when a rule with this log source applies to events of ``provided``."""
        return (
            (self.product is None or self.product == provided.product)
            and (self.category is None or self.category == provided.category)
            and (self.service is None or self.service == provided.service)
        )

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in (("product", self.product), ("category", self.category),
                                         ("service", self.service)) if v]
        return "/".join(parts) or "any"


class _ValueTest:
    """One ``when`` value: exact (as text), any of a list, or a ``prefix*``."""

    def __init__(self, spec: Any) -> None:
        values = spec if isinstance(spec, list) else [spec]
        self.exact = {str(v) for v in values if not str(v).endswith("*")}
        self.prefixes = tuple(str(v)[:-1] for v in values if str(v).endswith("*"))

    def __call__(self, value: Any) -> bool:
        if value is None:
            return False
        text = str(value)
        return text in self.exact or text.startswith(self.prefixes)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    logsource: LogSource
    when: tuple[tuple[str, _ValueTest], ...]
    aliases: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Route:
    """The log sources an event belongs to and the field aliases to add before matching."""

    logsources: frozenset[LogSource]
    aliases: tuple[tuple[str, str], ...]

    def applies(self, rule_logsource: LogSource) -> bool:
        return any(rule_logsource.covers(provided) for provided in self.logsources)


class MappingError(HygieError):
    pass


class LogSourceRouter:
    """Routes events to log sources according to a mapping file."""

    def __init__(self, entries: Iterable[SourceEntry]) -> None:
        self.entries = tuple(entries)
        keys: list[str] = []
        for entry in self.entries:
            for name, _ in entry.when:
                if name not in keys:
                    keys.append(name)
        self.keys: tuple[str, ...] = tuple(keys)
        self._cache: dict[tuple[Any, ...], Route] = {}

    @classmethod
    def from_file(cls, path: str | Path = DEFAULT_MAPPING) -> LogSourceRouter:
        """The router of one mapping file, or of every ``*.yml`` in a folder (in name order:
        a user's copy of ``mappings/`` works like the default)."""
        target = Path(path)
        files = sorted(target.glob("*.yml")) if target.is_dir() else [target]
        if not files:
            raise MappingError(f"{path}: no log-source mapping (*.yml) in this folder")
        entries: list[SourceEntry] = []
        for file in files:
            try:
                doc = yaml.safe_load(file.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as exc:
                raise MappingError(f"{file}: cannot read log-source mapping: {exc}") from exc
            entries.extend(_parse_entries(doc, str(file)))
        return cls(entries)

    def provided(self) -> set[LogSource]:
        return {entry.logsource for entry in self.entries}

    def is_mapped(self, rule_logsource: LogSource) -> bool:
        """Whether any events at all can reach rules of this log source."""
        return any(rule_logsource.covers(ls) for ls in self.provided())

    def route_key(self, fields: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(map(fields.get, self.keys))  # the loop in C: once per event

    def route_for_key(self, key: tuple[Any, ...]) -> Route:
        route = self._cache.get(key)
        if route is None:
            values = dict(zip(self.keys, key))
            logsources: set[LogSource] = set()
            aliases: list[tuple[str, str]] = []
            for entry in self.entries:
                if all(test(values.get(name)) for name, test in entry.when):
                    logsources.add(entry.logsource)
                    aliases.extend(a for a in entry.aliases if a not in aliases)
            route = Route(frozenset(logsources), tuple(aliases))
            if len(self._cache) >= CACHE_LIMIT:  # keys hold values senders choose: bounded
                self._cache.clear()
            self._cache[key] = route
        return route

    def route(self, fields: Mapping[str, Any]) -> Route:
        return self.route_for_key(self.route_key(fields))


def _parse_entries(doc: Any, origin: str) -> list[SourceEntry]:
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise MappingError(f"{origin}: expected a mapping with a 'sources' list")
    entries = []
    for index, raw in enumerate(doc["sources"]):
        where = f"{origin}: sources[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("logsource"), dict):
            raise MappingError(f"{where}: each entry needs a 'logsource' mapping")
        ls = raw["logsource"]
        unknown = set(ls) - {"product", "category", "service"}
        if unknown:
            raise MappingError(f"{where}: unknown logsource keys {sorted(unknown)}")
        when = raw.get("when") or {}
        aliases = raw.get("aliases") or {}
        if not isinstance(when, dict) or not isinstance(aliases, dict):
            raise MappingError(f"{where}: 'when' and 'aliases' must be mappings")
        entries.append(SourceEntry(
            LogSource(ls.get("product"), ls.get("category"), ls.get("service")),
            tuple((str(k), _ValueTest(v)) for k, v in when.items()),
            tuple((str(src), str(dst)) for src, dst in aliases.items()),
        ))
    return entries
