"""The event store on real files with real DuckDB: the demo hospital's Windows events appended,
searched and counted; tenants kept apart; duplicates shown once; retention by age and size; a
crash's leftovers ignored; readers undisturbed by compaction."""

from __future__ import annotations

import os

import threading
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import orjson
import pytest

from hygie.core.errors import RecordError
from hygie.core.record import JSON, RawRecord
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event
from hygie.store.events import EventStore, QueryError, StoredEvent

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
POLICY = PatientPolicy(b"s" * 32)
DEMO_DAY = date(2026, 11, 20)


def demo_events(tenant: str, day: date = DEMO_DAY, limit: int | None = None) -> list[StoredEvent]:
    """The demo data set's valid records as the pipeline would store them, moved to ``day``."""
    events = []
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp()
    for number, line in enumerate(DEMO.read_bytes().splitlines()):
        if day != DEMO_DAY:
            line = line.replace(DEMO_DAY.isoformat().encode(), day.isoformat().encode())
        # received after the morning's events, as a collector would have
        record = RawRecord(tenant, f"http:{tenant}", JSON, line, noon + number)
        try:
            event = record_to_event(record, POLICY)
        except RecordError:
            continue  # the demo's malformed lines
        events.append(StoredEvent(tenant, record.key(), record.received, event.time, event.host,
                                  record.source, record.kind, event.fields, record.payload))
        if limit is not None and len(events) == limit:
            break
    return events


def append_in_batches(store: EventStore, events: list[StoredEvent], size: int = 200) -> None:
    for start in range(0, len(events), size):
        store.append(events[start:start + size])


def parquet_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def chu_a() -> list[StoredEvent]:
    return demo_events("chu-a")


@pytest.fixture()
def store(tmp_path):
    store = EventStore(tmp_path / "events")
    yield store
    store.close()


def test_search_and_count_match_the_events(store, chu_a) -> None:
    append_in_batches(store, chu_a)
    assert store.count(["chu-a"], "*") == len(chu_a) == 1827
    expectations = {
        "EventID = 4625": lambda f: f.get("EventID") == 4625,
        "EventID = 4624 AND LogonType = 3": lambda f: f.get("EventID") == 4624
        and str(f.get("LogonType")) == "3",
        "CommandLine contains 'VSSADMIN'": lambda f: "vssadmin" in str(f.get("CommandLine", "")).lower(),
        "Image endswith '\\powershell.exe' AND NOT ParentImage endswith '\\explorer.exe'":
            lambda f: str(f.get("Image", "")).lower().endswith("\\powershell.exe")
            and not str(f.get("ParentImage", "")).lower().endswith("\\explorer.exe"),
        "EventID in (4720, 4728, 4732) OR Channel = system": lambda f: f.get("EventID") in
            (4720, 4728, 4732) or str(f.get("Channel", "")).lower() == "system",
        "TargetUserName matches '^svc-' AND IpAddress exists": lambda f: str(
            f.get("TargetUserName", "")).startswith("svc-") and "IpAddress" in f,
    }
    for query, predicate in expectations.items():
        expected = sorted(e.record_key for e in chu_a if predicate(e.fields))
        assert expected, query
        found = store.search(["chu-a"], query, limit=10_000)
        assert sorted(r["record_key"] for r in found) == expected, query
        assert store.count(["chu-a"], query) == len(expected), query


def test_search_results_are_newest_first_with_the_record_as_received(store, chu_a) -> None:
    append_in_batches(store, chu_a)
    by_key = {e.record_key: e for e in chu_a}
    host = "CHSA-SRV-FS01"
    rows = store.search(["chu-a"], f"EventID = 4624 AND host = '{host.lower()}'", limit=5)
    assert len(rows) == 5 and all(r["host"] == host and r["event_id"] == 4624 for r in rows)
    times = [r["time"] for r in rows]
    assert times == sorted(times, reverse=True)
    for row in rows:
        event = by_key[row["record_key"]]
        assert row["raw"].encode() == event.raw and row["raw_encoding"] == "utf-8"
        assert row["fields"] == orjson.loads(orjson.dumps(event.fields))
        assert row["tenant"] == "chu-a" and row["channel"] == "Security" and row["kind"] == "json"
    since = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    until = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
    window = store.search(["chu-a"], "*", since=since, until=until, limit=10_000)
    assert window and all("2026-11-20T09:" in r["time"] and r["time"] < "2026-11-20T09:30" for r in window)
    assert len(window) == store.count(["chu-a"], "", since=since, until=until)
    assert store.search(["chu-a"], "*", since=datetime(2030, 1, 1, tzinfo=timezone.utc)) == []


def test_bytes_that_are_not_utf8_come_back_in_base64(store) -> None:
    event = StoredEvent("chu-a", "k-bin", 1_790_000_000.0, None, "pacs01", "syslog:udp", "syslog",
                        {"message": "x"}, b"<34>\xff\xfe binary")
    store.append([event])
    (row,) = store.search(["chu-a"], "host = PACS01")
    assert row["raw_encoding"] == "base64" and row["time"] is None
    import base64

    assert base64.b64decode(row["raw"]) == event.raw
    assert row["received"].startswith("2026-09-21T")  # day partition from the receive time
    assert parquet_files(store.root)[0].parent.name == "day=2026-09-21"


def test_an_event_from_a_clock_years_ahead_is_filed_under_its_receive_day(store) -> None:
    event = StoredEvent("chu-a", "k-future", 1_790_000_000.0, "2099-01-01T00:00:00Z", "ws1",
                        "http:chu-a", "json", {"EventID": 4624}, b"{}")
    store.append([event])
    assert parquet_files(store.root)[0].parent.name == "day=2026-09-21"
    (row,) = store.search(["chu-a"], "time > 2098-01-01T00:00:00Z")
    assert row["time"].startswith("2099-01-01")  # the time itself is kept as sent
    received = datetime.fromtimestamp(1_790_000_000.0, timezone.utc)  # but --since uses this
    assert store.count(["chu-a"], "*", since=received - timedelta(hours=1),
                       until=received + timedelta(hours=1)) == 1
    assert store.count(["chu-a"], "*", since=datetime(2098, 1, 1, tzinfo=timezone.utc)) == 0


def test_a_tenant_never_sees_another_tenants_events(store, chu_a) -> None:
    append_in_batches(store, chu_a)
    chu_b = demo_events("chu-b", limit=50)
    store.append(chu_b)
    hostile = ["*", "host = 'x' OR 1=1", "host = 'x' OR NOT host = 'x'", "EventID > 0 OR NOT EventID > 0",
               "source contains chu-a", "record_key exists", "host = \"') OR TRUE --\""]
    mine = {e.record_key for e in chu_b}
    for query in hostile:
        rows = store.search(["chu-b"], query, limit=10_000)
        assert {r["tenant"] for r in rows} <= {"chu-b"}, query
        assert {r["record_key"] for r in rows} <= mine, query
        assert store.count(["chu-b"], query) <= len(chu_b), query
    with pytest.raises(QueryError, match="tenant"):
        store.search(["chu-b"], "tenant = 'chu-a'")
    assert store.search([], "*") == [] and store.count([], "*") == 0
    # chu-a's files are never opened for chu-b: a corrupt one there does not disturb chu-b
    broken = parquet_files(store.root / "tenant=chu-a")[0].parent / "part-1-deadbeef.parquet"
    broken.write_bytes(b"not parquet")
    assert store.count(["chu-b"], "*") == len(chu_b)
    with pytest.raises(duckdb.Error):
        store.count(["chu-a"], "*")


def test_tenant_ids_cannot_escape_the_store(store, tmp_path) -> None:
    tenants = ["../../outside", "CHU-A", "chu-a", "é/x", ".."]
    for tenant in tenants:
        store.append([StoredEvent(tenant, f"key-{tenant}", 1_790_000_000.0, None, "h", "s",
                                  "json", {"t": tenant}, b"{}")])
    files = parquet_files(tmp_path)
    assert len(files) == len(tenants) and all(store.root in f.parents for f in files)
    assert sorted(store.tenants()) == sorted(tenants)
    for tenant in tenants:
        (row,) = store.search([tenant], "*")
        assert row["tenant"] == tenant and row["fields"] == {"t": tenant}


def test_a_record_appended_twice_is_found_once_before_and_after_compaction(store, chu_a) -> None:
    first, second = chu_a[:600], chu_a[400:900]  # 200 records delivered twice
    append_in_batches(store, first, 100)
    append_in_batches(store, second, 100)
    store.append(chu_a[:10])  # and the same records again in one more file
    distinct = {e.record_key for e in chu_a[:900]}
    assert store.count(["chu-a"], "*") == len(distinct)
    keys = [r["record_key"] for r in store.search(["chu-a"], "*", limit=10_000)]
    assert len(keys) == len(set(keys)) == len(distinct)
    report = store.compact(now=datetime(2026, 11, 21, tzinfo=timezone.utc))  # a past day
    assert (report.partitions, report.files_merged) == (1, 12)
    assert report.duplicates_dropped == 210
    (merged,) = parquet_files(store.root)
    on_disk = duckdb.connect().execute(
        "SELECT count(*), count(DISTINCT record_key) FROM read_parquet(?)", [str(merged)]).fetchall()[0]
    assert on_disk == (len(distinct), len(distinct))
    assert store.count(["chu-a"], "*") == len(distinct)
    assert store.compact(now=datetime(2026, 11, 21, tzinfo=timezone.utc)).partitions == 0


def test_todays_partition_is_compacted_once_it_has_many_small_files(tmp_path, chu_a) -> None:
    store = EventStore(tmp_path / "events", compact_files=4)
    append_in_batches(store, chu_a[:400], 100)
    now = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    assert store.compact(now=now).partitions == 0  # 4 files: not yet
    store.append(chu_a[400:500])
    assert store.compact(now=now).files_merged == 5
    assert len(parquet_files(store.root)) == 1 and store.count(["chu-a"], "") == 500
    # merges ran on their own one-thread database (so on the maintenance thread alone), while
    # searches keep DuckDB's default of one thread per core
    assert store._merge_db is not None
    assert store._merge_db.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert store._db is not None
    assert store._db.execute("SELECT current_setting('threads')").fetchone()[0] == os.cpu_count()
    store.close()


def _days_store(root: Path, days: list[date], tenants=("chu-a", "chu-b"), **options) -> EventStore:
    """Days of events, each day's files dated as if written that day (as a live store's are)."""
    store = EventStore(root, **options)
    for day in days:
        for tenant in tenants:
            store.append(demo_events(tenant, day, limit=100))
        written = datetime(day.year, day.month, day.day, 12, tzinfo=timezone.utc).timestamp()
        for path in root.glob(f"tenant=*/day={day.isoformat()}/*.parquet"):
            os.utime(path, (written, written))
    return store


def test_old_events_received_recently_outlive_their_day(tmp_path) -> None:
    """A backfill (or a wrong clock) dates events long ago: retention keeps them for
    ``retention_days`` after they were received, not after the day they claim."""
    store = EventStore(tmp_path / "events", retention_days=90)
    old_day = date(2025, 1, 15)
    store.append(demo_events("chu-a", old_day, limit=10))
    report = store.enforce_retention()
    assert report.removed == [] and store.count(["chu-a"], "*") == 10
    later = datetime.now(timezone.utc) + timedelta(days=91)
    assert {p.day for p in store.enforce_retention(now=later).removed} == {old_day}
    store.close()


def test_retention_removes_days_older_than_the_limit(tmp_path) -> None:
    today = date(2026, 11, 23)
    days = [today - timedelta(days=n) for n in (120, 91, 90, 10, 0)]
    store = _days_store(tmp_path / "events", days, retention_days=90)
    report = store.enforce_retention(now=datetime(2026, 11, 23, 15, tzinfo=timezone.utc))
    gone = sorted({(p.day, p.reason) for p in report.removed})
    assert gone == [(days[0], "age"), (days[1], "age")]
    assert {p.tenant for p in report.removed} == {"chu-a", "chu-b"}
    assert report.removed_files == 4 and report.removed_bytes > 0 and not report.over_limit
    assert report.remaining_bytes == store.size_bytes()
    left = {r["time"][:10] for r in store.search(["chu-a", "chu-b"], "*", limit=10_000)}
    assert left == {d.isoformat() for d in days[2:]}
    assert not (store.root / "tenant=chu-a" / f"day={days[0].isoformat()}").exists()
    assert store.enforce_retention(now=datetime(2026, 11, 23, tzinfo=timezone.utc)).removed == []
    store.close()


def test_retention_by_size_removes_the_oldest_days_first_never_today(tmp_path) -> None:
    today = date(2026, 11, 23)
    days = [today - timedelta(days=n) for n in (3, 2, 1, 0)]
    probe = _days_store(tmp_path / "probe", [today])
    per_day = probe.size_bytes()
    probe.close()
    store = _days_store(tmp_path / "events", days, max_bytes=int(per_day * 2.5))
    report = store.enforce_retention(now=datetime(2026, 11, 23, 15, tzinfo=timezone.utc))
    assert sorted({p.day for p in report.removed}) == days[:2]
    assert {p.reason for p in report.removed} == {"size"} and len(report.removed) == 4
    assert report.remaining_bytes <= per_day * 2.5 and not report.over_limit
    tiny = EventStore(store.root, max_bytes=1)
    squeezed = tiny.enforce_retention(now=datetime(2026, 11, 23, 15, tzinfo=timezone.utc))
    assert [p.day for p in squeezed.removed] == [days[2], days[2]] and squeezed.over_limit
    assert {r["time"][:10] for r in tiny.search(["chu-a", "chu-b"], "*", limit=1000)} == {"2026-11-23"}
    tiny.close()
    store.close()


def test_a_crash_mid_write_leaves_only_a_temporary_file_that_is_ignored_then_removed(tmp_path, chu_a) -> None:
    root = tmp_path / "events"
    store = EventStore(root)
    store.append(chu_a[:100])
    folder = parquet_files(root)[0].parent
    dead = folder / ".tmp-999999999-0123abcd.parquet"  # a writer that died mid-write
    dead.write_bytes(b"PAR1 half a file")
    assert store.count(["chu-a"], "*") == 100
    reader = EventStore(root, read_only=True)  # 'hygie search' beside the service: removes nothing
    assert reader.count(["chu-a"], "*") == 100 and dead.exists()
    with pytest.raises(PermissionError):
        reader.append(chu_a[:1])
    reader.close()
    store.close()
    EventStore(root).close()  # the next writer cleans up
    assert not dead.exists() and len(parquet_files(root)) == 1


def test_a_reader_never_sees_a_record_twice_or_misses_one_during_compaction(tmp_path, chu_a) -> None:
    store = EventStore(tmp_path / "events", compact_files=1)
    events = chu_a[:1000]
    append_in_batches(store, events, 50)
    expected = {e.record_key for e in events}
    reader = EventStore(store.root, read_only=True)
    stop = threading.Event()
    seen: list[tuple[int, int, int]] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set() and len(seen) < 2000:
                keys = [r["record_key"] for r in reader.search(["chu-a"], "*", limit=5000)]
                seen.append((len(keys), len(set(keys)), reader.count(["chu-a"], "*")))
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_number in range(8):  # duplicates arrive, then compaction merges them away
            append_in_batches(store, events[round_number * 100:round_number * 100 + 300], 50)
            report = store.compact(now=datetime(2026, 11, 20, 12, tzinfo=timezone.utc))
            assert report.partitions == 1
    finally:
        stop.set()
        thread.join(60)
    assert not failures, failures
    assert len(seen) >= 8
    assert all(row == (len(expected), len(expected), len(expected)) for row in seen), \
        [row for row in seen if row != (len(expected),) * 3][:5]
    reader.close()
    store.close()


def test_appends_while_compaction_runs_lose_nothing(tmp_path, chu_a) -> None:
    """The service compacts on its own thread while detection appends: every appended record
    must be there afterwards, once."""
    store = EventStore(tmp_path / "events", compact_files=2)
    batches = [chu_a[start:start + 50] for start in range(0, len(chu_a), 50)]
    store.append(batches[0])
    store.append(batches[1])
    store.append(batches[2])
    done = threading.Event()

    def compact_again_and_again() -> None:
        for _ in range(200):  # bounded
            if done.is_set():
                return
            store.compact()

    compactor = threading.Thread(target=compact_again_and_again)
    compactor.start()
    for batch in batches[3:]:
        store.append(batch)
    done.set()
    compactor.join(60)
    store.compact()
    keys = {event.record_key for event in chu_a}
    found = store.search(["chu-a"], "*", limit=len(chu_a) + 10)
    assert len(found) == len(keys) and {row["record_key"] for row in found} == keys
    assert store.count(["chu-a"], "*") == len(keys)
    store.close()
