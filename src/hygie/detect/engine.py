"""The detection engine: route each event to its log source's bucket, match, correlate.

Usage::

    engine = Engine.from_paths(["rules/"])
    for alert in engine.stream(events):
        ...

Rules are compiled across the whole rule set (shared atoms, one automaton per field), so the
cost of a new rule is mostly paid once, at load time.
"""

from __future__ import annotations

import atexit
import functools
import gc
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sigma.conditions import ConditionOR
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

from hygie.core.alert import Alert
from hygie.core.errors import RuleLoadError, SourceLocation
from hygie.core.event import Event
from hygie.detect.sigma.atoms import AtomTable
from hygie.detect.sigma.buckets import Bucket, CompiledRule
from hygie.detect.sigma.compiler import CompileError, ConditionCompiler
from hygie.detect.sigma.correlation import CorrelationHit, CorrelationSpec, Correlator
from hygie.detect.sigma.loader import LoadedRule, RuleLoad, load_paths, locate
from hygie.detect.sigma.matcher import FieldMatcher
from hygie.normalize.logsources import LogSource, LogSourceRouter

PACKS_DIR = Path(__file__).parent / "packs"
DEFAULT_PLACEHOLDERS = Path(__file__).parent / "placeholders.yml"


@dataclass(slots=True)
class RuleStatus:
    """What ``hygie rules list`` shows for a loaded rule."""

    rule: CompiledRule | CorrelationSpec
    active: bool
    notes: list[str]


def load_placeholders(path: str | Path | None) -> dict[str, list[str]]:
    """Values for Sigma's ``expand`` modifier (``%Admins_Workstations%``...), from YAML."""
    target = Path(path) if path else DEFAULT_PLACEHOLDERS
    if not target.exists():
        return {}
    doc = yaml.safe_load(target.read_text(encoding="utf-8")) or {}
    return {str(k): [str(v) for v in (vals or [])] for k, vals in doc.items()}


READ_AHEAD = 256  # events read before they are matched (see ``alerts_by_event``)
ROUTE_CACHE_LIMIT = 65_536  # routing keys remembered; rebuilt from shared buckets beyond


@functools.cache
def _unfreeze_at_exit() -> None:
    """Frozen objects are never freed, which native extensions (DuckDB's nanobind) report as
    leaks at exit: give them back to the collector then (registered once)."""
    atexit.register(gc.unfreeze)


class Engine:
    """Compiled rules + router + correlation state."""

    def __init__(self, loaded: RuleLoad, router: LogSourceRouter | None = None,
                 placeholders: Mapping[str, Sequence[str]] | None = None) -> None:
        self.router = router or LogSourceRouter.from_file()
        self.table = AtomTable()
        self.load_errors: list[RuleLoadError] = list(loaded.errors)
        self.rules: list[CompiledRule] = []
        self.statuses: list[RuleStatus] = []
        compiler = ConditionCompiler(self.table, placeholders)
        base: list[LoadedRule] = [r for r in loaded.rules if isinstance(r.rule, SigmaRule)]
        correlations = [r for r in loaded.rules if isinstance(r.rule, SigmaCorrelationRule)]
        for item in base:
            compiled = self._compile(item, compiler)
            if compiled is not None:
                self.rules.append(compiled)
        self.correlations = self._compile_correlations(correlations)
        self.correlator = Correlator(self.correlations)
        fed = {base_id for spec in self.correlations for base_id in spec.base_rules}
        generating = {b for spec in self.correlations if spec.generate for b in spec.base_rules}
        for rule in self.rules:
            if rule.rule_id in fed and rule.rule_id not in generating:
                rule.generate = False
            mapped = self.router.is_mapped(rule.logsource)
            notes = list(rule.condition.notes)
            if not mapped:
                notes.append(f"no event source is mapped to log source {rule.logsource}")
            self.statuses.append(RuleStatus(rule, mapped, notes))
        for spec in self.correlations:
            self.statuses.append(RuleStatus(spec, True, []))
        self._buckets: dict[tuple[Any, ...], Bucket] = {}
        self._shared_buckets: dict[tuple[tuple[int, ...], tuple[tuple[str, str], ...]], Bucket] = {}
        self._matchers: dict[tuple[str, frozenset[int]], FieldMatcher] = {}
        self._by_logsource: dict[LogSource, list[int]] = {}
        for index, rule in enumerate(self.rules):
            self._by_logsource.setdefault(rule.logsource, []).append(index)
        # Compiled rules live as long as the engine: move them out of the cyclic collector's
        # reach, or every later allocation burst pays for re-scanning them.
        gc.collect()
        gc.freeze()
        _unfreeze_at_exit()

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path], *, mapping: str | Path | None = None,
                   placeholders: str | Path | None = None,
                   include_packs: bool = False) -> Engine:
        """Load rule files/folders (and optionally Hygie's own packs) and compile them."""
        roots = [Path(p) for p in paths]
        loaded = load_paths(roots)
        if include_packs:
            for pack in sorted(p for p in PACKS_DIR.iterdir() if p.is_dir()):
                extra = load_paths([pack], pack=f"hygie-{pack.name}")
                loaded.rules.extend(extra.rules)
                loaded.errors.extend(extra.errors)
        router = LogSourceRouter.from_file(mapping) if mapping else LogSourceRouter.from_file()
        return cls(loaded, router, load_placeholders(placeholders))

    # -- compilation ---------------------------------------------------------------------------
    def _compile(self, item: LoadedRule, compiler: ConditionCompiler) -> CompiledRule | None:
        rule = item.rule
        assert isinstance(rule, SigmaRule)
        try:
            trees = [condition.parse() for condition in rule.detection.parsed_condition]
            if len(trees) == 1:
                compiled = compiler.compile(trees[0])
            else:
                compiled = compiler.compile(ConditionOR(trees))
        except (SigmaError, CompileError, ValueError, KeyError, TypeError, RecursionError) as exc:
            reason = " ".join(str(exc).split())
            self.load_errors.append(
                RuleLoadError(SourceLocation(item.path, locate(item.text, reason)), reason))
            return None
        ls = rule.logsource
        atom_fields = {a: self.table.atoms[a].field for a in compiled.atoms}
        return CompiledRule(
            rule_id=item.rule_id,
            title=rule.title,
            level=rule.level.name.lower() if rule.level else "medium",
            tags=[str(t) for t in rule.tags],
            pack=item.pack,
            path=item.path,
            logsource=LogSource(ls.product, ls.category, ls.service),
            condition=compiled,
            name=rule.name,
            description=rule.description or "",
            atom_fields=atom_fields,
        )

    def _compile_correlations(self, items: list[LoadedRule]) -> list[CorrelationSpec]:
        by_ref: dict[str, CompiledRule] = {}
        for rule in self.rules:
            by_ref[rule.rule_id] = rule
            if rule.name:
                by_ref[rule.name] = rule
        specs = []
        for item in items:
            rule = item.rule
            assert isinstance(rule, SigmaCorrelationRule)
            try:
                specs.append(self._correlation_spec(item, rule, by_ref))
            except (CompileError, ValueError, AttributeError) as exc:
                reason = " ".join(str(exc).split())
                self.load_errors.append(
                    RuleLoadError(SourceLocation(item.path, locate(item.text, reason)), reason))
        return specs

    @staticmethod
    def _correlation_spec(item: LoadedRule, rule: SigmaCorrelationRule,
                          by_ref: dict[str, CompiledRule]) -> CorrelationSpec:
        bases: list[str] = []
        for ref in rule.rules or []:
            target = by_ref.get(str(ref.reference))
            if target is None:
                raise CompileError(f"correlation refers to unknown rule '{ref.reference}'")
            bases.append(target.rule_id)
        aliases: dict[str, dict[str, str]] = {}
        for name, alias in (rule.aliases.aliases or {}).items():
            aliases[name] = {}
            for ref, field_name in alias.mapping.items():
                target = by_ref.get(str(ref.reference))
                if target is not None:
                    aliases[name][target.rule_id] = field_name
        condition = rule.condition
        kind = rule.type.name.lower() if hasattr(rule.type, "name") else str(rule.type)
        op = getattr(getattr(condition, "op", None), "name", None)
        count = getattr(condition, "count", None)
        if op is None or count is None:
            op, count = "GTE", len(dict.fromkeys(bases))
        return CorrelationSpec(
            rule_id=item.rule_id, title=rule.title,
            level=rule.level.name.lower() if rule.level else "medium",
            tags=[str(t) for t in rule.tags], pack=item.pack, kind=kind, base_rules=bases,
            group_by=list(rule.group_by or []), aliases=aliases,
            timespan=float(rule.timespan.seconds), op=op, count=int(count),
            value_field=getattr(condition, "fieldref", None), generate=bool(rule.generate),
        )

    # -- matching ------------------------------------------------------------------------------
    def bucket_for(self, fields: Mapping[str, Any]) -> Bucket:
        key = self.router.route_key(fields)
        try:
            bucket = self._buckets.get(key)
        except TypeError:  # a routing field holds a list or an object: route by its text
            key = tuple(repr(v) if isinstance(v, (list, dict)) else v for v in key)
            bucket = self._buckets.get(key)
        if bucket is None:
            route = self.router.route_for_key(key)
            indices = tuple(sorted(
                i for ls, members in self._by_logsource.items() if route.applies(ls)
                for i in members))
            shared = (indices, route.aliases)  # many routes (Security's event ids) share rules
            bucket = self._shared_buckets.get(shared)
            if bucket is None:
                bucket = Bucket([self.rules[i] for i in indices], self.table, route.aliases,
                                self._matchers)
                self._shared_buckets[shared] = bucket
            if len(self._buckets) >= ROUTE_CACHE_LIMIT:  # keys hold values senders choose
                self._buckets.clear()  # (syslog devid, app_name...): bound the memory
            self._buckets[key] = bucket
        return bucket

    def clear_caches(self) -> None:
        """Forget per-value and per-atom-set results (benchmarks measure cold caches)."""
        for matcher in self._matchers.values():
            matcher.cache.clear()
        for bucket in self._shared_buckets.values():
            bucket.results.clear()
            bucket.by_parts.clear()
            bucket.event_atoms.clear()

    def warm_up(self) -> int:
        """Build the buckets of every route the mapping names (part of compiling the rules),
        so the first events of a hunt do not pay for it. Returns the number of buckets."""
        for entry in self.router.entries:
            values: dict[str, Any] = {}
            for name, test in entry.when:
                if test.exact:
                    value = sorted(test.exact)[0]
                    values[name] = int(value) if value.isdigit() else value
            self.bucket_for(values)
        return len(self._shared_buckets)

    def new_correlator(self) -> Correlator:
        """Correlation state of its own, e.g. one per tenant: windows never mix hospitals."""
        return Correlator(self.correlations)

    def match_event(self, event: Event, correlator: Correlator | None = None) -> list[Alert]:
        """Alerts for one event; the correlation state (the engine's own unless one is given)
        is updated too."""
        correlator = correlator or self.correlator
        bucket = self.bucket_for(event.fields)
        fields = bucket.prepare(event.fields)
        true, hits = bucket.match(fields)
        if not hits:
            return []
        alerts: list[Alert] = []
        seen = event  # correlations group and count by the names rules use (mapping aliases)
        if fields is not event.fields:
            seen = Event(fields, event.time, event.host, event.source, event.offset)
        for index in hits:
            rule = bucket.rules[index]
            if correlator.by_base and rule.rule_id in correlator.by_base:
                for hit in correlator.feed(rule.rule_id, seen):
                    alerts.append(self._correlation_alert(hit))
            if rule.generate:
                alerts.append(self._alert(rule, event, fields, true))
        return alerts

    def alerts_by_event(self, events: Iterable[Event]) -> Iterator[list[Alert]]:
        """Each event's alerts in order, then those of the correlation windows still open at
        the end (one more list). Events are read ``READ_AHEAD`` at a time, then matched: the
        reader's work and the engine's, each in a run of its own, keep their data in the CPU
        caches (about 4% of a hunt over EVTX files)."""
        match = self.match_event
        iterator = iter(events)
        while batch := list(itertools.islice(iterator, READ_AHEAD)):
            for event in batch:
                yield match(event)
        yield list(self.flush())

    def stream(self, events: Iterable[Event]) -> Iterator[Alert]:
        """Alerts for a stream of events, then those of windows still open at its end."""
        for alerts in self.alerts_by_event(events):
            yield from alerts

    def run(self, events: Iterable[Event]) -> list[Alert]:
        return list(self.stream(events))

    def flush(self, correlator: Correlator | None = None) -> Iterator[Alert]:
        for hit in (correlator or self.correlator).flush():
            yield self._correlation_alert(hit)

    @staticmethod
    def _alert(rule: CompiledRule, event: Event, fields: Mapping[str, Any],
               true: frozenset[int]) -> Alert:
        matched: dict[str, Any] = {}
        for atom_id, name in rule.atom_fields.items():
            if atom_id in true and name in fields:
                matched[name] = fields[name]
        return Alert(rule.rule_id, rule.title, rule.level, rule.tags, event.time, event.host,
                     event.source, event.offset, matched, pack=rule.pack)

    @staticmethod
    def _correlation_alert(hit: CorrelationHit) -> Alert:
        spec = hit.spec
        first, last = hit.events[0], hit.events[-1]
        matched = dict(hit.group)
        matched["count"] = hit.count
        return Alert(spec.rule_id, spec.title, spec.level, spec.tags, last.time,
                     last.host or first.host, last.source, last.offset, matched,
                     pack=spec.pack, kind="correlation",
                     related=[(e.source, e.offset) for e in hit.events])
