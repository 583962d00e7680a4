"""Format 2 of the event store: the most searched fields in columns of their own. Searches must
give the same answers on files of format 2, on files written before it (JSON only) and on a
mix of both, and compaction must upgrade old files without losing or changing a record."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.store.events import EventStore, StoredEvent, layout
from hygie.store.events.query import FIELD_COLUMNS

BASE_COLUMNS = "record_key, received, time, host, source, kind, event_id, channel, fields, raw, raw_base64"
NOON = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def _event(number: int, fields: dict) -> StoredEvent:
    moment = NOON + timedelta(seconds=number)
    return StoredEvent("chu-a", f"k{number}", moment.timestamp(), moment.isoformat(), "ws1", "test",
                       "json", {"EventID": 1, **fields}, b"{}")


def _downgrade(root: Path) -> None:
    """Rewrite every file as a writer before format 2 did: no field columns, the old name."""
    con = duckdb.connect()
    for path in list(root.rglob("*.f2.parquet")):
        old = path.with_name(path.name.replace(".f2.parquet", ".parquet"))
        con.execute(f"COPY (SELECT {BASE_COLUMNS} FROM read_parquet(?)) TO ? (FORMAT parquet)",
                    [str(path), str(old)])
        path.unlink()
    con.close()


def _columns_of(path: Path) -> list[str]:
    con = duckdb.connect()
    try:
        return [row[0] for row in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()]
    finally:
        con.close()


VALUES = [
    "C:\\Windows\\System32\\vssadmin.exe delete shadows /all", "VSSADMIN", "10.0.0.5", "svc_backup",
    "", "é-accentué", 3, 0, 2.5, True, None, {"nested": "vssadmin"}, ["a", "10.1"],
]
QUERIES = [
    "CommandLine contains 'vssadmin'", "CommandLine = 'vssadmin'", "Image endswith '.exe'",
    "IpAddress startswith '10.'", "NOT IpAddress startswith '10.'", "LogonType = 3", "LogonType > 1",
    "User exists", "TargetUserName in ('svc_backup', 'admin')", "Hashes matches '^[a-z]'",
    "CommandLine contains 'nested'", "User != 'svc_backup'", "IpAddress = '10.0.0.5' OR LogonType = 0",
    "QueryName = ''", "ProcessName contains 'accentu'",
]


def _answers(store: EventStore) -> dict[str, tuple[list[str], int]]:
    out = {}
    for query in QUERIES:
        rows, total = store.search_count(["chu-a"], query, limit=500)
        out[query] = (sorted(r["record_key"] for r in rows), total)
    return out


@pytest.fixture
def events() -> list[StoredEvent]:
    fields = [dict(zip(FIELD_COLUMNS[i % 7::3], VALUES[i % len(VALUES):] + VALUES)) for i in range(60)]
    return [_event(number, f) for number, f in enumerate(fields)]


def test_new_files_hold_the_field_columns(tmp_path, events) -> None:
    store = EventStore(tmp_path)
    store.append(events)
    (path,) = list(tmp_path.rglob("*.parquet"))
    assert layout.has_field_columns(path)
    assert {f"field:{name}" for name in FIELD_COLUMNS} <= set(_columns_of(path))


def test_searches_answer_the_same_on_both_formats_and_on_a_mix(tmp_path, events) -> None:
    new, old, mixed = (EventStore(tmp_path / name) for name in ("new", "old", "mixed"))
    new.append(events)
    old.append(events)
    _downgrade(tmp_path / "old")
    mixed.append(events[:30])
    _downgrade(tmp_path / "mixed")
    mixed.append(events[30:])
    expected = _answers(new)
    assert expected["CommandLine contains 'vssadmin'"][1] > 0 and expected["LogonType = 3"][1] > 0
    assert _answers(old) == expected
    assert _answers(mixed) == expected
    assert new.search(["chu-a"], "CommandLine contains 'vssadmin'", limit=5) == \
        old.search(["chu-a"], "CommandLine contains 'vssadmin'", limit=5)


def test_compaction_upgrades_old_files_and_keeps_every_record(tmp_path, events) -> None:
    store = EventStore(tmp_path)
    store.append(events[:20])
    store.append(events[20:])
    _downgrade(tmp_path)
    before = _answers(store)
    store.compact(now=NOON + timedelta(days=2))
    (path,) = list(tmp_path.rglob("*.parquet"))
    assert layout.has_field_columns(path) and f"field:{FIELD_COLUMNS[0]}" in _columns_of(path)
    assert _answers(store) == before
    assert store.count(["chu-a"], "*") == len(events)


def test_a_lone_old_file_of_a_past_day_is_upgraded_and_todays_are_left_alone(tmp_path, events) -> None:
    store = EventStore(tmp_path)
    store.append(events)
    _downgrade(tmp_path)
    store.compact(now=NOON)  # the events' own day is today: nothing to do yet
    assert not any(layout.has_field_columns(p) for p in tmp_path.rglob("*.parquet"))
    store.compact(now=NOON + timedelta(days=1))
    assert all(layout.has_field_columns(p) for p in tmp_path.rglob("*.parquet"))


_text = st.text(alphabet="aB0.\\ é'_-%", max_size=6)
_value = st.one_of(_text, st.integers(-5, 5), st.booleans(), st.none(), st.lists(_text, max_size=2))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(st.dictionaries(st.sampled_from(FIELD_COLUMNS[:4]), _value, max_size=4), min_size=1, max_size=8),
       name=st.sampled_from(FIELD_COLUMNS[:4]), op=st.sampled_from(["=", "contains", "startswith", "endswith", "!="]),
       needle=_text)
def test_any_field_values_give_the_same_answer_from_columns_and_json(tmp_path_factory, values, name, op, needle) -> None:
    root = tmp_path_factory.mktemp("prop")
    store = EventStore(root / "new")
    store.append([_event(n, v) for n, v in enumerate(values)])
    shutil.copytree(root / "new", root / "old")
    _downgrade(root / "old")
    query = f"{name} {op} '{needle.replace(chr(39), chr(39) * 2)}'"
    assert store.count(["chu-a"], query) == EventStore(root / "old").count(["chu-a"], query), query
