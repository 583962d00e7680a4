"""The watched-folder collector: EVTX and JSON files that a backup or export job drops in a
folder, each read once, and remembered across restarts and crashes.

What is read: the files ``hygie hunt`` reads in a folder (``.evtx``; ``.json``, ``.jsonl``,
``.ndjson``, ``.log``, ``.gz``), subfolders included, with the hunt's readers (gzip by magic
bytes; JSON lines, concatenated or array JSON; EVTX with corrupt chunks skipped and reported).
Hidden files and folders, temporary names (``*.tmp``, ``*.partial``, ``*.part``...) and
symbolic links are left alone: a link could make the collector read, and quarantine, a file
the job never meant to hand over. Files are left in place (the job that wrote them owns them).

When a file counts as complete: once its size, modification time and inode have not changed
for ``settle_s`` seconds, so a file still being copied is not read half. A job can also write
under a temporary or hidden name and rename when done, which is the sure way.

Records: a JSON-lines line is one record, its raw bytes the payload, JSON or not (a bad line
is quarantined downstream with its reason, never lost); a concatenated or array document is
one record; an EVTX record is one ``json`` record whose payload is pyevtx-rs' evtx_dump JSON.
Every record of a file carries the tenant, the source ``folder:<path under the folder>`` (or
``<source>:<path>``), no peer, and as receive time the moment the file's ingestion began.

What is remembered, and where: a SQLite ledger (``ledger_path``; WAL, ``synchronous=FULL``)
with one row per file, keyed by tenant and content fingerprint: the size and a BLAKE2b hash
of the first and last 64 KiB (the whole file when it is smaller). So a file renamed, moved or
copied elsewhere in the folder is not read again; a file replaced by another of the same name
is (its bytes differ). Device, inode, size and mtime are kept too, only to skip re-hashing an
unchanged file. A log that is appended to and settles again is a new file to the ledger and is
read again in full: the folder is meant for complete exports. The row also holds the source
and the receive time stamped on the file's records, and how many records ``accept`` took.

Crashes: progress is written after each batch ``accept`` returned, so a crash mid-file resumes
after the last accepted batch; the batch in flight may be sent twice, with identical records
(same source, receive time and payload, hence the same ``RawRecord.key()``), which the
stores count once. When ``accept`` raises ``Overloaded`` the same batch is retried after a
bounded backoff, for as long as it takes: nothing is dropped. A stop request interrupts a file
between batches; it resumes on the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import sqlite3
import stat as stat_module
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from hygie.core.event import InputProblem
from hygie.core.record import JSON, RawRecord
from hygie.sources.evtx_file import read_evtx_gz_json, read_evtx_json
from hygie.sources.files import is_log_file_name, kind_of
from hygie.sources.http_ingest import Accept, Overloaded
from hygie.sources.json_file import read_json_raw

log = logging.getLogger("hygie.sources.folder")

SAMPLE = 64 * 1024  # bytes hashed at each end of a file for its fingerprint
IGNORED_SUFFIXES = (".tmp", ".partial", ".part", ".crdownload", ".swp", "~")
BACKOFF_S = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0)  # waits while the pipeline is overloaded
PROBLEMS_LOGGED_PER_FILE = 10
PROBLEMS_KEPT = 100

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    tenant TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    path TEXT NOT NULL,          -- under the watched folder, when first read
    source TEXT NOT NULL,        -- stamped on its records, kept for a resumed read
    received REAL NOT NULL,      -- likewise: the same records get the same keys
    device INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,   -- records accept() took: where a resume starts
    problems INTEGER NOT NULL DEFAULT 0,  -- corrupt EVTX chunks, oversize lines...
    finished REAL,                        -- NULL while the file is partly read
    PRIMARY KEY (tenant, fingerprint)
);
CREATE INDEX IF NOT EXISTS files_by_stat ON files (tenant, device, inode, size, mtime_ns);
"""


@dataclass(frozen=True, slots=True)
class _Stat:
    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> _Stat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(slots=True)
class _Entry:
    fingerprint: str
    source: str
    received: float
    records: int
    finished: bool


@dataclass(slots=True)
class ScanReport:
    """What one scan did (for logs, metrics and tests)."""

    files: int = 0  # candidate files seen
    waiting: int = 0  # not yet stable: being written, or seen for less than settle_s
    ingested: int = 0  # read to the end in this scan
    resumed: int = 0  # of those, continued after an interruption or a crash
    already: int = 0  # read before (same content): skipped
    ignored: int = 0  # hidden, temporary, symbolic links, other file types
    interrupted: int = 0  # left mid-way because a stop was asked (resumes later)
    records: int = 0  # records accept() took
    retries: int = 0  # Overloaded answers waited out
    problem_count: int = 0  # corrupt EVTX chunks, unreadable files, oversize lines
    problems: list[InputProblem] = field(default_factory=list)  # the first PROBLEMS_KEPT

    def report(self, problem: InputProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < PROBLEMS_KEPT:
            self.problems.append(problem)


class _Stopped(Exception):
    """A stop was asked while a file was being read."""


def file_fingerprint(path: Path, size: int) -> str:
    """Size plus BLAKE2b of the first and last ``SAMPLE`` bytes: cheap on a 20 GB export, and
    different for any two files a job would write (an EVTX header holds the last record id,
    a log's tail its latest events)."""
    digest = hashlib.blake2b(str(size).encode() + b"\0", digest_size=20)
    with open(path, "rb") as handle:
        digest.update(handle.read(SAMPLE))
        if size > SAMPLE:
            handle.seek(max(SAMPLE, size - SAMPLE))
            digest.update(handle.read(SAMPLE))
    return f"{size}:{digest.hexdigest()}"


class _Ledger:
    """The SQLite file that remembers what was read (one connection, used under a lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def finished_stat(self, tenant: str, st: _Stat) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM files WHERE tenant=? AND device=? AND inode=? AND size=? "
            "AND mtime_ns=? AND finished IS NOT NULL LIMIT 1",
            (tenant, st.device, st.inode, st.size, st.mtime_ns)).fetchone()
        return row is not None

    def get(self, tenant: str, fingerprint: str) -> _Entry | None:
        row = self._db.execute(
            "SELECT source, received, records, finished FROM files "
            "WHERE tenant=? AND fingerprint=?", (tenant, fingerprint)).fetchone()
        if row is None:
            return None
        return _Entry(fingerprint, row[0], row[1], row[2], row[3] is not None)

    def begin(self, tenant: str, fingerprint: str, path: str, source: str, st: _Stat) -> _Entry:
        received = time.time()
        self._db.execute(
            "INSERT INTO files (tenant, fingerprint, path, source, received, device, inode, "
            "size, mtime_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (tenant, fingerprint, path, source, received, st.device, st.inode, st.size,
             st.mtime_ns))
        return _Entry(fingerprint, source, received, 0, False)

    def progress(self, tenant: str, fingerprint: str, records: int) -> None:
        self._db.execute("UPDATE files SET records=? WHERE tenant=? AND fingerprint=?",
                         (records, tenant, fingerprint))

    def finish(self, tenant: str, fingerprint: str, records: int, problems: int,
               st: _Stat) -> None:
        self._db.execute(
            "UPDATE files SET records=?, problems=?, finished=?, device=?, inode=?, size=?, "
            "mtime_ns=? WHERE tenant=? AND fingerprint=?",
            (records, problems, time.time(), st.device, st.inode, st.size, st.mtime_ns,
             tenant, fingerprint))

    def close(self) -> None:
        self._db.close()


class FolderCollector:
    """Watches ``directory`` for one tenant; hands records to ``accept`` in batches of
    ``batch``. ``source`` names the records' origin (``<source>:<path>``, default
    ``folder``). :meth:`run` polls every ``poll_s`` seconds; :meth:`scan_once` is one pass."""

    def __init__(self, directory: Path, tenant: str, accept: Accept, ledger_path: Path,
                 source: str | None = None, poll_s: float = 2.0, settle_s: float = 2.0,
                 batch: int = 500) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.directory = Path(directory)
        self.tenant = tenant
        self.accept = accept
        self.label = source or "folder"
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.batch = batch
        self._ledger = _Ledger(Path(ledger_path))
        self._lock = threading.Lock()  # one scan at a time
        self._halt = threading.Event()  # set by run() when asked to stop
        self._pending: dict[Path, tuple[_Stat, float]] = {}  # stat, since (monotonic)
        self._done: dict[Path, _Stat] = {}  # read, or read before: not looked at again
        self._unreadable: dict[Path, tuple[_Stat, int]] = {}  # until stat or ctime changes
        self._walk_errors: set[str] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Scan every ``poll_s`` seconds until ``stop`` is set. A scan runs in a worker
        thread; a stop interrupts it between batches (the file resumes on the next run)."""
        self._halt.clear()
        relay = asyncio.create_task(stop.wait())
        relay.add_done_callback(lambda _: self._halt.set())
        try:
            while not stop.is_set():
                try:
                    await asyncio.to_thread(self.scan_once)
                except Exception:  # the pipeline or the ledger failed: try again later
                    log.exception("folder %s: scan failed; retrying in %ss", self.directory,
                                  self.poll_s)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(relay), self.poll_s)
        finally:
            self._halt.set()
            relay.cancel()

    def close(self) -> None:
        """Close the ledger (once ``run`` has returned)."""
        self._ledger.close()

    # -- one pass ------------------------------------------------------------------------------

    def scan_once(self) -> ScanReport:
        """Look at every file once: wait for new or changing ones to settle, read the stable
        ones not read before. Exceptions from ``accept`` (other than Overloaded) propagate,
        with the progress of the batches already accepted saved."""
        report = ScanReport()
        with self._lock:
            seen: set[Path] = set()
            try:
                for path, rel, st, ctime in self._candidates(report):
                    seen.add(path)
                    report.files += 1
                    if self._known(path, st):
                        report.already += 1
                    elif self._stable(path, st, report):
                        self._consider(path, rel, st, ctime, report)
            except _Stopped:
                report.interrupted += 1
                return report
            for memory in (self._pending, self._done, self._unreadable):
                for gone in [p for p in memory if p not in seen]:
                    del memory[gone]
        if report.ingested or report.retries:
            log.info("folder %s: %d files read (%d resumed), %d records, %d retries, "
                     "%d problems", self.directory, report.ingested, report.resumed,
                     report.records, report.retries, report.problem_count)
        return report

    def _candidates(self, report: ScanReport) -> Iterator[tuple[Path, str, _Stat, int]]:
        """(path, path under the folder, stat, ctime) of each regular log file, in order."""
        errors: set[str] = set()

        def walk_error(exc: OSError) -> None:
            problem = InputProblem(str(exc.filename or self.directory), 0,
                                   f"cannot list folder: {exc.strerror or exc}")
            report.report(problem)
            errors.add(str(problem))
            if str(problem) not in self._walk_errors:  # logged once, not at every poll
                log.warning("folder %s: %s", self.directory, problem)

        for root, dirs, files in os.walk(self.directory, onerror=walk_error):
            report.ignored += sum(1 for d in dirs if d.startswith("."))
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                lower = name.lower()
                if name.startswith((".", "~$")) or lower.endswith(IGNORED_SUFFIXES) \
                        or not is_log_file_name(name):
                    report.ignored += 1
                    continue
                path = Path(root, name)
                try:
                    st = os.lstat(path)
                except OSError:  # gone since the listing
                    continue
                if not stat_module.S_ISREG(st.st_mode) or st.st_size == 0:
                    report.ignored += 1  # links, sockets, or a file just created
                    continue
                yield path, path.relative_to(self.directory).as_posix(), _Stat.of(st), \
                    st.st_ctime_ns
        self._walk_errors = errors

    def _known(self, path: Path, st: _Stat) -> bool:
        """Read already (by this collector, or by an earlier run: the ledger has its stat)."""
        if self._done.get(path) == st:
            return True
        if self._ledger.finished_stat(self.tenant, st):
            self._remember(path, st)
            return True
        return False

    def _stable(self, path: Path, st: _Stat, report: ScanReport) -> bool:
        """Whether ``path`` kept this stat for ``settle_s`` seconds."""
        now = time.monotonic()
        seen = self._pending.get(path)
        if seen is None or seen[0] != st:
            seen = self._pending[path] = (st, now)
        if now - seen[1] < self.settle_s:
            report.waiting += 1
            return False
        return True

    def _consider(self, path: Path, rel: str, st: _Stat, ctime: int,
                  report: ScanReport) -> None:
        """A stable file: skip it if the ledger knows it, read it (or the rest of it) if not."""
        if self._unreadable.get(path) == (st, ctime):
            return
        try:
            fingerprint = file_fingerprint(path, st.size)
        except FileNotFoundError:
            return
        except OSError as exc:  # permissions, say: reported once, tried again when fixed
            self._unreadable[path] = (st, ctime)
            self._problem(report, InputProblem(str(path), 0, f"cannot read file: {exc}"), 0)
            return
        entry = self._ledger.get(self.tenant, fingerprint)
        if entry is not None and entry.finished:
            self._remember(path, st)
            report.already += 1
            return
        if entry is None:
            entry = self._ledger.begin(self.tenant, fingerprint, rel, f"{self.label}:{rel}", st)
        else:
            report.resumed += 1
            log.info("folder %s: resuming %s after record %d", self.directory, rel,
                     entry.records)
        self._read(path, st, entry, report)

    def _read(self, path: Path, st: _Stat, entry: _Entry, report: ScanReport) -> None:
        """Send the file's records after the first ``entry.records``, a batch at a time,
        saving progress after each accepted batch."""
        problems = 0

        def sink(problem: InputProblem) -> None:
            nonlocal problems
            problems += 1
            self._problem(report, problem, problems)

        count = 0
        batch: list[RawRecord] = []
        with closing(self._payloads(path, sink)) as payloads:
            for payload in payloads:
                count += 1
                if count <= entry.records:
                    continue
                batch.append(RawRecord(self.tenant, entry.source, JSON, payload, entry.received,
                                       seq=count))  # its place in the file: stable on a resume
                if len(batch) >= self.batch:
                    self._deliver(batch, report)
                    self._ledger.progress(self.tenant, entry.fingerprint, count)
                    batch = []
        if batch:
            self._deliver(batch, report)
        self._ledger.finish(self.tenant, entry.fingerprint, count, problems, st)
        if problems > PROBLEMS_LOGGED_PER_FILE:
            log.warning("folder %s: %s had %d problems (first %d logged)", self.directory,
                        path, problems, PROBLEMS_LOGGED_PER_FILE)
        report.ingested += 1
        self._remember(path, st)
        try:
            if _Stat.of(os.lstat(path)) != st:
                log.warning("folder %s: %s changed while it was read; it will be read again "
                            "as a new file", self.directory, path)
        except OSError:
            pass

    @staticmethod
    def _payloads(path: Path, sink: Callable[[InputProblem], None]) -> Iterator[bytes]:
        """Each record's payload, in file order (the same order on every read: resumes count
        on it). The kind is chosen by magic bytes, as ``hygie hunt`` does."""
        kind, name = kind_of(path), str(path)
        if kind in ("evtx", "evtx.gz"):
            reader = read_evtx_json if kind == "evtx" else read_evtx_gz_json
            with closing(reader(name, sink)) as records:
                for _, text in records:
                    yield text.encode("utf-8")
        else:
            with closing(read_json_raw(name, sink)) as documents:
                for _, raw in documents:
                    yield raw

    def _deliver(self, batch: list[RawRecord], report: ScanReport) -> None:
        """``accept(batch)``, waiting out ``Overloaded`` (bounded backoff, no give-up)."""
        attempt = 0
        while True:
            if self._halt.is_set():
                raise _Stopped
            try:
                self.accept(batch)
            except Overloaded as exc:
                report.retries += 1
                if attempt == 0:
                    log.warning("folder %s: pipeline behind (%s); holding %s", self.directory,
                                exc, batch[0].source)
                if self._halt.wait(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]):
                    raise _Stopped from None
                attempt += 1
                continue
            report.records += len(batch)
            return

    def _remember(self, path: Path, st: _Stat) -> None:
        self._done[path] = st
        self._pending.pop(path, None)

    def _problem(self, report: ScanReport, problem: InputProblem, nth: int) -> None:
        report.report(problem)
        if nth <= PROBLEMS_LOGGED_PER_FILE:
            log.warning("folder %s: %s", self.directory, problem)
