"""The watched-folder collector on real files: the demo JSON lines, EVTX attack samples, gzip,
pretty-printed JSON; read once across restarts, resumed after a crash (an ``accept`` that
fails, and a process killed with SIGKILL), held back by ``Overloaded``, stopped on request."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import evtx
import orjson
import pytest

from hygie.core.errors import RecordError
from hygie.core.record import JSON, RawRecord
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import record_to_event
from hygie.sources.folder import FolderCollector, ScanReport
from hygie.sources.http_ingest import Overloaded
from tests.conftest import ATTACK_SAMPLES, REPO, require_corpora

DEMO = REPO / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
POLICY = PatientPolicy(b"s" * 32)


class Sink:
    """An ``accept`` that keeps what it is given; can refuse (Overloaded) or fail."""

    def __init__(self, overloaded: int = 0, fail_on_call: int = 0, keep_failed: bool = False) -> None:
        self.batches: list[list[RawRecord]] = []
        self.calls = 0
        self.overloaded = overloaded
        self.fail_on_call = fail_on_call
        self.keep_failed = keep_failed

    def __call__(self, records: list[RawRecord]) -> None:
        self.calls += 1
        if self.overloaded:
            self.overloaded -= 1
            raise Overloaded("spool full")
        if self.calls == self.fail_on_call:
            if self.keep_failed:  # committed, then the process died before the ledger knew
                self.batches.append(list(records))
            raise RuntimeError("the spool's disk went away")
        self.batches.append(list(records))

    @property
    def records(self) -> list[RawRecord]:
        return [record for batch in self.batches for record in batch]


def collector(folder: Path, sink: Sink, ledger: Path, **options: object) -> FolderCollector:
    options.setdefault("settle_s", 0.0)
    return FolderCollector(folder, "chu-a", sink, ledger, **options)  # type: ignore[arg-type]


def lines_of(data: bytes) -> list[bytes]:
    return [line.strip() for line in data.splitlines() if line.strip()]


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "drop"
    path.mkdir()
    return path


def test_demo_file_is_read_once_across_restarts(folder: Path, tmp_path: Path) -> None:
    shutil.copy(DEMO, folder / "hospital_morning.jsonl")
    ledger = tmp_path / "ledger.db"
    first = Sink()
    report = collector(folder, first, ledger, batch=100).scan_once()
    expected = lines_of(DEMO.read_bytes())
    assert (report.ingested, report.records) == (1, len(expected))
    assert [r.payload for r in first.records] == expected  # bad lines too: never dropped
    record = first.records[0]
    assert (record.tenant, record.source, record.kind, record.peer) == (
        "chu-a", "folder:hospital_morning.jsonl", JSON, None)
    assert len({r.received for r in first.records}) == 1
    assert abs(record.received - time.time()) < 60
    again = collector(folder, first, ledger).scan_once()  # a new process, the same ledger
    assert (again.ingested, again.already, len(first.records)) == (0, 1, len(expected))


def test_renamed_or_copied_file_is_not_read_again_replaced_file_is(folder: Path,
                                                                    tmp_path: Path) -> None:
    sink = Sink()
    watcher = collector(folder, sink, tmp_path / "ledger.db")
    (folder / "export.jsonl").write_bytes(b'{"EventID": 1}\n{"EventID": 2}\n')
    assert watcher.scan_once().records == 2
    (folder / "export.jsonl").rename(folder / "export-old.jsonl")
    (folder / "archive").mkdir()
    shutil.copy2(folder / "export-old.jsonl", folder / "archive" / "copy.jsonl")
    report = watcher.scan_once()
    assert (report.records, report.already) == (0, 2)
    fresh = folder / "incoming.part"  # written under a temporary name, then renamed
    fresh.write_bytes(b'{"EventID": 3}\n')
    assert watcher.scan_once().records == 0
    os.replace(fresh, folder / "export-old.jsonl")  # same name, other content
    report = watcher.scan_once()
    assert report.records == 1 and sink.records[-1].payload == b'{"EventID": 3}'
    assert sink.records[-1].source == "folder:export-old.jsonl"


def test_a_file_being_written_is_read_only_once_stable(folder: Path, tmp_path: Path) -> None:
    sink = Sink()
    watcher = collector(folder, sink, tmp_path / "ledger.db", settle_s=0.3)
    path = folder / "slow-copy.jsonl"
    lines = [orjson.dumps({"EventID": 4624, "n": i}) for i in range(300)]
    with open(path, "wb") as handle:
        for part in range(3):  # a copy in progress: the file grows between scans
            handle.writelines(line + b"\n" for line in lines[part * 100:(part + 1) * 100])
            handle.flush()
            report = watcher.scan_once()
            assert (report.waiting, report.records) == (1, 0)
            time.sleep(0.1)
    assert watcher.scan_once().records == 0  # unchanged, but not for settle_s yet
    time.sleep(0.35)
    report = watcher.scan_once()
    assert (report.ingested, report.records) == (1, 300)
    assert [r.payload for r in sink.records] == lines


def test_accept_failing_mid_file_resumes_after_the_last_accepted_batch(folder: Path,
                                                                       tmp_path: Path) -> None:
    shutil.copy(DEMO, folder / "morning.jsonl")
    expected = lines_of(DEMO.read_bytes())
    ledger = tmp_path / "ledger.db"
    crashed = Sink(fail_on_call=4, keep_failed=True)  # batch 4 committed, then a crash
    with pytest.raises(RuntimeError, match="disk"):
        collector(folder, crashed, ledger, batch=50).scan_once()
    assert len(crashed.records) == 200
    resumed = Sink()
    report = collector(folder, resumed, ledger, batch=50).scan_once()
    assert (report.resumed, report.ingested) == (1, 1)
    assert [r.payload for r in resumed.records] == expected[150:]  # batch 4 again, once
    both = crashed.records + resumed.records
    assert {r.payload for r in both} == set(expected) and len(both) == len(expected) + 50
    again = {r.payload: r.key() for r in resumed.records[:50]}
    assert again == {r.payload: r.key() for r in crashed.records[150:]}  # the pipeline dedupes


CHILD = """
import sys, time
from pathlib import Path
from hygie.sources.folder import FolderCollector

out = open(sys.argv[3], "ab")

def accept(records):
    for record in records:
        out.write(record.key().encode() + b"\\n")
    out.flush()
    time.sleep(0.02)

FolderCollector(Path(sys.argv[1]), "chu-a", accept, Path(sys.argv[2]), settle_s=0,
                batch=20).scan_once()
"""


def test_a_killed_process_resumes_without_losing_records(folder: Path, tmp_path: Path) -> None:
    lines = [orjson.dumps({"EventID": 4625, "n": i}) for i in range(2000)]
    (folder / "burst.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    ledger, keys = tmp_path / "ledger.db", tmp_path / "keys.txt"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder), str(ledger), str(keys)],
                             cwd=REPO)
    deadline = time.monotonic() + 20
    while (not keys.exists() or keys.stat().st_size < 5000) and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    written = keys.read_bytes()
    before = written[:written.rfind(b"\n") + 1].decode().split()  # whole lines only
    assert 0 < len(before) < len(lines), "the child was not killed mid-file"
    sink = Sink()
    report = collector(folder, sink, ledger, batch=20).scan_once()
    assert report.resumed == 1
    after = [r.key() for r in sink.records]
    assert len(set(before) | set(after)) == len(lines)
    assert len(before) + len(after) - len(lines) <= 20  # at most the batch in flight, again


def test_overloaded_pipeline_is_waited_out(folder: Path, tmp_path: Path) -> None:
    (folder / "a.jsonl").write_bytes(b'{"EventID": 1}\n' * 10)
    sink = Sink(overloaded=2)
    started = time.monotonic()
    report = collector(folder, sink, tmp_path / "ledger.db", batch=4).scan_once()
    assert (report.retries, report.records, len(sink.batches)) == (2, 10, 3)
    assert time.monotonic() - started >= 0.3  # 0.1 s then 0.25 s


def test_stop_interrupts_a_waiting_file_which_resumes_later(folder: Path,
                                                             tmp_path: Path) -> None:
    (folder / "a.jsonl").write_bytes(b'{"EventID": 1}\n' * 10)
    ledger = tmp_path / "ledger.db"
    blocked = Sink(overloaded=10_000)
    watcher = collector(folder, blocked, ledger, batch=4, poll_s=0.05)

    async def main() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5)
        return time.monotonic() - started

    assert asyncio.run(main()) < 1.0 and blocked.calls > 1 and not blocked.records
    watcher.close()
    sink = Sink()
    assert collector(folder, sink, ledger).scan_once().records == 10


def test_run_picks_up_files_dropped_while_it_runs(folder: Path, tmp_path: Path) -> None:
    sink = Sink()
    watcher = collector(folder, sink, tmp_path / "ledger.db", poll_s=0.05, settle_s=0.1)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(watcher.run(stop))
        await asyncio.sleep(0.1)
        (folder / "late.jsonl").write_bytes(b'{"EventID": 7}\n')
        for _ in range(100):
            if sink.records:
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(main())
    assert [r.payload for r in sink.records] == [b'{"EventID": 7}']


def test_gzip_and_pretty_printed_and_array_json(folder: Path, tmp_path: Path) -> None:
    (folder / "morning.jsonl.gz").write_bytes(gzip.compress(DEMO.read_bytes()))
    docs = [{"EventID": 4688, "CommandLine": "vssadmin delete shadows /all ¤"}, {"EventID": 1}]
    (folder / "pretty.json").write_text("\n".join(json.dumps(d, indent=2) for d in docs))
    (folder / "array.json").write_text(json.dumps(docs, ensure_ascii=False))
    sink = Sink()
    report = collector(folder, sink, tmp_path / "ledger.db").scan_once()
    assert report.ingested == 3
    by_file: dict[str, list[bytes]] = {}
    for record in sink.records:
        by_file.setdefault(record.source, []).append(record.payload)
    assert by_file["folder:morning.jsonl.gz"] == lines_of(DEMO.read_bytes())
    for name in ("pretty.json", "array.json"):
        assert [orjson.loads(p) for p in by_file[f"folder:{name}"]] == docs


def test_a_line_that_is_not_json_is_forwarded_and_quarantined_downstream(folder: Path,
                                                                        tmp_path: Path) -> None:
    (folder / "mixed.ndjson").write_bytes(b'{"EventID": 1}\n{"EventID": 2, "cut\n\xff\xfe\n'
                                          b'[1, 2]\n{"EventID": 3}\n')
    sink = Sink()
    collector(folder, sink, tmp_path / "ledger.db").scan_once()
    assert len(sink.records) == 5
    reasons = []
    for record in sink.records:
        try:
            record_to_event(RawRecord.from_bytes(record.to_bytes()), POLICY)
        except RecordError as exc:
            reasons.append(str(exc))
    assert len(reasons) == 3 and all(reasons)


def test_names_to_leave_alone_and_subfolders(folder: Path, tmp_path: Path) -> None:
    body = b'{"EventID": 1}\n'
    for name in ("a.json.tmp", "b.jsonl.partial", ".hidden.jsonl", "notes.txt", "~$lock.json",
                 "empty.jsonl"):
        (folder / name).write_bytes(b"" if name == "empty.jsonl" else body)
    (folder / ".snapshot").mkdir()
    (folder / ".snapshot" / "x.jsonl").write_bytes(body)
    (folder / "dc01" / "2026").mkdir(parents=True)
    (folder / "dc01" / "2026" / "security.jsonl").write_bytes(b'{"EventID": 4624}\n')
    outside = tmp_path / "secret.json"
    outside.write_bytes(b'{"password": "x"}\n')
    (folder / "link.json").symlink_to(outside)
    sink = Sink()
    report = collector(folder, sink, tmp_path / "ledger.db").scan_once()
    assert [r.source for r in sink.records] == ["folder:dc01/2026/security.jsonl"]
    assert report.ignored == 8 and report.problem_count == 0


def small_evtx(count: int) -> list[Path]:
    require_corpora()
    files = sorted(ATTACK_SAMPLES.rglob("*.evtx"), key=lambda p: (p.stat().st_size, str(p)))
    return files[:count]


def evtx_records(path: Path) -> list[str]:
    return [r["data"] for r in evtx.PyEvtxParser(str(path)).records_json()]


def test_evtx_records_are_all_forwarded_as_evtx_dump_json(folder: Path, tmp_path: Path) -> None:
    samples = small_evtx(3) + [ATTACK_SAMPLES / "AutomatedTestingTools"
                               / "PanacheSysmon_vs_AtomicRedTeam01.evtx"]
    for i, path in enumerate(samples):
        shutil.copy(path, folder / f"{i}-{path.name}")
    (folder / "packed.evtx.gz").write_bytes(gzip.compress(samples[-1].read_bytes()))
    sink = Sink()
    report = collector(folder, sink, tmp_path / "ledger.db", batch=64).scan_once()
    assert report.ingested == len(samples) + 1 and report.problem_count == 0
    for i, path in enumerate(samples):
        got = [r for r in sink.records if r.source == f"folder:{i}-{path.name}"]
        assert len(got) == len(evtx_records(path)) > 0
        assert all(r.kind == JSON and "Event" in orjson.loads(r.payload) for r in got)
    packed = [r for r in sink.records if r.source == "folder:packed.evtx.gz"]
    assert len(packed) == len(evtx_records(samples[-1]))
    event = record_to_event(packed[0], POLICY)
    assert event.host and event.fields.get("EventID") is not None


def test_a_corrupt_evtx_chunk_is_reported_and_the_rest_is_read(folder: Path,
                                                               tmp_path: Path) -> None:
    require_corpora()
    source = ATTACK_SAMPLES / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx"
    data = bytearray(source.read_bytes())
    for i in range(0x1000 + 65536 + 2000, 0x1000 + 65536 + 2600):  # inside the second chunk
        data[i] = 0x41
    (folder / "broken.evtx").write_bytes(bytes(data))
    sink = Sink()
    report: ScanReport = collector(folder, sink, tmp_path / "ledger.db").scan_once()
    assert report.problem_count >= 1 and "chunk" in report.problems[0].reason
    assert 0 < len(sink.records) < len(evtx_records(source))
    assert report.ingested == 1
