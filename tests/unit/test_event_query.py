"""The search language: parses what it should, says where it fails, never builds SQL from a
user's text (every value is a parameter), and no input makes it raise anything but QueryError."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.store.events.query import (
    MAX_DEPTH,
    And,
    Compare,
    Everything,
    Not,
    Or,
    QueryError,
    Value,
    compile_query,
    parse_query,
    render,
)

# One table with the store's columns, to run every compiled WHERE clause for real.
ROWS = [
    ("k1", datetime(2026, 11, 20, 7, 0), datetime(2026, 11, 20, 7, 0), "DC01", "http:chu-a", "json",
     4625, "Security", '{"EventID": 4625, "TargetUserName": "Admin", "LogonType": "3", '
     '"IpAddress": "10.0.0.5", "Image": "C:\\\\Windows\\\\System32\\\\cmd.exe"}', "{}"),
    ("k2", datetime(2026, 11, 20, 8, 0), None, "ws12", "http:chu-a", "json", 4688, "Security",
     '{"EventID": "4688", "CommandLine": "vssadmin delete shadows /all", "LogonType": 10}', "{}"),
    ("k3", datetime(2026, 11, 20, 9, 0), datetime(2026, 11, 20, 9, 0), None, "syslog", "syslog",
     None, None, '{"message": "it\'s fine", "app_name": "sshd"}', "<34>1 ..."),
]


@pytest.fixture(scope="module")
def db():
    con = duckdb.connect()
    con.execute("CREATE TABLE events (record_key VARCHAR, received TIMESTAMP, time TIMESTAMP, "
                "host VARCHAR, source VARCHAR, kind VARCHAR, event_id BIGINT, channel VARCHAR, "
                "fields VARCHAR, raw VARCHAR)")
    con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ROWS)
    yield con
    con.close()


def keys(db, query: str) -> list[str]:
    compiled = compile_query(query)
    sql = f"SELECT record_key FROM events WHERE {compiled.where} ORDER BY record_key"
    return [row[0] for row in db.execute(sql, compiled.params).fetchall()]


@pytest.mark.parametrize(("query", "expected"), [
    ("", ["k1", "k2", "k3"]),
    ("*", ["k1", "k2", "k3"]),
    ("EventID = 4625", ["k1"]),
    ("eventid = '4688'", ["k2"]),
    ("EventID >= 4600 AND EventID < 4700", ["k1", "k2"]),
    ("host = dc01", ["k1"]),  # case-insensitive, as Sigma
    ("HOST = 'DC01' OR host = WS12", ["k1", "k2"]),
    ("LogonType = 3", ["k1"]),  # a string "3" compares as the number 3
    ("LogonType = 10", ["k2"]),
    ("LogonType > 5", ["k2"]),
    ("TargetUserName = admin", ["k1"]),
    ("CommandLine contains 'DELETE SHADOWS'", ["k2"]),
    ("Image endswith '\\cmd.exe'", ["k1"]),  # backslashes stay literal
    ("Image startswith 'c:\\windows'", ["k1"]),
    ("CommandLine matches '^vss[a-z]+ '", ["k2"]),
    ("IpAddress in (10.0.0.5, '::1')", ["k1"]),
    ("message = 'it''s fine'", ["k3"]),  # a doubled quote is a quote
    ('message = "it\'s fine"', ["k3"]),
    ("CommandLine exists", ["k2"]),
    ("host exists", ["k1", "k2"]),
    ("NOT host exists", ["k3"]),
    ("host != dc01", ["k2", "k3"]),  # a missing field is not equal to anything
    ("NOT (host = dc01)", ["k2", "k3"]),
    ("channel = security AND NOT (EventID = 4688 OR TargetUserName startswith adm)", []),
    ("(kind = json) AND (NOT (EventID = 4625))", ["k2"]),
    ("time >= '2026-11-20T08:30:00Z'", ["k3"]),
    ("received < 2026-11-20T08:00:00+00:00", ["k1"]),
    ("time exists", ["k1", "k3"]),
    ("source startswith http: AND raw = '{}'", ["k1", "k2"]),
])
def test_queries_select_the_right_events(db, query: str, expected: list[str]) -> None:
    assert keys(db, query) == expected


@pytest.mark.parametrize(("query", "message", "position"), [
    ("EventID =", "expected a value", 9),
    ("(EventID = 1", "never closed", 0),
    ("EventID = 1)", "without a matching", 11),
    ("EventID = 1 host = x", "expected AND or OR", 12),
    ("EventID ~ 1", "expected an operator", 8),
    ("host = 'dc01", "unterminated string", 7),
    ("tenant = chu-b", "tenant is not a search field", 0),
    ("a/b = 1", "invalid field name", 0),
    ("AND = 1", "expected a field name", 0),
    ("x in 1", "expected '('", 5),
    ("x in (1 2)", "expected ',' or ')'", 8),
    ("x ! 1", "'!' must be followed", 2),
    ("time > yesterday", "not an ISO 8601 time", 0),
    ("time contains 2026", "is a time", 0),
])
def test_errors_say_what_and_where(query: str, message: str, position: int) -> None:
    with pytest.raises(QueryError) as caught:
        compile_query(query)
    assert message in caught.value.message
    assert caught.value.position == position
    assert f"at character {position + 1}" in str(caught.value)
    assert caught.value.pointer(query).splitlines()[1] == " " * position + "^"


def test_nesting_is_bounded() -> None:
    deep_ok = "(" * (MAX_DEPTH - 1) + "a = 1" + ")" * (MAX_DEPTH - 1)
    assert parse_query(deep_ok) == Compare("a", "=", (Value("1", 1.0),))
    for hostile in ("(" * 100_000, "NOT " * 50_000 + "a = 1", "(" * 5000 + "a = 1" + ")" * 5000):
        with pytest.raises(QueryError, match="nested deeper|longer than"):
            parse_query(hostile)


def test_hostile_values_are_parameters_not_sql(db) -> None:
    attack = "'; DROP TABLE events; --"
    compiled = compile_query(f"host = \"{attack}\" OR CommandLine contains \"{attack}\"")
    assert "DROP" not in compiled.where and attack in compiled.params
    assert keys(db, f"host = \"{attack}\"") == []
    assert keys(db, "host = 'x' OR 1 = 1") == []  # '1' is a field name, looked up in the JSON
    assert db.execute("SELECT count(*) FROM events").fetchone() == (3,)
    odd = compile_query("a-b.c@d = 1")
    assert odd.params == ['$."a-b.c@d"', 1.0]


# -- properties ----------------------------------------------------------------------------------
_pieces = st.sampled_from(["(", ")", ",", "=", "!=", "<", "<=", ">", ">=", "!", "AND", "or", "NOT",
                           "in", "exists", "contains", "startswith", "endswith", "matches",
                           "EventID", "host", "time", "tenant", "x", "'a b'", '"q"', "'", '"',
                           "4625", "-1.5", "*", "''''", "\\", "é", "a/b", "\n"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_pieces, max_size=25), st.text(max_size=20))
def test_token_soup_raises_only_query_error(db, pieces: list[str], noise: str) -> None:
    for text in (" ".join(pieces), "".join(pieces), " ".join(pieces) + noise):
        try:
            compiled = compile_query(text)
        except QueryError:
            continue
        # what parses must also run: the generated SQL is always valid
        try:
            db.execute(f"SELECT count(*) FROM events WHERE {compiled.where}", compiled.params)
        except duckdb.InvalidInputException as exc:  # only an invalid user regex may fail
            assert compiled.regexes, exc


_names = st.sampled_from(["EventID", "host", "kind", "CommandLine", "Image", "a.b", "x_1", "Q@r-s"])
_values = st.one_of(
    st.integers(-10**6, 10**6).map(lambda n: Value(str(n), float(n))),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(Value),
)
_compare = st.one_of(
    st.builds(lambda n, op, v: Compare(n, op, (v,)), _names,
              st.sampled_from(["=", "!=", "<", "<=", ">", ">=", "contains", "startswith",
                               "endswith"]), _values),
    st.builds(lambda n, vs: Compare(n, "in", tuple(vs)), _names, st.lists(_values, min_size=1,
                                                                          max_size=4)),
    st.builds(lambda n: Compare(n, "exists"), _names),
)
_trees = st.recursive(_compare, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.builds(lambda xs: And(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
    st.builds(lambda xs: Or(tuple(xs)), st.lists(inner, min_size=2, max_size=3)),
), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_trees)
def test_rendered_queries_parse_back_to_the_same_tree(tree) -> None:
    assert parse_query(render(tree)) == tree  # groups are rendered in parentheses


def test_empty_and_star_are_everything() -> None:
    assert parse_query("") == Everything() and parse_query("  * ") == Everything()
    assert compile_query("*").where == "TRUE"
