"""The embedded bus: a durable local spool in SQLite, with at-least-once delivery.

A collector's records are committed here before it says "accepted", so a crash after that
loses nothing. The detection stage *claims* a batch (a lease, not a removal), and deletes it
(``ack``) only once its alerts are stored; a claim whose consumer died comes back when its lease
runs out, or at once when the service restarts (``release_claims``). A record can thus be
delivered twice, never zero times: the alert store makes the second delivery a no-op.

SQLite in WAL mode with ``synchronous=FULL``: a commit survives the process being killed and
the machine losing power. Depth is bounded (``max_depth``): ``put`` refuses with ``SpoolFull``
beyond it, and collectors turn that into backpressure.

A row holds a chunk of up to ``CHUNK`` records of one ``put``, framed by their lengths: SQLite
then works per chunk, not per record (an insert, a lease and a delete per record cost the
detection thread some 20 µs of each record's 100). Records are claimed, released and
acknowledged by whole chunks; ``claim`` hands each record out with its chunk's id. Leases live
in a table of their own, so that a claim never rewrites a chunk. Rows of the earlier layout
(one record per row, ``records = 0``, leased by ``claimed_until``) are still read.

A lease that runs out gives its chunks to *another* consumer (a process that died held them).
The instance that claimed them never claims them again before it acknowledges or releases
them, however long its store takes: a batch stuck behind a slow database must not be detected
a second time beside it.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

# ``claimed_until`` and ``attempts`` are the one-record layout's lease and retry count: chunks
# are leased in ``spool_lease`` and nothing counts attempts any more; the columns stay so that
# a spool written before chunks opens (and its leased rows come back, see ``release_claims``).
_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_claimable ON spool (claimed_until, id);
CREATE TABLE IF NOT EXISTS spool_lease (id INTEGER PRIMARY KEY, until REAL NOT NULL);
"""
# How many records a row holds (0: one record, unframed: the layout before chunks).
_RECORDS_COLUMN = "ALTER TABLE spool ADD COLUMN records INTEGER NOT NULL DEFAULT 0"
_COUNT = "CASE WHEN records = 0 THEN 1 ELSE records END"
CHUNK = 1000  # records per row at most: a claim is whole chunks, so this bounds its overshoot
_LENGTH = struct.Struct("<I")
log = logging.getLogger("hygie.spool")


class SpoolFull(Exception):
    """The spool holds ``max_depth`` records: the caller must slow down or refuse."""


class Spool:
    """A durable FIFO of opaque records (``RawRecord.to_bytes()``), safe across threads."""

    def __init__(self, path: str | Path, max_depth: int = 1_000_000) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_depth = max_depth
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(spool)")}
        if "records" not in columns:
            self._db.execute(_RECORDS_COLUMN)
        self._depth = self._db.execute(f"SELECT coalesce(sum({_COUNT}), 0) FROM spool").fetchone()[0]
        self._held: set[int] = set()  # chunks this instance claimed and has not settled

    @property
    def depth(self) -> int:
        """Records waiting or claimed (not yet acknowledged): how far detection is behind."""
        return self._depth

    def put(self, items: Sequence[bytes]) -> None:
        """Append ``items`` in one transaction; all or none. Raises ``SpoolFull`` when they do
        not fit, unless the spool is empty (a batch larger than ``max_depth`` must get in
        some time: the bound is then that batch's size)."""
        if not items:
            return
        with self._lock:
            if self._depth and self._depth + len(items) > self.max_depth:
                raise SpoolFull(f"spool holds {self._depth:,} records (limit {self.max_depth:,})")
            parts = (items[start:start + CHUNK] for start in range(0, len(items), CHUNK))
            with _transaction(self._db):
                self._db.executemany("INSERT INTO spool (data, records) VALUES (?, ?)",
                                     ((_frame(part), len(part)) for part in parts))
            self._depth += len(items)

    def oldest(self) -> bytes | None:
        """The oldest record not yet acknowledged (for the lag metric), or None."""
        with self._lock:
            row = self._db.execute("SELECT data, records FROM spool ORDER BY id LIMIT 1").fetchone()
        if not row:
            return None
        return row[0] if row[1] == 0 else next(iter(_unframe(row[0])), None)

    def claim(self, limit: int, lease_s: float = 60.0) -> list[tuple[int, bytes]]:
        """About ``limit`` records, oldest first, leased for ``lease_s`` seconds, each with the
        id of its chunk: whole chunks while they fit in ``limit``, and always the first one."""
        now = time.time()
        with self._lock, _transaction(self._db):
            chosen, count = [], 0
            held = self._held
            for row_id, records in self._db.execute(
                    f"SELECT s.id, {_COUNT} FROM spool s LEFT JOIN spool_lease l ON l.id = s.id "
                    "WHERE (l.until IS NULL OR l.until < ?) AND s.claimed_until < ? "
                    "ORDER BY s.id LIMIT ?", (now, now, limit + len(held))):
                if row_id in held:
                    continue
                if chosen and count + records > limit:
                    break
                chosen.append(row_id)
                count += records
            if not chosen:
                return []
            self._db.executemany("INSERT OR REPLACE INTO spool_lease (id, until) VALUES (?, ?)",
                                 ((row_id, now + lease_s) for row_id in chosen))
            rows = self._db.execute(
                f"SELECT id, data, records FROM spool WHERE id IN ({','.join('?' * len(chosen))}) "
                "ORDER BY id", chosen).fetchall()
            held.update(chosen)
        out: list[tuple[int, bytes]] = []
        for row_id, data, records in rows:
            if records == 0:
                out.append((row_id, data))
                continue
            items = _unframe(data)
            if len(items) != records:  # only disk damage does this: keep what can be read
                log.error("spool chunk %d is damaged: %d of its %d records can be read, the "
                          "rest is dropped", row_id, len(items), records)
            out.extend((row_id, item) for item in items)
        return out

    def ack(self, ids: Iterable[int]) -> None:
        """Forget the records (whole chunks: the ids ``claim`` gave) whose results are stored."""
        unique = sorted(set(ids))
        if not unique:
            return
        with self._lock, _transaction(self._db):
            removed = 0
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                removed += sum(count for (count,) in self._db.execute(
                    f"DELETE FROM spool WHERE id IN ({marks}) RETURNING {_COUNT}", chunk))
                self._db.execute(f"DELETE FROM spool_lease WHERE id IN ({marks})", chunk)
            self._depth -= removed
            self._held.difference_update(unique)

    def release(self, ids: Iterable[int]) -> None:
        """Give claimed records back at once (the consumer could not process them now)."""
        unique = [(i,) for i in sorted(set(ids))]
        with self._lock, _transaction(self._db):
            self._db.executemany("DELETE FROM spool_lease WHERE id = ?", unique)
            self._db.executemany("UPDATE spool SET claimed_until = 0 WHERE id = ? AND claimed_until > 0",
                                 unique)
            self._held.difference_update(i for (i,) in unique)

    def release_claims(self) -> int:
        """At start-up: claims of a previous process are void. Returns how many records came
        back."""
        with self._lock, _transaction(self._db):
            released = self._db.execute(
                f"SELECT coalesce(sum({_COUNT}), 0) FROM spool WHERE claimed_until > 0 "
                "OR id IN (SELECT id FROM spool_lease)").fetchone()[0]
            self._db.execute("DELETE FROM spool_lease")
            self._db.execute("UPDATE spool SET claimed_until = 0 WHERE claimed_until > 0")
            self._held.clear()
        return released

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _frame(items: Sequence[bytes]) -> bytes:
    """One chunk: each record after its length (4 bytes, little-endian)."""
    pack = _LENGTH.pack
    return b"".join(part for item in items for part in (pack(len(item)), item))


def _unframe(data: bytes) -> list[bytes]:
    """The records of a chunk, in order; a damaged chunk gives the records before the damage."""
    view, position, end = memoryview(data), 0, len(data)
    unpack = _LENGTH.unpack_from
    items: list[bytes] = []
    while position + 4 <= end:
        (length,) = unpack(view, position)
        position += 4
        if position + length > end:
            break
        items.append(bytes(view[position:position + length]))
        position += length
    return items


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
