"""Compile pySigma's parsed detections into atoms plus one boolean formula per rule.

The formula is emitted as Python source and compiled once, so evaluating a rule is one call
over the set of atom ids that are true for the event. Each rule also gets a *trigger*: a set
of atoms of which at least one must be true for the rule to possibly match; rules are only
evaluated when a trigger atom fired (the cross-rule prefilter).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Union

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from hygie.detect.sigma import atoms as A
from hygie.detect.sigma.atoms import Atom, AtomTable

# Intermediate form: an int is an atom id; tuples are ("and"|"or", [..]) or ("not", x);
# True / False are constants (e.g. an empty value list).
Node = Union[int, bool, tuple]


class CompileError(ValueError):
    """A detection Hygie cannot evaluate; the message says which part and why."""


@dataclass(slots=True)
class CompiledCondition:
    """One rule's formula over atom ids and its trigger atoms."""

    source: str
    predicate: Callable[[frozenset[int]], bool]
    trigger: frozenset[int] | None  # None: no positive atom is required (e.g. ``not x``)
    atoms: frozenset[int]
    notes: list[str] = field(default_factory=list)


_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}


class ConditionCompiler:
    """Turns pySigma condition trees into :class:`CompiledCondition` using a shared table."""

    def __init__(self, table: AtomTable, placeholders: Mapping[str, Sequence[str]] | None = None):
        self.table = table
        self.placeholders = dict(placeholders or {})
        self.notes: list[str] = []

    # -- pySigma tree -> IR ------------------------------------------------------------------
    def to_ir(self, node: Any) -> Node:
        if isinstance(node, ConditionAND):
            return _op("and", [self.to_ir(a) for a in node.args])
        if isinstance(node, ConditionOR):
            return _op("or", [self.to_ir(a) for a in node.args])
        if isinstance(node, ConditionNOT):
            inner = self.to_ir(node.args[0])
            return (not inner) if isinstance(inner, bool) else ("not", inner)
        if isinstance(node, ConditionFieldEqualsValueExpression):
            return self.value_ir(node.field, node.value, node)
        if isinstance(node, ConditionValueExpression):
            return self.value_ir(A.KEYWORD_FIELD, node.value, node, keyword=True)
        raise CompileError(f"unsupported condition element {type(node).__name__}")

    def value_ir(self, field_name: str, value: Any, node: Any, keyword: bool = False) -> Node:
        intern = self.table.intern
        if isinstance(value, SigmaExpansion):
            return _op("or", [self.value_ir(field_name, v, node, keyword) for v in value.values])
        if isinstance(value, SigmaNull):
            return intern(Atom(field_name, A.NULL, None))
        if isinstance(value, SigmaExists):
            atom = intern(Atom(field_name, A.EXISTS, None))
            return atom if value.exists else ("not", atom)
        if isinstance(value, SigmaFieldReference):
            mode = "eq"
            if getattr(value, "starts_with", False):
                mode = "startswith"
            elif getattr(value, "ends_with", False):
                mode = "endswith"
            return intern(Atom(field_name, A.FIELDREF, (value.field, mode)))
        if isinstance(value, SigmaTimestampPart):
            unit = _timestamp_unit(node)
            return intern(Atom(field_name, A.TIMEPART, (unit, int(value.number))))
        if isinstance(value, SigmaCompareExpression):
            return intern(Atom(field_name, A.COMPARE, (value.op.name, float(value.number.number))))
        if isinstance(value, SigmaCIDRExpression):
            return intern(Atom(field_name, A.CIDR, str(value.network)))
        if isinstance(value, SigmaRegularExpression):
            return self.regex_ir(field_name, value)
        if isinstance(value, SigmaBool):
            return intern(Atom(field_name, A.EQ, "true" if value.boolean else "false"))
        if isinstance(value, SigmaNumber):
            return intern(Atom(field_name, A.EQ, A.stringify(value.number)))
        if isinstance(value, SigmaString):
            cased = isinstance(value, SigmaCasedString)
            variants = self.expand_placeholders(value)
            return _op("or", [self.string_ir(field_name, parts, cased, keyword) for parts in variants])
        raise CompileError(f"{field_name}: unsupported value type {type(value).__name__}")

    def regex_ir(self, field_name: str, value: SigmaRegularExpression) -> Node:
        flags = 0
        for flag in value.flags or ():
            flags |= _RE_FLAGS.get(flag, 0)
        pattern = str(value.regexp)
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            raise CompileError(f"{field_name}: invalid regular expression {pattern!r}: {exc}") from exc
        atom = self.table.intern(Atom(field_name, A.REGEX, (pattern, flags)))
        literal = A.required_literal(pattern, flags)
        if literal:
            self.table.gates[atom] = self.table.intern(Atom(field_name, A.CONTAINS, literal.casefold()))
        return atom

    def expand_placeholders(self, value: SigmaString) -> list[list[Any]]:
        """Parts lists of a SigmaString, one per combination of placeholder values."""
        choices: list[list[list[Any]]] = []
        for part in value.s:
            if isinstance(part, Placeholder):
                configured = self.placeholders.get(part.name)
                if not configured:
                    self.notes.append(f"placeholder %{part.name}% has no configured values")
                    choices.append([])
                    continue
                choices.append([_wildcard_parts(str(v)) for v in configured])
            else:
                choices.append([[part]])
        return [list(itertools.chain.from_iterable(combo)) for combo in itertools.product(*choices)]

    def string_ir(self, field_name: str, parts: list[Any], cased: bool, keyword: bool) -> Node:
        """Classify a wildcard pattern into the cheapest atom kind that expresses it."""
        parts = _merge_literals(parts)
        intern = self.table.intern
        fold = (lambda s: s) if cased else str.casefold
        if keyword and parts and not (parts[0] is SpecialChars.WILDCARD_MULTI
                                      or parts[-1] is SpecialChars.WILDCARD_MULTI):
            parts = [SpecialChars.WILDCARD_MULTI, *parts, SpecialChars.WILDCARD_MULTI]
            parts = _merge_literals(parts)
        star = SpecialChars.WILDCARD_MULTI
        literals = [p for p in parts if isinstance(p, str)]
        specials = [p for p in parts if not isinstance(p, str)]
        if not specials:
            return intern(Atom(field_name, A.EQ, fold("".join(literals)), cased))
        if all(p is star for p in specials):
            if not literals:
                return intern(Atom(field_name, A.PRESENT, None))
            if len(literals) == 1:
                text = fold(literals[0])
                head, tail = parts[0] is star, parts[-1] is star
                if head and tail and len(parts) == 3:
                    return intern(Atom(field_name, A.CONTAINS, text, cased))
                if tail and not head and len(parts) == 2:
                    return intern(Atom(field_name, A.STARTSWITH, text, cased))
                if head and not tail and len(parts) == 2:
                    return intern(Atom(field_name, A.ENDSWITH, text, cased))
        regex = "".join(
            re.escape(fold(p)) if isinstance(p, str) else (".*" if p is star else ".")
            for p in parts
        )
        atom = intern(Atom(field_name, A.GLOB, regex, cased))
        longest = max(literals, key=len, default="")
        if longest:
            self.table.gates[atom] = intern(Atom(field_name, A.CONTAINS, longest.casefold()))
        return atom

    # -- IR -> Python ------------------------------------------------------------------------
    def compile(self, tree: Any) -> CompiledCondition:
        self.notes = []
        ir = self.to_ir(tree)
        constants: dict[str, frozenset[int]] = {}
        source = _emit(ir, constants)
        namespace: dict[str, Any] = dict(constants)
        predicate = eval(f"lambda T: {source}", namespace)  # noqa: S307 - generated from ints
        return CompiledCondition(source, predicate, _trigger(ir, self.table),
                                 frozenset(_atoms_of(ir)), list(self.notes))


def _timestamp_unit(node: Any) -> str:
    parent = getattr(node, "parent", None)
    for modifier in getattr(parent, "modifiers", []) or []:
        name = modifier.__name__.lower()
        for unit in ("minute", "hour", "day", "week", "month", "year"):
            if unit in name:
                return unit
    raise CompileError("time part modifier without a unit")


def _wildcard_parts(text: str) -> list[Any]:
    """A placeholder value: ``*`` and ``?`` in it are wildcards, as in a Sigma value."""
    return SigmaString(text).s  # type: ignore[return-value]


def _merge_literals(parts: Sequence[Any]) -> list[Any]:
    merged: list[Any] = []
    for part in parts:
        if isinstance(part, str):
            if not part:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += part
                continue
        elif part is SpecialChars.WILDCARD_MULTI and merged and merged[-1] is part:
            continue
        merged.append(part)
    return merged


def _op(kind: str, children: list[Node]) -> Node:
    """Build and/or with constant folding and flattening."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, bool):
            if kind == "and" and not child:
                return False
            if kind == "or" and child:
                return True
            continue
        if isinstance(child, tuple) and child[0] == kind:
            flat.extend(child[1])
        else:
            flat.append(child)
    if not flat:
        return kind == "and"
    if len(flat) == 1:
        return flat[0]
    return (kind, flat)


def _emit(node: Node, constants: dict[str, frozenset[int]]) -> str:
    if isinstance(node, bool):
        return "True" if node else "False"
    if isinstance(node, int):
        return f"{node} in T"
    kind = node[0]
    if kind == "not":
        return f"not ({_emit(node[1], constants)})"
    children = node[1]
    plain = [c for c in children if isinstance(c, int) and not isinstance(c, bool)]
    rest = [c for c in children if not (isinstance(c, int) and not isinstance(c, bool))]
    pieces: list[str] = []
    if len(plain) >= 3:
        name = f"_S{len(constants)}"
        constants[name] = frozenset(plain)
        pieces.append(f"not T.isdisjoint({name})" if kind == "or" else f"{name} <= T")
    else:
        pieces.extend(f"{a} in T" for a in plain)
    pieces.extend(f"({_emit(c, constants)})" for c in rest)
    return f" {kind} ".join(pieces)


def _atoms_of(node: Node) -> set[int]:
    if isinstance(node, bool):
        return set()
    if isinstance(node, int):
        return {node}
    if node[0] == "not":
        return _atoms_of(node[1])
    found: set[int] = set()
    for child in node[1]:
        found |= _atoms_of(child)
    return found


_WEAK_KINDS = {A.PRESENT: 50.0, A.NULL: 50.0, A.EXISTS: 50.0, A.FIELDREF: 20.0}


def _weight(atom: Atom) -> float:
    """Lower is more selective: a trigger of selective atoms wakes the rule less often."""
    if atom.kind in _WEAK_KINDS:
        return _WEAK_KINDS[atom.kind]
    if atom.kind in A.STRING_KINDS and isinstance(atom.value, str):
        return 1.0 + 8.0 / (1 + len(atom.value))
    return 2.0


def _trigger(node: Node, table: AtomTable) -> frozenset[int] | None:
    """Atoms of which one must be true whenever ``node`` is true (None if no such set)."""
    if isinstance(node, bool):
        return None if node else frozenset()
    if isinstance(node, int):
        return frozenset({node})
    kind = node[0]
    if kind == "not":
        return None
    options = [_trigger(child, table) for child in node[1]]
    if kind == "or":
        if any(o is None for o in options):
            return None
        return frozenset().union(*options)  # type: ignore[arg-type]
    known = [o for o in options if o is not None]
    if not known:
        return None
    return min(known, key=lambda s: sum(_weight(table.atoms[a]) for a in s))
