"""The search language of ``hygie search``, parsed by hand and compiled to parameterised SQL.

    EventID = 4625 AND host = 'dc01' AND NOT (TargetUserName startswith 'svc_' OR IpAddress in (10.0.0.5, "::1"))

A query is ``field op value`` terms joined by AND, OR, NOT and parentheses. A small tokenizer
and a recursive-descent parser with a nesting bound (hostile input cannot exhaust the stack)
build a tree; the compiler turns it into a WHERE clause whose user values all travel as
parameters, never as SQL text. Errors are ``QueryError`` with the character position.

String comparisons ignore case, as Sigma's do; a bare number compares numerically, so
``LogonType = 3`` matches the field ``"3"`` as well as ``3``. A missing field matches no value,
so ``NOT x = 1`` and ``x != 1`` hold for events without ``x`` (again as in Sigma).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Union

from hygie.core.errors import HygieError
from hygie.core.event import parse_time

MAX_QUERY_CHARS = 10_000
MAX_DEPTH = 32  # nested parentheses and NOTs
MAX_TERMS = 512  # comparisons (each value of an IN list counts): bounds the SQL's size

COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
WORD_OPS = ("contains", "startswith", "endswith", "matches")
KEYWORDS = frozenset({"and", "or", "not", "in", "exists", *WORD_OPS})
FIELD_NAME = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
NUMBER = re.compile(r"-?\d{1,30}(?:\.\d{1,30})?")
_SPECIAL = set("()=!<>,'\"")


class QueryError(HygieError):
    """A query that cannot be read; ``position`` is the 0-based character where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.message = message
        self.position = position

    def pointer(self, query: str) -> str:
        """The query and a caret under the offending character, for a terminal."""
        return f"{query}\n{' ' * min(self.position, len(query))}^"


# -- the tree ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Value:
    """A literal: its text, and its number when it was written as a bare number."""

    text: str
    number: float | None = None


@dataclass(frozen=True, slots=True)
class Compare:
    name: str
    op: str  # one of COMPARISONS, WORD_OPS, "in", "exists"
    values: tuple[Value, ...] = ()
    position: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class Not:
    item: Node


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Everything:
    pass


Node = Union[Compare, Not, And, Or, Everything]


# -- tokens --------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "(", ")", ",", "op", "string", "word", "end"
    text: str
    position: int


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        char = query[i]
        if char.isspace():
            i += 1
        elif char in "(),":
            tokens.append(Token(char, char, i))
            i += 1
        elif char in "=!<>":
            two = query[i:i + 2]
            if two in ("!=", "<=", ">="):
                tokens.append(Token("op", two, i))
                i += 2
            elif char == "!":
                raise QueryError("'!' must be followed by '=' (use NOT to negate)", i)
            else:
                tokens.append(Token("op", char, i))
                i += 1
        elif char in "'\"":
            start = i
            text, i = _quoted(query, i)
            tokens.append(Token("string", text, start))
        else:
            start = i
            while i < n and not query[i].isspace() and query[i] not in _SPECIAL:
                i += 1
            tokens.append(Token("word", query[start:i], start))
    tokens.append(Token("end", "", n))
    return tokens


def _quoted(query: str, start: int) -> tuple[str, int]:
    """A string in single or double quotes; the quote is escaped by doubling it (as in SQL),
    so that backslashes stay literal and Windows paths are written as they are."""
    quote, parts, i = query[start], [], start + 1
    while True:
        end = query.find(quote, i)
        if end == -1:
            raise QueryError("unterminated string", start)
        parts.append(query[i:end])
        if query.startswith(quote, end + 1):
            parts.append(quote)
            i = end + 2
        else:
            return "".join(parts), end + 1


# -- parser --------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, query: str) -> None:
        self.tokens = tokenize(query)
        self.at = 0
        self.terms = 0

    def peek(self) -> Token:
        return self.tokens[self.at]

    def take(self) -> Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def keyword(self, token: Token, *words: str) -> bool:
        return token.kind == "word" and token.text.lower() in words

    def parse(self) -> Node:
        first = self.peek()
        if first.kind == "end":
            return Everything()
        if first.kind == "word" and first.text == "*" and self.tokens[1].kind == "end":
            return Everything()
        node = self.or_expr(0)
        token = self.peek()
        if token.kind == ")":
            raise QueryError("')' without a matching '('", token.position)
        if token.kind != "end":
            raise QueryError(f"expected AND or OR before {_show(token)}", token.position)
        return node

    def or_expr(self, depth: int) -> Node:
        items = [self.and_expr(depth)]
        while self.keyword(self.peek(), "or"):
            self.take()
            items.append(self.and_expr(depth))
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self, depth: int) -> Node:
        items = [self.not_expr(depth)]
        while self.keyword(self.peek(), "and"):
            self.take()
            items.append(self.not_expr(depth))
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self, depth: int) -> Node:
        token = self.peek()
        if depth >= MAX_DEPTH:
            raise QueryError(f"query nested deeper than {MAX_DEPTH} levels", token.position)
        if self.keyword(token, "not"):
            self.take()
            return Not(self.not_expr(depth + 1))
        if token.kind == "(":
            self.take()
            node = self.or_expr(depth + 1)
            close = self.take()
            if close.kind != ")":
                if close.kind == "end":
                    raise QueryError("'(' is never closed", token.position)
                raise QueryError(f"expected ')' or AND/OR before {_show(close)}", close.position)
            return node
        return self.comparison()

    def comparison(self) -> Compare:
        token = self.take()
        if token.kind != "word" or token.text.lower() in KEYWORDS:
            raise QueryError(f"expected a field name, found {_show(token)}", token.position)
        name = token.text
        if not FIELD_NAME.fullmatch(name):
            raise QueryError(f"invalid field name {name!r} (letters, digits and _ . @ - only)",
                             token.position)
        if name.lower() == "tenant":
            raise QueryError("tenant is not a search field: choose tenants with --tenant",
                             token.position)
        op_token = self.take()
        op = op_token.text.lower() if op_token.kind in ("op", "word") else ""
        if op_token.kind == "op" or op in WORD_OPS:
            values: tuple[Value, ...] = (self.value(op_token),)
        elif op == "in":
            values = self.value_list(op_token)
        elif op == "exists":
            values = ()
        else:
            raise QueryError(f"expected an operator after {name!r} (=, !=, <, <=, >, >=, contains, "
                             f"startswith, endswith, matches, in, exists), found {_show(op_token)}",
                             op_token.position)
        self.terms += max(1, len(values))
        if self.terms > MAX_TERMS:
            raise QueryError(f"more than {MAX_TERMS} comparisons", token.position)
        return Compare(name, op, values, token.position)

    def value(self, after: Token) -> Value:
        token = self.take()
        if token.kind == "string":
            return Value(token.text)
        if token.kind == "word" and token.text.lower() not in ("and", "or"):
            if NUMBER.fullmatch(token.text):
                return Value(token.text, float(token.text))
            return Value(token.text)
        raise QueryError(f"expected a value after {after.text!r}, found {_show(token)}",
                         token.position)

    def value_list(self, after: Token) -> tuple[Value, ...]:
        opening = self.take()
        if opening.kind != "(":
            raise QueryError(f"expected '(' after 'in', found {_show(opening)}", opening.position)
        values = [self.value(after)]
        while True:
            token = self.take()
            if token.kind == ")":
                return tuple(values)
            if token.kind != ",":
                raise QueryError(f"expected ',' or ')' in the 'in' list, found {_show(token)}",
                                 token.position)
            values.append(self.value(token))


def _show(token: Token) -> str:
    if token.kind == "end":
        return "the end of the query"
    if token.kind == "string":
        return f"the string {token.text[:40]!r}"
    return repr(token.text[:40])


def parse_query(query: str) -> Node:
    """The tree of ``query``; an empty query or ``*`` is ``Everything()``."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(f"query longer than {MAX_QUERY_CHARS} characters", MAX_QUERY_CHARS)
    return _Parser(query).parse()


def render(node: Node) -> str:
    """Query text that parses back to ``node`` (used by tests and for display)."""
    if isinstance(node, Everything):
        return "*"
    if isinstance(node, Not):
        return f"NOT ({render(node.item)})"
    if isinstance(node, (And, Or)):
        glue = " AND " if isinstance(node, And) else " OR "
        return glue.join(f"({render(item)})" for item in node.items)
    if node.op == "exists":
        return f"{node.name} exists"
    shown = [v.text if v.number is not None else "'" + v.text.replace("'", "''") + "'"
             for v in node.values]
    if node.op == "in":
        return f"{node.name} in ({', '.join(shown)})"
    return f"{node.name} {node.op} {shown[0]}"


# -- SQL -----------------------------------------------------------------------------------------
# Searchable columns of the store, by lower-case name: (column, type).
STRING, NUMERIC, TIME = "string", "numeric", "time"
COLUMNS: dict[str, tuple[str, str]] = {
    "host": ("host", STRING), "source": ("source", STRING), "kind": ("kind", STRING),
    "channel": ("channel", STRING), "record_key": ("record_key", STRING), "raw": ("raw", STRING),
    "eventid": ("event_id", NUMERIC), "event_id": ("event_id", NUMERIC),
    "time": ("time", TIME), "received": ("received", TIME),
}


# Fields that format-2 files also keep in a column of their own (named ``field:<name>``), as
# ``json_extract_string`` gives them: the ones analysts and hunts search most. A search on one
# of them reads that narrow column instead of parsing every event's JSON. Names are exact, as
# JSON keys are.
FIELD_COLUMNS: tuple[str, ...] = (
    "CommandLine", "Image", "ParentImage", "ParentCommandLine", "OriginalFileName", "User",
    "TargetUserName", "SubjectUserName", "IpAddress", "WorkstationName", "LogonType",
    "SourceIp", "DestinationIp", "DestinationHostname", "QueryName", "TargetFilename",
    "TargetObject", "Hashes", "ServiceName", "ProcessName",
)
_FIELD_COLUMN_SET = frozenset(FIELD_COLUMNS)


def field_column(name: str) -> str:
    """The quoted SQL name of a field's own column."""
    return f'"field:{name}"'


@dataclass(slots=True)
class CompiledQuery:
    """A WHERE clause with ``?`` placeholders and their values, in order; ``regexes`` are the
    patterns of ``matches`` with their positions (checked before the query runs)."""

    where: str
    params: list[Any]
    regexes: list[tuple[str, int]]


def compile_query(query: str | Node, *, field_columns: bool = False) -> CompiledQuery:
    """The WHERE clause of ``query``; with ``field_columns`` (for format-2 files) the fields
    of ``FIELD_COLUMNS`` are read from their own columns, giving the same answers."""
    node = parse_query(query) if isinstance(query, str) else query
    out = CompiledQuery("", [], [])
    out.where = _sql(node, out, field_columns)
    return out


def _sql(node: Node, out: CompiledQuery, columns: bool) -> str:
    if isinstance(node, Everything):
        return "TRUE"
    if isinstance(node, Not):
        return f"(NOT {_sql(node.item, out, columns)})"
    if isinstance(node, (And, Or)):
        glue = " AND " if isinstance(node, And) else " OR "
        return "(" + glue.join(_sql(item, out, columns) for item in node.items) + ")"
    if node.op == "in":
        parts = [_compare(node, "=", value, out, columns) for value in node.values]
        return "(" + " OR ".join(parts) + ")"
    if node.op == "!=":
        return f"(NOT {_compare(node, '=', node.values[0], out, columns)})"
    return _compare(node, node.op, node.values[0] if node.values else None, out, columns)


def _compare(node: Compare, op: str, value: Value | None, out: CompiledQuery, columns: bool) -> str:
    """One test, never NULL (a missing field is false), so NOT and OR behave as in Sigma."""
    column = COLUMNS.get(node.name.lower())
    if column is not None and column[1] == NUMERIC and value is not None and value.number is None:
        number = _number(value.text)
        if number is None:  # EventID = 'abc': compare the field's text
            node, column = Compare("EventID", node.op, node.values, node.position), None
        else:
            value = Value(value.text, number)
    if column is None:
        path = f'$."{node.name}"'
        if op == "exists":  # on the JSON: a field present with a null value exists
            out.params.append(path)
            return "(json_extract(fields, ?) IS NOT NULL)"
        if columns and node.name in _FIELD_COLUMN_SET:
            expr, kind = field_column(node.name), STRING
        else:
            expr, kind = "json_extract_string(fields, ?)", STRING
            out.params.append(path)
    else:
        expr, kind = column
        if op == "exists":
            return f"({expr} IS NOT NULL)"
    assert value is not None
    if kind == TIME:
        return _time_compare(node, expr, op, value, out)
    if op in COMPARISONS and value.number is not None:
        target = expr if kind == NUMERIC else f"TRY_CAST({expr} AS DOUBLE)"
        # an integral number against an integer column stays an integer: DuckDB then compares
        # the column as stored (no cast per row)
        out.params.append(int(value.number) if kind == NUMERIC and value.number.is_integer() and abs(value.number) < 2**63
                           else value.number)
        return f"coalesce({target} {op} ?, false)"
    text = expr if kind != NUMERIC else f"CAST({expr} AS VARCHAR)"
    out.params.append(value.text)
    if op == "=":
        return f"coalesce(lower({text}) = lower(?), false)"
    if op in COMPARISONS:
        return f"coalesce({text} {op} ?, false)"
    if op == "matches":
        out.regexes.append((value.text, node.position))
        return f"coalesce(regexp_matches({text}, ?), false)"
    function = {"contains": "contains", "startswith": "starts_with", "endswith": "ends_with"}[op]
    return f"coalesce({function}(lower({text}), lower(?)), false)"


def _time_compare(node: Compare, expr: str, op: str, value: Value, out: CompiledQuery) -> str:
    if op not in COMPARISONS:
        raise QueryError(f"{node.name} is a time: compare it with =, !=, <, <=, >, >=",
                         node.position)
    moment = parse_time(value.text)
    if moment is None:
        raise QueryError(f"{value.text!r} is not an ISO 8601 time (2026-11-20T07:30:00Z)",
                         node.position)
    out.params.append(naive_utc(moment))
    return f"coalesce({expr} {op} ?, false)"


def _number(text: str) -> float | None:
    return float(text) if NUMBER.fullmatch(text.strip()) else None


def naive_utc(moment: datetime) -> datetime:
    """The store keeps UTC timestamps without a zone (DuckDB then needs no time-zone data)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
