"""A bucket: every rule that applies to one log-source route, compiled for matching.

Buckets are built lazily, the first time an event of their route is seen, so a hunt over
Sysmon logs never pays for the automata of web-server rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hygie.detect.sigma import atoms as A
from hygie.detect.sigma.atoms import AtomTable
from hygie.detect.sigma.compiler import CompiledCondition
from hygie.detect.sigma.kernel import true_atom_parts
from hygie.detect.sigma.matcher import EventAtoms, FieldMatcher
from hygie.normalize.logsources import LogSource

_RESULT_LIMIT = 65_536
_EMPTY: frozenset[int] = frozenset()


@dataclass(slots=True)
class CompiledRule:
    """A detection rule ready to match: metadata plus its compiled condition."""

    rule_id: str
    title: str
    level: str
    tags: list[str]
    pack: str
    path: str
    logsource: LogSource
    condition: CompiledCondition
    name: str | None = None
    description: str = ""
    generate: bool = True  # False when only correlations should report its hits
    atom_fields: dict[int, str] = field(default_factory=dict)


class Bucket:
    """Rules of one route, with per-field matchers, a trigger index and a result cache."""

    def __init__(self, rules: Sequence[CompiledRule], table: AtomTable,
                 aliases: tuple[tuple[str, str], ...],
                 matchers: dict[tuple[str, frozenset[int]], FieldMatcher] | None = None) -> None:
        self.rules = list(rules)
        self.aliases = aliases
        per_field: dict[str, set[int]] = defaultdict(set)
        event_level: set[int] = set()
        keyword: set[int] = set()
        trigger: dict[int, list[int]] = defaultdict(list)
        always: list[int] = []
        for index, rule in enumerate(self.rules):
            cond = rule.condition
            for atom_id in cond.atoms:
                atom = table.atoms[atom_id]
                gate = table.gates.get(atom_id)
                if atom.kind in A.EVENT_KINDS:
                    event_level.add(atom_id)
                    continue
                target = keyword if atom.field == A.KEYWORD_FIELD else per_field[atom.field.casefold()]
                target.add(atom_id)
                if gate is not None:
                    target.add(gate)
            if cond.trigger is None:
                always.append(index)
            else:
                for atom_id in cond.trigger:
                    trigger[atom_id].append(index)
        shared = matchers if matchers is not None else {}
        # Keyword (field-less) atoms test every value of the event: they join the matcher of
        # every field, so they ride on the same per-value cache and automaton pass.
        self.keyword_atoms = frozenset(keyword)
        self._shared = shared
        self._table = table
        self.by_name: dict[str, FieldMatcher] = {}
        for name, ids in per_field.items():
            self.by_name[name] = self._matcher(name, ids | keyword)
        # Per event field name as spelled in events: its matcher's value cache, the matcher,
        # or membership of ``ignored`` (see kernel.true_atom_parts).
        self.caches: dict[str, dict[Any, frozenset[int]]] = {}
        self.matchers: dict[str, FieldMatcher] = {}
        self.ignored: set[str] = set()
        self.inert: dict[str, str] = {}
        self.event_atoms = EventAtoms(table, sorted(event_level))
        self.trigger = {atom: tuple(indices) for atom, indices in trigger.items()}
        self.trigger_atoms = frozenset(self.trigger)
        self.predicates = [rule.condition.predicate for rule in self.rules]
        self.always = tuple(always)
        self.results: dict[frozenset[int], tuple[int, ...]] = {}
        self.by_parts: dict[tuple[frozenset[int], ...], tuple[frozenset[int], tuple[int, ...]]] = {}

    def _matcher(self, name: str, ids: set[int] | frozenset[int]) -> FieldMatcher:
        key = (name, frozenset(ids))  # buckets with the same atoms on a field share it
        matcher = self._shared.get(key)
        if matcher is None:
            matcher = self._shared[key] = FieldMatcher(name, self._table, ids)
        return matcher

    def _resolve(self, name: str) -> bool:
        """Find the matcher of an event field name, once per name; False if it has none.

        Field names compare case-insensitively (``ProcessID`` meets a rule's ``ProcessId``)."""
        folded = name.casefold()
        matcher = self.by_name.get(folded)
        if matcher is None and self.keyword_atoms:
            matcher = self.by_name[folded] = self._matcher(folded, self.keyword_atoms)
        if matcher is None:
            self.ignored.add(name)
            return False
        self.caches[name] = matcher.cache
        self.matchers[name] = matcher
        if matcher.inert is not None:
            self.inert[name] = matcher.inert
        return True

    def _parts(self, fields: dict[str, Any]) -> list[frozenset[int]]:
        parts = true_atom_parts(fields, self.caches, self.matchers, self.ignored, self.inert,
                                self._resolve)
        if self.event_atoms:
            extra = self.event_atoms.evaluate(fields)
            if extra:
                parts.append(extra)
        return parts

    def true_atoms(self, fields: dict[str, Any]) -> frozenset[int]:
        """Every atom true for prepared ``fields``."""
        parts = self._parts(fields)
        if not parts:
            return _EMPTY
        if len(parts) == 1:
            return parts[0]
        return _EMPTY.union(*parts)

    def prepare(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The event as this route's rules see it (mapping aliases added)."""
        return _with_aliases(fields, self.aliases) if self.aliases else fields

    def match(self, fields: dict[str, Any]) -> tuple[frozenset[int], tuple[int, ...]]:
        """Indices of the rules that match prepared ``fields``, with the true atoms.

        The answer is cached by the tuple of per-field atom sets (which come from the value
        caches, so their hashes are already computed): an event like one seen before costs
        neither the union of those sets nor the rules' formulas."""
        parts = self._parts(fields)
        key = tuple(parts)
        found = self.by_parts.get(key)
        if found is None:
            true = parts[0] if len(parts) == 1 else _EMPTY.union(*parts)
            hits = self.results.get(true)
            if hits is None:
                hits = self._evaluate(true) if true or self.always else ()
                if len(self.results) >= _RESULT_LIMIT:
                    self.results.clear()
                self.results[true] = hits
            if len(self.by_parts) >= _RESULT_LIMIT:
                self.by_parts.clear()
            found = self.by_parts[key] = (true, hits)
        return found

    def _evaluate(self, true: frozenset[int]) -> tuple[int, ...]:
        candidates = set(self.always)
        trigger = self.trigger
        for atom_id in self.trigger_atoms.intersection(true):
            candidates.update(trigger[atom_id])
        predicates = self.predicates
        return tuple(i for i in sorted(candidates) if predicates[i](true))


def _with_aliases(fields: dict[str, Any], aliases: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out = fields
    for source, target in aliases:
        if source in fields and target not in fields:
            if out is fields:
                out = dict(fields)
            out[target] = fields[source]
    return out
