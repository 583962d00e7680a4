"""Benchmark of the event store: append rate and search latency, before and after compaction.

Run: ``.venv/bin/python benchmarks/event_store.py [--events 100000]``. The demo hospital's
Windows events are repeated (each copy with its own record keys and receive times) up to
``--events``, appended in batches of 500 as the service does, searched, compacted, searched
again. Times are wall-clock on whatever else the machine is doing: the best of 3 per query.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from hygie.core.errors import RecordError  # noqa: E402
from hygie.core.record import JSON, RawRecord  # noqa: E402
from hygie.normalize.healthcare import PatientPolicy  # noqa: E402
from hygie.normalize.records import record_to_event  # noqa: E402
from hygie.store.events import EventStore, StoredEvent  # noqa: E402

DEMO = REPO / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
QUERIES = ["EventID = 4625 AND host = chsa-srv-rds01", "CommandLine contains vssadmin", "*",
           "TargetUserName matches '^svc-' AND LogonType = 3"]


def demo_events() -> list[StoredEvent]:
    received = datetime(2026, 11, 20, 12, tzinfo=timezone.utc).timestamp()
    events = []
    for number, line in enumerate(DEMO.read_bytes().splitlines()):
        record = RawRecord("chu-a", "http:chu-a", JSON, line, received + number)
        try:
            event = record_to_event(record, PatientPolicy(b"b" * 32))
        except RecordError:
            continue
        events.append(StoredEvent("chu-a", record.key(), record.received, event.time, event.host,
                                  record.source, record.kind, event.fields, record.payload))
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    base = demo_events()
    events: list[StoredEvent] = []
    copy = 0
    while len(events) < args.events:
        events += [dataclasses.replace(e, record_key=f"{e.record_key}-{copy}",
                                       received=e.received + copy * 10) for e in base]
        copy += 1
    events = events[:args.events]
    with tempfile.TemporaryDirectory() as folder:
        store = EventStore(Path(folder) / "events")
        started = time.perf_counter()
        for start in range(0, len(events), 500):
            store.append(events[start:start + 500])
        elapsed = time.perf_counter() - started
        files = len(list(store.root.rglob("*.parquet")))
        print(f"append: {len(events):,} events in {elapsed:.2f} s = {len(events) / elapsed:,.0f} "
              f"events/s, {files} files, {store.size_bytes() / 1e6:.1f} MB")
        _searches(store, f"{files} files")
        started = time.perf_counter()
        report = store.compact(now=datetime(2026, 11, 20, tzinfo=timezone.utc) + timedelta(days=1))
        print(f"compaction: {report.files_merged} files merged in "
              f"{time.perf_counter() - started:.2f} s")
        _searches(store, "compacted")
        store.close()


def _searches(store: EventStore, label: str) -> None:
    for query in QUERIES:
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            rows = store.search(["chu-a"], query, limit=100)
            timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        total = store.count(["chu-a"], query)
        counted = time.perf_counter() - started
        print(f"{label}: {query!r}: newest {len(rows)} in {min(timings) * 1000:.0f} ms, "
              f"count {total:,} in {counted * 1000:.0f} ms")


if __name__ == "__main__":
    main()
