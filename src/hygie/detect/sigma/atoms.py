"""Atoms: the smallest tests a Sigma detection is made of, shared across all rules.

Every ``field|modifiers: value`` of every rule becomes one or more atoms; equal atoms of
different rules get the same id, so each is evaluated once per event whatever the rule count.
A rule's condition is then a boolean formula over atom ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

try:
    from re import _parser as _sre  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_parse as _sre  # type: ignore[no-redef]

# Kinds of atom. String kinds compare case-insensitively (str.casefold) unless ``cased``.
EQ = "eq"
CONTAINS = "contains"
STARTSWITH = "startswith"
ENDSWITH = "endswith"
PRESENT = "present"  # the value is a lone ``*``: any non-null value
GLOB = "glob"  # wildcards inside the value; a regular expression gated by a literal
REGEX = "re"
CIDR = "cidr"
COMPARE = "cmp"
NULL = "null"
EXISTS = "exists"
FIELDREF = "fieldref"
TIMEPART = "timepart"

STRING_KINDS = frozenset({EQ, CONTAINS, STARTSWITH, ENDSWITH})
EVENT_KINDS = frozenset({NULL, EXISTS, FIELDREF})  # need the whole event, not one value
KEYWORD_FIELD = "*"  # pseudo-field of keyword (field-less) detections: any value of the event


@dataclass(frozen=True, slots=True)
class Atom:
    """One test on one field. ``value`` is kind-specific and hashable (the dedup key)."""

    field: str
    kind: str
    value: Any
    cased: bool = False

    def describe(self) -> str:
        case = " (cased)" if self.cased else ""
        return f"{self.field} {self.kind} {self.value!r}{case}"


class AtomTable:
    """Interns atoms: the same test in 500 rules is one id, evaluated once."""

    def __init__(self) -> None:
        self.atoms: list[Atom] = []
        self.gates: dict[int, int] = {}  # expensive atom -> cheap contains-atom it requires
        self._ids: dict[Atom, int] = {}

    def intern(self, atom: Atom) -> int:
        found = self._ids.get(atom)
        if found is None:
            found = len(self.atoms)
            self.atoms.append(atom)
            self._ids[atom] = found
        return found

    def __len__(self) -> int:
        return len(self.atoms)


def stringify(value: Any) -> str:
    """The text form an event value is compared as (JSON booleans as Sigma writes them)."""
    if value.__class__ is str:
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _parse_regex(pattern: str, flags: int) -> Any:
    """The parse tree of a regular expression (Python's own parser), or None if invalid."""
    try:
        return _sre.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return None


def required_literal(pattern: str, flags: int = 0, min_length: int = 3) -> str | None:
    """The longest ASCII literal every match of ``pattern`` must contain, or None.

    Used to gate regular expressions behind the multi-pattern automaton: a regex is run only
    on values that contain its literal. Only top-level literal runs are considered, which is
    always sound (never rejects a value the regex would match). A class of the two cases of
    one letter (``[Rr]``) counts as that letter: callers compare the literal, casefolded, with
    the casefolded value.
    """
    parsed = _parse_regex(pattern, flags)
    if parsed is None:
        return None
    best = ""
    run: list[str] = []
    literal = _sre.LITERAL
    for op, arg in parsed:
        if op is literal:
            run.append(chr(arg))
            continue
        if op is _sre.IN:
            letter = _case_pair(arg, literal)
            if letter:
                run.append(letter)
                continue
        text = "".join(run)
        if len(text) > len(best):
            best = text
        run = []
    text = "".join(run)
    if len(text) > len(best):
        best = text
    if len(best) < min_length or not best.isascii():
        return None
    return best


def _case_pair(items: list[tuple[Any, Any]], literal: Any) -> str | None:
    """``x`` for a character class that is exactly ``[Xx]`` (an ASCII letter), else None."""
    if len(items) != 2 or items[0][0] is not literal or items[1][0] is not literal:
        return None
    first, second = chr(items[0][1]), chr(items[1][1])
    if first.isascii() and first.isalpha() and first != second and first.lower() == second.lower():
        return first.lower()
    return None


def required_repeat(pattern: str, flags: int = 0) -> tuple[str, int]:
    """The ASCII character that ``pattern`` needs most often as a top-level literal, with that
    count (``("", 0)`` if none). Every match contains at least that many of it; a cheap
    ``str.count`` thus rules out values before a backtracking-prone regex runs."""
    parsed = _parse_regex(pattern, flags)
    if parsed is None:
        return "", 0
    counts: dict[str, int] = {}
    for op, arg in parsed:
        if op is _sre.LITERAL and arg < 128:
            counts[chr(arg)] = counts.get(chr(arg), 0) + 1
    if not counts:
        return "", 0
    char = max(counts, key=lambda c: counts[c])
    return char, counts[char]
