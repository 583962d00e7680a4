"""Atoms: the smallest tests a Sigma detection is made of, shared across all rules.

Every ``field|modifiers: value`` of every rule becomes one or more atoms; equal atoms of
different rules get the same id, so each is evaluated once per event whatever the rule count.
A rule's condition is then a boolean formula over atom ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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


def required_literal(pattern: str, flags: int = 0) -> str | None:
    """The longest ASCII literal every match of ``pattern`` must contain, or None.

    Used to gate regular expressions behind the multi-pattern automaton: a regex is run only
    on values that contain its literal. Only top-level literal runs are considered, which is
    always sound (never rejects a value the regex would match).
    """
    try:
        from re import _parser as sre_parse  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover - Python < 3.11
        import sre_parse  # type: ignore[no-redef]
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError, OverflowError):
        return None
    best = ""
    run: list[str] = []
    literal = sre_parse.LITERAL
    for op, arg in parsed:
        if op is literal:
            run.append(chr(arg))
            continue
        text = "".join(run)
        if len(text) > len(best):
            best = text
        run = []
    text = "".join(run)
    if len(text) > len(best):
        best = text
    if len(best) < 3 or not best.isascii():
        return None
    return best
