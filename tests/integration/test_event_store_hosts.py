"""``EventStore.hosts_seen``: the hosts of one tenant's events in a period, newest first, with the
newest value of the fields asked for (flat dotted keys and nested objects alike), a record
stored twice counted once, files of both formats, a cap with the total, and only the files
written since a moment when asked."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from hygie.store.events import EventStore, StoredEvent

NOON = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
FIELDS = ["host.os.name", "OSVersion", "host.ip"]


def _event(tenant: str, key: str, host: str | None, minutes: int, fields: dict) -> StoredEvent:
    moment = NOON + timedelta(minutes=minutes)
    return StoredEvent(tenant, key, moment.timestamp(), moment.isoformat(), host, "test", "json", fields, b"{}")


@pytest.fixture
def store(tmp_path):
    events = EventStore(tmp_path / "events")
    events.append([
        _event("chu-a", "k1", "PACS01", 0, {"OSVersion": "10.0.1"}),
        _event("chu-a", "k2", "pacs01", 30, {"OSVersion": "10.0.2", "host": {"os": {"name": "Windows"}}}),
        _event("chu-a", "k3", "pacs01", 40, {"EventID": 1}),  # newer, but says nothing: 10.0.2 stays
        _event("chu-a", "k4", "ws1", 10, {"host.os.name": "Ubuntu", "host.ip": "10.0.0.5"}),
        _event("chu-a", "k5", None, 50, {"OSVersion": "x"}),  # no host: not a host
        _event("chu-a", "k6", "  ", 50, {}),
        _event("chu-a", "k7", "old", -3 * 24 * 60, {}),
        _event("chu-b", "k8", "other", 5, {"OSVersion": "9"}),
    ])
    events.append([_event("chu-a", "k4", "ws1", 10, {"host.os.name": "Ubuntu", "host.ip": "10.0.0.5"})])  # again
    yield events
    events.close()


def test_hosts_newest_first_with_their_fields_and_the_period(store) -> None:
    hosts, total = store.hosts_seen("chu-a", NOON - timedelta(hours=1), NOON + timedelta(hours=1), FIELDS)
    assert total == 2 and [h.host for h in hosts] == ["pacs01", "ws1"]  # grouped without case
    pacs, ws = hosts
    assert (pacs.first_seen, pacs.last_seen) == (NOON, NOON + timedelta(minutes=40))
    assert pacs.fields == {"host.os.name": "Windows", "OSVersion": "10.0.2"}
    assert ws.fields == {"host.os.name": "Ubuntu", "host.ip": "10.0.0.5"}
    assert [h.host for h in store.hosts_seen("chu-a", NOON - timedelta(days=4), NOON, [])[0]] == ["old"]
    assert [h.host for h in store.hosts_seen("chu-b", NOON - timedelta(days=4), NOON + timedelta(days=1))[0]] == [
        "other"]
    assert store.hosts_seen("nowhere", NOON - timedelta(days=4), NOON + timedelta(days=1)) == ([], 0)


def test_the_cap_keeps_the_most_recent_and_says_how_many_there_were(store) -> None:
    hosts, total = store.hosts_seen("chu-a", NOON - timedelta(days=4), NOON + timedelta(days=1), limit=1)
    assert [h.host for h in hosts] == ["pacs01"] and total == 3


def test_only_files_written_since(store, tmp_path) -> None:
    since = time.time() + 60
    assert store.hosts_seen("chu-a", NOON - timedelta(days=4), NOON + timedelta(days=1), written_since=since) == ([], 0)
    for path in (tmp_path / "events").rglob("*.parquet"):
        if "day=2026-11-17" in str(path):  # the old day's file: as if written a minute from now
            os.utime(path, (since + 1, since + 1))
    hosts, total = store.hosts_seen("chu-a", NOON - timedelta(days=4), NOON + timedelta(days=1), written_since=since)
    assert [h.host for h in hosts] == ["old"] and total == 1


def test_files_of_format_1_are_read_too(store, tmp_path) -> None:
    con = duckdb.connect()
    for path in list((tmp_path / "events").rglob("*.f2.parquet")):
        old = path.with_name(path.name.replace(".f2.parquet", ".parquet"))
        con.execute("COPY (SELECT record_key, received, time, host, source, kind, event_id, channel, fields, raw, "
                    "raw_base64 FROM read_parquet(?)) TO ? (FORMAT parquet)", [str(path), str(old)])
        path.unlink()
    con.close()
    hosts, _total = store.hosts_seen("chu-a", NOON - timedelta(hours=1), NOON + timedelta(hours=1), FIELDS)
    assert [(h.host, h.fields.get("OSVersion")) for h in hosts] == [("pacs01", "10.0.2"), ("ws1", None)]


def test_a_field_name_that_is_no_name_is_refused(store) -> None:
    with pytest.raises(ValueError, match="not a field name"):
        store.hosts_seen("chu-a", NOON, NOON + timedelta(hours=1), ["a'); DROP TABLE x; --"])
