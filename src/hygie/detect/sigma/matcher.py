"""Evaluate all atoms of one field in one pass, and all rules of one log source per event.

Per field, every string atom of every rule goes into one Aho-Corasick automaton (pyahocorasick)
plus a dict for equality; regexes and globs are looked for all at once by Hyperscan (see
``regexset``), or else run only when the automaton found their required literal. Results are cached per distinct field value (hosts, images, users repeat a lot), and
the set of rules matched is cached per distinct set of true atoms. The cost per event is thus a
few dictionary lookups, whatever the number of rules.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import ahocorasick

from hygie.core.event import parse_time
from hygie.detect.sigma import atoms as A
from hygie.detect.sigma.atoms import AtomTable, stringify
from hygie.detect.sigma.kernel import scan as _scan_automaton
from hygie.detect.sigma.regexset import RegexSet, expression, plain_text

_CACHE_LIMIT = 65_536  # distinct values remembered per field before the cache is reset
# Characters of the values that make most cache misses (record ids, GUIDs, times, pids). A
# keyword-only matcher none of whose literals is made of them alone skips such values unseen.
_INERT_CHARS = "0123456789abcdefABCDEF-:. {}tzTZ"
_EMPTY: frozenset[int] = frozenset()
# Below this many regex and wildcard tests on a field, the tests gated by their literals cost
# less than a Hyperscan scan (measured on the attack samples: only command lines, with ~150
# tests, gain; fields with up to 30 tests lose).
_REGEX_SET_MIN = 32


class _Automaton:
    """Case-(in)sensitive substring atoms of one field, keyed by pattern text."""

    def __init__(self) -> None:
        self.patterns: dict[str, tuple[list[int], list[int], list[int]]] = {}

    def add(self, text: str, kind: str, atom: int) -> None:
        slots = self.patterns.get(text)
        if slots is None:
            slots = self.patterns[text] = ([], [], [])
        slots[0 if kind == A.CONTAINS else 1 if kind == A.STARTSWITH else 2].append(atom)

    def build(self) -> ahocorasick.Automaton | None:
        if not self.patterns:
            return None
        automaton = ahocorasick.Automaton()
        for text, (contains, starts, ends) in self.patterns.items():
            automaton.add_word(text, (len(text), tuple(contains), tuple(starts), tuple(ends)))
        automaton.make_automaton()
        return automaton


def _compare(op: str, number: float) -> Callable[[str], bool]:
    def test(text: str) -> bool:
        try:
            value = float(text)
        except ValueError:
            return False
        if op == "GT":
            return value > number
        if op == "GTE":
            return value >= number
        if op == "LT":
            return value < number
        if op == "LTE":
            return value <= number
        return value != number  # NEQ

    return test


class _CidrSet:
    """All ``cidr`` atoms of one field: the value is parsed once, then compared as an integer
    with each network's range (``ipaddress`` per atom cost more than the rest of a hunt)."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int, int, int]] = []  # (atom, family, first, last)

    def add(self, atom_id: int, network: str) -> None:
        net = ipaddress.ip_network(network, strict=False)
        family = socket.AF_INET if net.version == 4 else socket.AF_INET6
        self.ranges.append((atom_id, family, int(net.network_address), int(net.broadcast_address)))

    def atoms(self, text: str, found: list[int]) -> None:
        address = text.strip().split("%")[0]
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            number = int.from_bytes(socket.inet_pton(family, address), "big")
        except (OSError, ValueError):
            return
        for atom_id, net_family, first, last in self.ranges:
            if net_family == family and first <= number <= last:
                found.append(atom_id)


def _timepart(unit: str, number: int) -> Callable[[str], bool]:
    def test(text: str) -> bool:
        moment = parse_time(text)
        if moment is None:
            return False
        if unit == "week":
            return moment.isocalendar().week == number
        return getattr(moment, unit) == number

    return test


class FieldMatcher:
    """All value atoms (not presence/fieldref) of one field for one set of rules."""

    __slots__ = ("name", "eq_ci", "eq_cs", "auto_ci", "auto_cs", "present", "tests", "regexes",
                 "rest", "cidrs", "cache", "simple", "inert")

    def __init__(self, name: str, table: AtomTable, atom_ids: Iterable[int]) -> None:
        self.name = name
        eq_ci: dict[str, list[int]] = defaultdict(list)
        eq_cs: dict[str, list[int]] = defaultdict(list)
        auto_ci, auto_cs = _Automaton(), _Automaton()
        present: list[int] = []
        gated: list[tuple[int, int, Callable[[str], bool], bool]] = []
        cidrs = _CidrSet()
        for atom_id in sorted(set(atom_ids)):
            atom = table.atoms[atom_id]
            kind = atom.kind
            if kind == A.EQ:
                (eq_cs if atom.cased else eq_ci)[atom.value].append(atom_id)
            elif kind in (A.CONTAINS, A.STARTSWITH, A.ENDSWITH):
                if atom.value == "":
                    if kind == A.CONTAINS or kind == A.STARTSWITH or kind == A.ENDSWITH:
                        present.append(atom_id)
                else:
                    (auto_cs if atom.cased else auto_ci).add(atom.value, kind, atom_id)
            elif kind == A.PRESENT:
                present.append(atom_id)
            elif kind == A.CIDR:  # never gated: no literal to gate on
                cidrs.add(atom_id, atom.value)
            else:
                test, folded = self._predicate(atom)
                gated.append((atom_id, table.gates.get(atom_id, -1), test, folded))
        self.eq_ci = {k: tuple(v) for k, v in eq_ci.items()}
        self.eq_cs = {k: tuple(v) for k, v in eq_cs.items()}
        self.auto_ci = auto_ci.build()
        self.auto_cs = auto_cs.build()
        self.present = tuple(present)
        # Every test one by one (``tests``), or the regexes and wildcards that Hyperscan
        # accepts in one pass (``regexes``, for plain text) and the ``rest`` one by one.
        self.tests = _Tests(table, gated)
        self.regexes, in_set = _regex_set(table, gated)
        self.rest = _Tests(table, [entry for entry in gated if entry[0] not in in_set])
        self.cidrs = cidrs if cidrs.ranges else None
        self.cache: dict[Any, frozenset[int]] = {}
        # The common matcher (keywords, or a field with substring tests only) gets a lean path.
        self.simple = not (self.eq_ci or self.eq_cs or self.auto_cs is not None or self.present
                           or self.tests or self.cidrs)
        inert = set(_INERT_CHARS.casefold())
        self.inert = _INERT_CHARS if self.simple and not any(
            set(text) <= inert for text in auto_ci.patterns) else None

    @staticmethod
    def _predicate(atom: A.Atom) -> tuple[Callable[[str], bool], bool]:
        """A test on the value's text; the flag says whether it wants the casefolded text."""
        if atom.kind == A.GLOB:
            flags = re.DOTALL
            return re.compile(atom.value, flags).fullmatch, not atom.cased  # type: ignore[return-value]
        if atom.kind == A.REGEX:
            pattern, flags = atom.value
            return re.compile(pattern, flags).search, False  # type: ignore[return-value]
        if atom.kind == A.COMPARE:
            return _compare(*atom.value), False
        if atom.kind == A.TIMEPART:
            return _timepart(*atom.value), False
        raise ValueError(f"not a value atom: {atom.describe()}")

    def atoms_for(self, value: Any) -> frozenset[int]:
        """True atoms for one event value (cached). Lists match when any element does.

        Strings and ints are their own cache keys; other types are tagged with their type, as
        ``True == 1`` and ``1 == 1.0`` must not share an entry (their text differs)."""
        cls = value.__class__
        if cls is list or cls is dict or cls is tuple:
            return self._unhashable(value)
        key = value if cls is str or cls is int else (cls.__name__, value)
        found = self.cache.get(key)
        if found is None:
            if value is None:
                found = _EMPTY
            elif self.simple:
                found = _EMPTY
                if self.auto_ci is not None:
                    folded = (value if cls is str else stringify(value)).casefold()
                    if self.inert is None or folded.strip(self.inert):
                        hits: list[int] = []
                        _scan_automaton(self.auto_ci, folded, hits)
                        if hits:
                            found = frozenset(hits)
            else:
                found = self._compute(value if cls is str else stringify(value))
            if len(self.cache) >= _CACHE_LIMIT:
                self.cache.clear()
            self.cache[key] = found
        return found

    def _unhashable(self, value: Any) -> frozenset[int]:
        if isinstance(value, (list, tuple)):
            result: set[int] = set()
            for item in value:
                if item is not None and not isinstance(item, (list, dict)):
                    result |= self.atoms_for(item)
            return frozenset(result)
        return self._compute(stringify(value))

    def _compute(self, text: str) -> frozenset[int]:
        found: list[int] = list(self.present)
        folded = text.casefold()
        hit = self.eq_ci.get(folded)
        if hit:
            found.extend(hit)
        if self.eq_cs:
            hit = self.eq_cs.get(text)
            if hit:
                found.extend(hit)
        if self.auto_ci is not None:
            _scan_automaton(self.auto_ci, folded, found)
        if self.auto_cs is not None:
            _scan_automaton(self.auto_cs, text, found)
        if self.cidrs is not None:
            self.cidrs.atoms(text, found)
        tests = self.tests
        if self.regexes is not None and plain_text(text):
            self.regexes.atoms(text, folded, found)
            tests = self.rest
        if tests:
            tests.run(text, folded, found)
        return frozenset(found) if found else _EMPTY


def _regex_set(table: AtomTable, tests: Sequence[tuple[int, int, Callable[[str], Any], bool]]
               ) -> tuple[RegexSet | None, set[int]]:
    """The Hyperscan set of the regex and wildcard tests it can prefilter, and their atoms."""
    candidates = []
    for atom_id, _gate, test, folded in tests:
        atom = table.atoms[atom_id]
        hs_expression = None
        if atom.kind == A.REGEX:
            hs_expression = expression(atom.value[0], atom.value[1], False, False)
        elif atom.kind == A.GLOB:
            hs_expression = expression(atom.value, re.DOTALL, True, not atom.cased)
        if hs_expression is not None:
            candidates.append((atom_id, test, folded, hs_expression))
    if len(candidates) < _REGEX_SET_MIN:
        return None, set()
    regexes, rejected = RegexSet.build(candidates)
    out = {entry[0] for entry in candidates} - {candidates[i][0] for i in rejected}
    return regexes, out


class _Tests:
    """Value tests (regex, wildcard, comparison, time part) run one by one, cheap checks first.

    A test with a gate (a literal every match contains, found by the automaton) runs only when
    its gate is true; the others get the pre-check of ``_hint``."""

    __slots__ = ("ungated", "gated", "gates")

    def __init__(self, table: AtomTable,
                 tests: Sequence[tuple[int, int, Callable[[str], Any], bool]]) -> None:
        by_gate: dict[int, list[tuple[int, Callable[[str], Any], bool]]] = defaultdict(list)
        for atom_id, gate, test, folded in tests:
            by_gate[gate].append((atom_id, test, folded))
        self.ungated = tuple((atom_id, _hint(table.atoms[atom_id]), test, folded)
                             for atom_id, test, folded in by_gate.pop(-1, ()))
        self.gated = {gate: tuple(entries) for gate, entries in by_gate.items()}
        self.gates = frozenset(self.gated)

    def __bool__(self) -> bool:
        return bool(self.ungated or self.gated)

    def run(self, text: str, folded: str, found: list[int]) -> None:
        """Append the atoms of the tests that pass; ``found`` holds the literal atoms."""
        for atom_id, (hint, char, count), test, wants_folded in self.ungated:
            if (hint in folded and (count < 2 or folded.count(char) >= count)
                    and test(folded if wants_folded else text)):
                found.append(atom_id)
        if self.gated and found:
            gated = self.gated
            for gate in self.gates.intersection(found):
                for atom_id, test, wants_folded in gated[gate]:
                    if test(folded if wants_folded else text):
                        found.append(atom_id)


def _hint(atom: A.Atom) -> tuple[str, str, int]:
    """What every value matching ``atom`` contains, casefolded: a literal ("" if none known),
    and a character with how many times it must occur (``\\+.*\\+.*\\+``: three ``+``), which
    spares the backtracking of such patterns on the values that cannot match."""
    if atom.kind != A.REGEX:
        return "", "", 0
    pattern, flags = atom.value
    literal = (A.required_literal(pattern, flags, min_length=1) or "").casefold()
    char, count = A.required_repeat(pattern, flags)
    return literal, char.casefold(), count


class EventAtoms:
    """Atoms that need the whole event: null/exists (presence) and field references.

    Field names compare case-insensitively here too: each distinct layout of event keys
    (Sysmon events of one id share one) is mapped once to its casefolded names."""

    def __init__(self, table: AtomTable, atom_ids: Sequence[int]) -> None:
        self.presence: list[tuple[int, str, bool]] = []
        self.fieldrefs: list[tuple[int, str, str, str]] = []
        for atom_id in atom_ids:
            atom = table.atoms[atom_id]
            if atom.kind == A.NULL:
                self.presence.append((atom_id, atom.field.casefold(), False))
            elif atom.kind == A.EXISTS:
                self.presence.append((atom_id, atom.field.casefold(), True))
            else:
                other, mode = atom.value
                self.fieldrefs.append((atom_id, atom.field.casefold(), other.casefold(), mode))
        self._layouts: dict[tuple[str, ...], tuple[dict[str, str], frozenset[int]]] = {}

    def __bool__(self) -> bool:
        return bool(self.presence or self.fieldrefs)

    def clear(self) -> None:
        self._layouts.clear()

    def _layout(self, fields: dict[str, Any]) -> tuple[dict[str, str], frozenset[int]]:
        """The layout's casefolded names, and its true presence atoms when no value is null."""
        layout = tuple(fields)
        found = self._layouts.get(layout)
        if found is None:
            names: dict[str, str] = {}
            for key in layout:
                names.setdefault(key.casefold(), key)
            static = frozenset(atom_id for atom_id, name, wanted in self.presence
                               if (name in names) is wanted)
            if len(self._layouts) >= _CACHE_LIMIT:
                self._layouts.clear()
            found = self._layouts[layout] = (names, static)
        return found

    def evaluate(self, fields: dict[str, Any]) -> frozenset[int]:
        """The true presence and field-reference atoms of one event."""
        names, static = self._layout(fields)
        if not self.fieldrefs and None not in fields.values():
            return static  # the common case: one lookup per event
        out: list[int] = []
        for atom_id, name, wanted in self.presence:
            key = names.get(name)
            if ((key is not None and fields[key] is not None)) is wanted:
                out.append(atom_id)
        for atom_id, name, other, mode in self.fieldrefs:
            left_key, right_key = names.get(name), names.get(other)
            if left_key is None or right_key is None:
                continue
            left, right = fields[left_key], fields[right_key]
            if left is None or right is None:
                continue
            left_text, right_text = stringify(left).casefold(), stringify(right).casefold()
            if (
                (mode == "eq" and left_text == right_text)
                or (mode == "startswith" and left_text.startswith(right_text))
                or (mode == "endswith" and left_text.endswith(right_text))
            ):
                out.append(atom_id)
        return frozenset(out) if out else _EMPTY
