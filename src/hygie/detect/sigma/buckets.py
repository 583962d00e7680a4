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
from hygie.detect.sigma.matcher import _MISSING, EventAtoms, FieldMatcher
from hygie.normalize.logsources import LogSource

_RESULT_LIMIT = 65_536


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
        self.field_map: dict[str, Any] = {}
        self.event_atoms = EventAtoms(table, sorted(event_level))
        self.trigger = {atom: tuple(indices) for atom, indices in trigger.items()}
        self.always = tuple(always)
        self.results: dict[frozenset[int], tuple[int, ...]] = {}

    def _matcher(self, name: str, ids: set[int] | frozenset[int]) -> FieldMatcher:
        key = (name, frozenset(ids))  # buckets with the same atoms on a field share it
        matcher = self._shared.get(key)
        if matcher is None:
            matcher = self._shared[key] = FieldMatcher(name, self._table, ids)
        return matcher

    def _resolve(self, name: str) -> FieldMatcher | None:
        """Field names compare case-insensitively (``ProcessID`` meets a rule's ``ProcessId``)."""
        folded = name.casefold()
        matcher = self.by_name.get(folded)
        if matcher is None and self.keyword_atoms:
            matcher = self.by_name[folded] = self._matcher(folded, self.keyword_atoms)
        self.field_map[name] = matcher
        return matcher

    def true_atoms(self, fields: dict[str, Any]) -> frozenset[int]:
        parts: list[frozenset[int]] = []
        field_map = self.field_map
        for name, value in fields.items():
            matcher = field_map.get(name, _MISSING)
            if matcher is _MISSING:
                matcher = self._resolve(name)
            if matcher is None:
                continue
            cls = value.__class__  # inlined FieldMatcher.atoms_for fast path
            found = matcher.cache.get(value) if cls is str or cls is int else None
            if found is None:
                found = matcher.atoms_for(value)
            if found:
                parts.append(found)
        if self.event_atoms:
            extra: list[int] = []
            self.event_atoms.evaluate(fields, extra)
            if extra:
                parts.append(frozenset(extra))
        if not parts:
            return frozenset()
        if len(parts) == 1:
            return parts[0]
        return frozenset().union(*parts)

    def prepare(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The event as this route's rules see it (mapping aliases added)."""
        return _with_aliases(fields, self.aliases) if self.aliases else fields

    def match(self, fields: dict[str, Any]) -> tuple[frozenset[int], tuple[int, ...]]:
        """Indices of the rules that match prepared ``fields``, with the true atoms."""
        true = self.true_atoms(fields)
        if not true and not self.always:
            return true, ()
        found = self.results.get(true)
        if found is None:
            found = self._evaluate(true)
            if len(self.results) >= _RESULT_LIMIT:
                self.results.clear()
            self.results[true] = found
        return true, found

    def _evaluate(self, true: frozenset[int]) -> tuple[int, ...]:
        candidates = set(self.always)
        trigger = self.trigger
        for atom_id in true:
            hit = trigger.get(atom_id)
            if hit:
                candidates.update(hit)
        rules = self.rules
        return tuple(i for i in sorted(candidates) if rules[i].condition.predicate(true))


def _with_aliases(fields: dict[str, Any], aliases: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    out = fields
    for source, target in aliases:
        if source in fields and target not in fields:
            if out is fields:
                out = dict(fields)
            out[target] = fields[source]
    return out
