"""A differential oracle for Hygie's Sigma engine: the same rules, converted by pySigma's SQLite
backend (``pysigma-backend-sqlite``, the converter behind Zircolite), run by SQLite over the
same events.

The oracle checks *matching* semantics, not routing: every event is stored with the id of the
log-source route Hygie gives it, with its fields as the route's rules see them (the route's
aliases added, :meth:`Bucket.prepare`), and each rule's SQL only runs over the events whose
route applies to the rule's log source, exactly as Hygie evaluates it.

How events become rows of the one in-memory table ``events`` (Zircolite's layout):

* one column per field name, ``TEXT COLLATE NOCASE``: the backend emits ``field='value'`` and
  counts on the column's collation for Sigma's case-insensitive equality (``LIKE`` ignores
  ASCII case by itself). Every value is stored as text, as Sigma compares it: integers in
  decimal, booleans as ``true``/``false`` (what the backend's boolean form and Sigma rules
  expect), a list (EVTX's unnamed ``<Data>`` elements) as its elements joined by a newline,
  since a column holds one value where Hygie matches a list when any element does; a JSON
  null is SQL ``NULL``, a missing field too.
* SQLite column names ignore case, so fields whose names differ only by case share a column:
  the first one in the event wins and :attr:`OracleDatabase.merged_fields` counts the others.
* ``_fulltext`` holds the event's searchable text for keyword (field-less) detections, the
  backend's ``fulltext_field``: the text of every value (numbers and booleans too, list
  elements one by one), one per line.
* ``_route`` (route id), ``_event`` (index of the event), plus NULL columns for every field
  a rule names and no event carries (a query naming an unknown column fails to prepare).

``|re`` becomes ``field REGEXP 'pattern'``: SQLite has no ``REGEXP``, so Python's ``re.search``
is registered for it (false on ``NULL``), as the backend's documentation prescribes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.backends.sqlite import sqliteBackend
from sigma.processing.pipeline import ProcessingItem, ProcessingPipeline
from sigma.processing.transformations.placeholder import ValueListPlaceholderTransformation
from sigma.rule import SigmaRule

TABLE = "events"
FULLTEXT = "_fulltext"
ROUTE = "_route"
EVENT = "_event"
INTERNAL = (EVENT, ROUTE, FULLTEXT)
_RESERVED = frozenset(name.casefold() for name in INTERNAL)
LIST_SEPARATOR = "\n"

Hit = tuple[str, str, int]  # (rule id, event source file, event offset = EVTX record id)


def quote(name: str) -> str:
    """A column name quoted for SQLite (backticks, as the backend quotes its own)."""
    return "`" + name.replace("`", "``") + "`"


# -- conversion -------------------------------------------------------------------------------


@dataclass(slots=True)
class ConvertedRule:
    """One rule's SQL: a ``SELECT * FROM events WHERE ...`` per condition (Sigma ORs them)."""

    rule_id: str
    queries: list[str]
    fields: list[str]  # the columns the queries name


@dataclass(slots=True)
class Conversion:
    """Converted rules, and the error of each rule the backend could not convert."""

    rules: dict[str, ConvertedRule] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def make_backend(placeholders: Mapping[str, Sequence[str]] | None = None) -> sqliteBackend:
    """The backend, configured for the ``events`` table and keyword search on ``_fulltext``.

    Placeholders (``|expand``) get the same values as Hygie's engine, through pySigma's own
    transformation; one with no value is left unhandled and the backend refuses the rule.
    """
    values = {name: list(vals) for name, vals in (placeholders or {}).items() if vals}
    pipeline = None
    if values:
        pipeline = ProcessingPipeline(
            items=[ProcessingItem(ValueListPlaceholderTransformation(include=sorted(values)),
                                  identifier="hygie-placeholders")],
            vars=values,
        )
    return sqliteBackend(pipeline, table=TABLE, fulltext_field=FULLTEXT)


def convert_rules(rules: Iterable[tuple[str, SigmaRule]],
                  placeholders: Mapping[str, Sequence[str]] | None = None) -> Conversion:
    """Convert ``(rule id, pySigma rule)`` pairs; a failure is recorded, never raised.

    pySigma's processing pipeline rewrites a rule in place, so convert rules only after every
    other consumer (Hygie's compiler) is done with them.
    """
    backend = make_backend(placeholders)
    result = Conversion()
    for rule_id, rule in rules:
        try:
            queries = [str(q) for q in backend.convert_rule(rule)]
            fields = backend.required_fields(rule)
        except Exception as exc:  # noqa: BLE001 - any backend failure is a finding to report
            result.errors[rule_id] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            continue
        if not queries:
            result.errors[rule_id] = "the backend returned no query"
            continue
        result.rules[rule_id] = ConvertedRule(rule_id, queries, fields)
    return result


# -- the database -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRow:
    """One event as the oracle stores it: where it came from, its route id, its fields."""

    source: str
    offset: int
    route: int
    fields: Mapping[str, Any]


def sql_text(value: Any) -> str | None:
    """A field value as the text Sigma matches (see the module docstring)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        parts = [sql_text(item) for item in value]
        return LIST_SEPARATOR.join(p for p in parts if p is not None)
    return json.dumps(value, sort_keys=True, default=str)


def _texts(value: Any) -> Iterator[str]:
    """The searchable texts of one value: list elements one by one."""
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)
    else:
        text = sql_text(value)
        if text is not None:
            yield text


class _Regexp:
    """SQLite's ``X REGEXP Y`` calls ``regexp(Y, X)``: Python's ``re.search``, NULL is false."""

    def __init__(self) -> None:
        self.compiled: dict[str, re.Pattern[str]] = {}

    def __call__(self, pattern: str, value: Any) -> int:
        if value is None:
            return 0
        regex = self.compiled.get(pattern)
        if regex is None:
            regex = self.compiled[pattern] = re.compile(pattern)
        return 1 if regex.search(value if isinstance(value, str) else str(value)) else 0


class OracleDatabase:
    """An in-memory SQLite table of events, and the runner of converted rules over it."""

    def __init__(self, rows: Iterable[EventRow]) -> None:
        self.connection = sqlite3.connect(":memory:")
        self.connection.create_function("regexp", 2, _Regexp(), deterministic=True)
        self.events: list[tuple[str, int]] = []
        self.merged_fields = 0  # values dropped because another field differing by case won
        columns: dict[str, str] = {}  # casefolded name -> name as first seen
        records: list[dict[str, str | int | None]] = []
        for row in rows:
            record: dict[str, str | int | None] = {}
            texts: list[str] = []
            for name, value in row.fields.items():
                key = name.casefold()
                if key in record:
                    self.merged_fields += 1
                    continue
                if key in _RESERVED:
                    raise ValueError(f"event field {name!r} clashes with an oracle column")
                columns.setdefault(key, name)
                record[key] = sql_text(value)
                texts.extend(_texts(value))
            record[FULLTEXT.casefold()] = LIST_SEPARATOR.join(texts)
            record[ROUTE.casefold()] = row.route
            record[EVENT.casefold()] = len(self.events)
            self.events.append((row.source, row.offset))
            records.append(record)
        self.columns = columns
        names = list(columns)
        definitions = [f"{quote(EVENT)} INTEGER PRIMARY KEY", f"{quote(ROUTE)} INTEGER",
                       f"{quote(FULLTEXT)} TEXT"]
        definitions += [f"{quote(columns[k])} TEXT COLLATE NOCASE" for k in names]
        self.connection.execute(f"CREATE TABLE {TABLE} ({', '.join(definitions)})")
        all_keys = [EVENT.casefold(), ROUTE.casefold(), FULLTEXT.casefold(), *names]
        marks = ", ".join("?" for _ in all_keys)
        self.connection.executemany(
            f"INSERT INTO {TABLE} VALUES ({marks})",
            ([record.get(k) for k in all_keys] for record in records))
        self.connection.execute(f"CREATE INDEX events_route ON {TABLE} ({quote(ROUTE)})")

    def ensure_columns(self, names: Iterable[str]) -> None:
        """Add the columns a query names that no event has (all NULL)."""
        for name in names:
            if name.casefold() not in self.columns and name.casefold() not in _RESERVED:
                self.columns[name.casefold()] = name
                self.connection.execute(
                    f"ALTER TABLE {TABLE} ADD COLUMN {quote(name)} TEXT COLLATE NOCASE")

    def run(self, query: str, routes: Collection[int]) -> set[int]:
        """Indices of the events of ``routes`` that the backend's ``query`` selects.

        The backend's statement runs unchanged as a subquery; SQLite flattens it, so the
        route test uses the index."""
        ids = ", ".join(str(int(r)) for r in sorted(routes))  # none: SQLite still prepares it
        sql = f"SELECT {quote(EVENT)} FROM ({query}) WHERE {quote(ROUTE)} IN ({ids})"
        return {index for (index,) in self.connection.execute(sql)}

    def hits(self, conversion: Conversion, routes_of: Mapping[str, Collection[int]],
             errors: dict[str, str] | None = None) -> set[Hit]:
        """The (rule id, source, offset) hit set of every converted rule over its routes.

        Every query runs, even over no route, so SQLite checks it; a rule whose SQL SQLite
        refuses is left out and its error put in ``errors``."""
        found: set[Hit] = set()
        for rule_id, rule in conversion.rules.items():
            routes = routes_of.get(rule_id, ())
            self.ensure_columns(rule.fields)
            try:
                selected = set().union(*(self.run(q, routes) for q in rule.queries))
            except sqlite3.Error as exc:
                if errors is not None:
                    errors[rule_id] = f"{type(exc).__name__}: {exc}"
                continue
            for index in selected:
                source, offset = self.events[index]
                found.add((rule_id, source, offset))
        return found

    def close(self) -> None:
        self.connection.close()


# -- Hygie glue -------------------------------------------------------------------------------


@dataclass(slots=True)
class Comparison:
    """Both hit sets over the same rules and events, and what could not be compared."""

    hygie: set[Hit]
    oracle: set[Hit]
    compared: set[str]  # rules run on both sides (converted, and accepted by SQLite)
    routed: set[str]  # compared rules that at least one event is routed to
    not_converted: dict[str, str]  # rule id -> backend (or SQLite) error
    not_in_hygie: set[str]  # converted rules Hygie's engine did not load
    events: int
    merged_fields: int
    hygie_not_compared: dict[str, int]  # Hygie's hit count of each rule the oracle lacks

    def differences(self) -> dict[str, tuple[int, int]]:
        """Rule id -> (events only Hygie matches, events only SQLite matches)."""
        out: dict[str, list[int]] = {}
        for rule_id, _, _ in self.hygie - self.oracle:
            out.setdefault(rule_id, [0, 0])[0] += 1
        for rule_id, _, _ in self.oracle - self.hygie:
            out.setdefault(rule_id, [0, 0])[1] += 1
        return {k: (v[0], v[1]) for k, v in sorted(out.items())}


def compare_with_hygie(engine: Any, conversion: Conversion, events: Iterable[Any]) -> Comparison:
    """Match ``events`` with Hygie's ``engine`` (raw rule hits: no correlation, no
    ``generate`` filtering) and run the converted rules over the same routed events."""
    route_ids: dict[Any, int] = {}
    rows: list[EventRow] = []
    hygie: set[Hit] = set()
    for event in events:
        route = engine.router.route(event.fields)
        route_id = route_ids.setdefault(route, len(route_ids))
        bucket = engine.bucket_for(event.fields)
        fields = bucket.prepare(event.fields)
        _, matched = bucket.match(fields)
        for index in matched:
            hygie.add((bucket.rules[index].rule_id, event.source, event.offset))
        rows.append(EventRow(event.source, event.offset, route_id, fields))
    routes_of = {
        rule.rule_id: [rid for route, rid in route_ids.items() if route.applies(rule.logsource)]
        for rule in engine.rules
        if rule.rule_id in conversion.rules
    }
    database = OracleDatabase(rows)
    try:
        failed: dict[str, str] = {}
        oracle = database.hits(conversion, routes_of, failed)
        not_converted = {**conversion.errors, **failed}
        compared = {rid for rid in routes_of if rid not in failed}
        lacking: dict[str, int] = {}
        for rule_id, _, _ in hygie:
            if rule_id not in compared:
                lacking[rule_id] = lacking.get(rule_id, 0) + 1
        hygie = {hit for hit in hygie if hit[0] in compared}
        routed = {rid for rid in compared if routes_of[rid]}
        loaded = {rule.rule_id for rule in engine.rules}
        return Comparison(hygie, oracle, compared, routed, not_converted,
                          set(conversion.rules) - loaded, len(rows), database.merged_fields,
                          lacking)
    finally:
        database.close()
