"""``hygie search`` end to end through the real CLI (Typer's runner) on a store filled with the
demo hospital's events: formats, tenants, --since, and clean errors (exit 2, no traceback)."""

from __future__ import annotations

import csv
import io
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.cli.search import parse_moment
from hygie.store.events import EventStore, StoredEvent
from tests.integration.test_event_store import demo_events

runner = CliRunner()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    store = EventStore(folder / "events")
    store.append(demo_events("chu-a"))
    store.append(demo_events("chu-b", limit=20))
    now = datetime.now(timezone.utc)
    recent = [StoredEvent("chu-a", f"recent-{hours}", time.time(),
                          (now - timedelta(hours=hours)).isoformat(), "CHSA-WS-URG-014", "http:chu-a",
                          "json", {"EventID": 4625, "TargetUserName": f"nurse{hours}",
                                   "IpAddress": "10.10.9.9"}, b"{}") for hours in (1, 3)]
    store.append(recent)
    store.close()
    return folder


def search(data_dir, *args: str):
    return runner.invoke(app, ["search", *args, "--data-dir", str(data_dir)])


def test_table_of_failed_logons(data_dir) -> None:
    result = search(data_dir, "EventID = 4625 AND TargetUserName startswith nurse", "--tenant", "chu-a")
    assert result.exit_code == 0, result.output
    assert "2 events match in chu-a" in result.output
    assert "nurse1" in result.output and "nurse3" in result.output and "4625" in result.output
    assert result.output.index("nurse1") < result.output.index("nurse3")  # newest first


def test_since_keeps_the_recent_events_only(data_dir) -> None:
    result = search(data_dir, "EventID = 4625", "--since", "2h", "--format", "jsonl")
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [r["fields"]["TargetUserName"] for r in rows] == ["nurse1"]
    older = search(data_dir, "EventID = 4625", "--since", "4h", "--until", "2h", "--format", "jsonl")
    assert [orjson.loads(x)["record_key"] for x in older.stdout.splitlines()] == ["recent-3"]


def test_jsonl_and_csv_formats_and_tenants(data_dir) -> None:
    result = search(data_dir, "*", "--tenant", "chu-b", "--format", "jsonl", "--limit", "1000")
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 20 and {r["tenant"] for r in rows} == {"chu-b"}
    every = search(data_dir, "CommandLine contains vssadmin", "--format", "csv", "--limit", "1000")
    table = list(csv.DictReader(io.StringIO(every.stdout)))
    assert table and {r["tenant"] for r in table} <= {"chu-a", "chu-b"}
    assert all("vssadmin" in orjson.loads(r["fields"])["CommandLine"].lower() for r in table)
    both = search(data_dir, "EventID = 4625", "--limit", "3")  # default: every stored tenant
    assert both.exit_code == 0 and "chu-a, chu-b" in both.output and "(newest 3)" in both.output


def test_a_bad_query_exits_2_saying_where(data_dir) -> None:
    result = search(data_dir, "EventID = 4625 AND (host = dc01")
    assert result.exit_code == 2
    assert "never closed" in result.output and "at character 20" in result.output
    assert "Traceback" not in result.output
    regex = search(data_dir, "CommandLine matches '(unclosed'")
    assert regex.exit_code == 2 and "invalid regular expression" in regex.output


def test_a_bad_time_exits_2(data_dir) -> None:
    result = search(data_dir, "*", "--since", "yesterday")
    assert result.exit_code == 2 and "neither a duration" in result.output
    assert "Traceback" not in result.output


def test_an_empty_data_dir_finds_nothing(tmp_path) -> None:
    result = search(tmp_path, "*")
    assert result.exit_code == 0 and "0 events match" in result.output
    assert not (tmp_path / "events").exists()  # a search creates nothing


def test_moments() -> None:
    now = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    assert parse_moment("2h", now) == now - timedelta(hours=2)
    assert parse_moment("30m", now) == now - timedelta(minutes=30)
    assert parse_moment("7d", now) == now - timedelta(days=7)
    assert parse_moment("2026-11-20T08:00:00+01:00") == datetime(2026, 11, 20, 7, tzinfo=timezone.utc)
