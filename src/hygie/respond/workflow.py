"""The pure parts of running a CACAO workflow: variable substitution, the if-condition
language Hygie accepts, and Hygie's ``x-hygie-action`` command line.

Conditions: CACAO leaves the condition language to STIX patterning, which is about observed
data, not playbook variables; Hygie accepts a small, documented language instead::

    $$severity$$ IN ('high', 'critical') AND $$host$$ != ''
    NOT $$user$$ = 'admin' OR $$count$$ >= 3

operands are ``$$variables$$``, quoted strings or numbers; operators ``= != < <= > >= IN``;
``AND`` binds tighter than ``OR``; a lone ``$$variable$$`` is true when it is not empty."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from typing import Any

VARIABLE = re.compile(r"\$\$[a-zA-Z_][a-zA-Z0-9_-]{0,199}\$\$")
_TOKEN = re.compile(r"\s*(?:(?P<var>\$\$[a-zA-Z_][a-zA-Z0-9_-]*\$\$)|'(?P<str>(?:[^'\\]|\\.)*)'"
                    r"|(?P<num>-?\d+(?:\.\d+)?)|(?P<op>!=|<=|>=|=|<|>|\(|\)|,)"
                    r"|(?P<word>[A-Za-z]+))")


class ConditionError(ValueError):
    """A condition outside the language Hygie evaluates."""


def substitute(text: str, variables: dict[str, Any]) -> str:
    """``text`` with each ``$$name$$`` replaced by its value (unknown ones are an error)."""
    def value(match: re.Match[str]) -> str:
        name = match.group(0)
        if name not in variables or variables[name] is None:
            raise KeyError(f"variable {name} has no value")
        return str(variables[name])
    return VARIABLE.sub(value, text)


def split_hygie_command(command: str) -> tuple[str, dict[str, str]]:
    """``"ldap.disable_user user=$$user$$ reason='ransomware'"`` -> (action, arguments)."""
    try:
        parts = shlex.split(command)
    except ValueError as exc:
        raise ValueError(f"cannot split the command: {exc}") from exc
    if not parts:
        raise ValueError("empty command")
    arguments: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep or not key.isidentifier():
            raise ValueError(f"argument {part!r} is not key=value")
        arguments[key] = value
    return parts[0], arguments


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str


def _tokens(condition: str) -> list[_Token]:
    tokens, pos = [], 0
    while pos < len(condition.rstrip()):
        match = _TOKEN.match(condition, pos)
        if not match or match.end() == pos:
            raise ConditionError(f"cannot read the condition at {condition[pos:pos + 20]!r}")
        kind = match.lastgroup or ""
        text = match.group(kind)
        if kind == "word":
            text = text.upper()
            if text not in ("AND", "OR", "NOT", "IN"):
                raise ConditionError(f"unknown word {match.group(kind)!r} in the condition")
        tokens.append(_Token(kind, text))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, condition: str) -> None:
        self.tokens = _tokens(condition)
        self.pos = 0

    def peek(self, text: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos].text == text and \
            self.tokens[self.pos].kind in ("op", "word")

    def take(self) -> _Token:
        if self.pos >= len(self.tokens):
            raise ConditionError("the condition ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> tuple[Any, ...]:
        tree = self.disjunction()
        if self.pos != len(self.tokens):
            raise ConditionError(f"unexpected {self.tokens[self.pos].text!r} in the condition")
        return tree

    def disjunction(self) -> tuple[Any, ...]:
        node = self.conjunction()
        while self.peek("OR"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self) -> tuple[Any, ...]:
        node = self.negation()
        while self.peek("AND"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self) -> tuple[Any, ...]:
        if self.peek("NOT"):
            self.take()
            return ("not", self.negation())
        if self.peek("("):
            self.take()
            node = self.disjunction()
            if not self.peek(")"):
                raise ConditionError("a parenthesis is not closed")
            self.take()
            return node
        left = self.operand()
        for op in ("!=", "<=", ">=", "=", "<", ">"):
            if self.peek(op):
                self.take()
                return ("cmp", op, left, self.operand())
        if self.peek("IN"):
            self.take()
            if not self.peek("("):
                raise ConditionError("IN needs a list in parentheses")
            self.take()
            items = [self.operand()]
            while self.peek(","):
                self.take()
                items.append(self.operand())
            if not self.peek(")"):
                raise ConditionError("the IN list is not closed")
            self.take()
            return ("in", left, items)
        if left[0] != "var":
            raise ConditionError("a lone operand must be a $$variable$$")
        return ("truthy", left)

    def operand(self) -> tuple[str, str]:
        token = self.take()
        if token.kind == "var":
            return ("var", token.text)
        if token.kind == "str":
            return ("str", token.text.replace("\\'", "'"))
        if token.kind == "num":
            return ("num", token.text)
        raise ConditionError(f"expected a value, found {token.text!r}")


def parse_condition(condition: str) -> tuple[Any, ...]:
    return _Parser(condition).parse()


def evaluate(condition: str, variables: dict[str, Any]) -> bool:
    """The condition's truth with these variables (a variable without value is empty)."""
    return bool(_eval(parse_condition(condition), variables))


def _value(operand: tuple[str, str], variables: dict[str, Any]) -> Any:
    kind, text = operand
    if kind == "var":
        value = variables.get(text)
        return "" if value is None else value
    return float(text) if kind == "num" else text


def _compare(op: str, left: Any, right: Any) -> bool:
    try:
        a, b = float(left), float(right)
    except (TypeError, ValueError):
        a, b = str(left), str(right)
    return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _eval(node: tuple[Any, ...], variables: dict[str, Any]) -> bool:
    kind = node[0]
    if kind == "or":
        return _eval(node[1], variables) or _eval(node[2], variables)
    if kind == "and":
        return _eval(node[1], variables) and _eval(node[2], variables)
    if kind == "not":
        return not _eval(node[1], variables)
    if kind == "cmp":
        return _compare(node[1], _value(node[2], variables), _value(node[3], variables))
    if kind == "in":
        left = _value(node[1], variables)
        return any(_compare("=", left, _value(item, variables)) for item in node[2])
    value = _value(node[1], variables)
    return value not in ("", "false", "0", False, 0)
