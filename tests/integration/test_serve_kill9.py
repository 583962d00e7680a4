"""Kill -9 ``hygie serve`` in the middle of a sustained ingest, restart it, and check that
nothing accepted was lost or counted twice: every record whose batch got a 200 is in the
event store, no record is there twice unless its batch was sent twice (the one batch in
flight when the process died, which the sender could not know was taken), and the alerts
count each stored record exactly once.

The service is a real process (``hygie serve``), killed with SIGKILL: no clean-up runs."""

from __future__ import annotations

import collections
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from hygie.core.record import JSON, RawRecord
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage

BIN = Path(sys.executable).parent
DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
BATCH = 40


def _records(copies: int) -> list[bytes]:
    """The demo data set ``copies`` times, each record made unique by a sequence number."""
    out = []
    lines = [line for line in DEMO.read_bytes().splitlines() if line.startswith(b"{")]
    for copy in range(copies):
        for line in lines:
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # the demo holds one cut line on purpose
            doc["HygieTestSeq"] = len(out)
            doc["Hostname"] = f"{doc.get('Hostname', 'pc')}-{copy}"
            out.append(orjson.dumps(doc))
    return out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(data: Path, port: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [str(BIN / "hygie"), "serve", "--data-dir", str(data), "--tenant", "chu-a",
         "--http", f"127.0.0.1:{port}", "--console", "off"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if re.search(r"POST http://127\.0\.0\.1:\d+/ingest", line):
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return process
        if not line and process.poll() is not None:
            break
    raise AssertionError("hygie serve did not start")


class Sender(threading.Thread):
    """Posts the records in batches, as a shipper does: a batch without an answer is sent
    again until it gets one (bounded: two minutes)."""

    def __init__(self, url: str, token: str, records: list[bytes]) -> None:
        super().__init__(daemon=True)
        self.url, self.token, self.records = url, token, records
        self.accepted: list[int] = []  # sequence numbers whose batch got a 200
        self.resent: set[int] = set()  # sequence numbers of batches sent more than once
        self.position = 0

    def run(self) -> None:
        deadline = time.monotonic() + 120
        with httpx.Client(timeout=10) as client:
            for start in range(0, len(self.records), BATCH):
                batch = self.records[start:start + BATCH]
                tries = 0
                while time.monotonic() < deadline:
                    tries += 1
                    try:
                        answer = client.post(self.url, content=b"\n".join(batch),
                                             headers={"Authorization": f"Bearer {self.token}"})
                    except httpx.TransportError:
                        time.sleep(0.1)
                        continue
                    if answer.status_code == 200:
                        break
                    time.sleep(0.1)
                else:
                    return
                assert answer.json()["accepted"] == len(batch)
                if tries > 1:
                    self.resent.update(range(start, start + len(batch)))
                self.accepted.extend(range(start, start + len(batch)))
                self.position = start + len(batch)


def _through_detection(url: str) -> float:
    text = httpx.get(url, timeout=10).text
    found = re.search(r"^hygie_bus_depth ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else -1


def test_kill_9_mid_ingest_loses_nothing_and_counts_nothing_twice(tmp_path) -> None:
    records = _records(3)
    data, port = tmp_path / "data", _free_port()
    token = subprocess.run([str(BIN / "hygie"), "token", "chu-a", "--data-dir", str(data)],
                           capture_output=True, text=True, check=True).stdout.strip()
    url = f"http://127.0.0.1:{port}"
    first = _serve(data, port)
    sender = Sender(url + "/ingest", token, records)
    sender.start()
    deadline = time.monotonic() + 60
    while sender.position < len(records) * 0.4 and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)  # mid-ingest, mid-detection: no clean-up at all
    first.wait(10)
    killed_at = sender.position
    assert 0 < killed_at < len(records), "the kill did not land mid-ingest"
    second = _serve(data, port)
    try:
        sender.join(150)
        assert not sender.is_alive() and len(sender.accepted) == len(records)
        deadline = time.monotonic() + 60
        while _through_detection(url + "/metrics") != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _through_detection(url + "/metrics") == 0
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)

    from hygie.store.events import EventStore
    from hygie.store.state.db import open_database, sqlite_dsn
    from hygie.store.state.models import AlertRow
    from hygie.store.state.store import StateStore

    events = EventStore(data / "events", read_only=True)
    stored = events.search(["chu-a"], "*", limit=len(records) * 3)
    by_seq = collections.Counter(row["fields"]["HygieTestSeq"] for row in stored)
    assert set(by_seq) == set(range(len(records)))  # every accepted record is there
    twice = {seq for seq, count in by_seq.items() if count > 1}
    assert twice <= sender.resent and len(twice) <= BATCH  # only the batch in flight
    assert all(count <= 2 for count in by_seq.values())
    print(f"killed after {killed_at} of {len(records)} records; {len(sender.resent)} resent, "
          f"{len(twice)} stored twice")

    # the alerts: what a fresh detection of the stored records gives, each exactly once
    engine_stage = DetectionStage(_pack_engine(), PatientPolicy((data / "patient.salt").read_bytes()))
    expected: collections.Counter[tuple[str, str]] = collections.Counter()
    for number, row in enumerate(stored):
        record = RawRecord("chu-a", "http:chu-a", JSON, row["raw"].encode(), float(number))
        for result in engine_stage.process([record]):
            for alert in result.alerts:
                if alert.kind != "correlation":
                    expected[(alert.rule_id, alert.host or "")] += 1
    state = StateStore(open_database(sqlite_dsn(data / "state.db")))
    rows: list[AlertRow] = state.alerts(["chu-a"], limit=100_000)
    got: collections.Counter[tuple[str, str]] = collections.Counter()
    for row in rows:
        if row.kind != "correlation":
            got[(row.rule_id, row.host or "")] += row.count
    assert expected and got == expected
    state.engine.dispose()


def _pack_engine():
    from hygie.detect.engine import Engine

    return Engine.from_paths([], include_packs=True)
