"""The embedded bus: a durable local spool in SQLite, with at-least-once delivery.

A collector's records are committed here before it says "accepted", so a crash after that
loses nothing. The detection stage *claims* a batch (a lease, not a removal), and deletes it
(``ack``) only once its alerts are stored; a claim whose consumer died comes back when its lease
runs out, or at once when the service restarts (``release_claims``). A record can thus be
delivered twice, never zero times: the alert store makes the second delivery a no-op.

SQLite in WAL mode with ``synchronous=FULL``: a commit survives the process being killed and
the machine losing power. Depth is bounded (``max_depth``): ``put`` refuses with ``SpoolFull``
beyond it, and collectors turn that into backpressure.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    data BLOB NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS spool_claimable ON spool (claimed_until, id);
"""


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
        self._depth = self._db.execute("SELECT count(*) FROM spool").fetchone()[0]

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
            with _transaction(self._db):
                self._db.executemany("INSERT INTO spool (data) VALUES (?)", ((i,) for i in items))
            self._depth += len(items)

    def oldest(self) -> bytes | None:
        """The oldest record not yet acknowledged (for the lag metric), or None."""
        with self._lock:
            row = self._db.execute("SELECT data FROM spool ORDER BY id LIMIT 1").fetchone()
        return row[0] if row else None

    def claim(self, limit: int, lease_s: float = 60.0) -> list[tuple[int, bytes]]:
        """Up to ``limit`` records, oldest first, leased for ``lease_s`` seconds."""
        now = time.time()
        with self._lock, _transaction(self._db):
            rows = self._db.execute(
                "UPDATE spool SET claimed_until = ?, attempts = attempts + 1 WHERE id IN "
                "(SELECT id FROM spool WHERE claimed_until < ? ORDER BY id LIMIT ?) "
                "RETURNING id, data", (now + lease_s, now, limit)).fetchall()
        rows.sort()
        return rows

    def ack(self, ids: Sequence[int]) -> None:
        """Forget records whose results are stored."""
        if not ids:
            return
        with self._lock, _transaction(self._db):
            removed = 0
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ",".join("?" * len(chunk))
                removed += self._db.execute(f"DELETE FROM spool WHERE id IN ({marks})", chunk).rowcount
            self._depth -= removed

    def release(self, ids: Sequence[int]) -> None:
        """Give claimed records back at once (the consumer could not process them now)."""
        with self._lock, _transaction(self._db):
            self._db.executemany("UPDATE spool SET claimed_until = 0 WHERE id = ?", ((i,) for i in ids))

    def release_claims(self) -> int:
        """At start-up: claims of a previous process are void. Returns how many came back."""
        with self._lock, _transaction(self._db):
            return self._db.execute("UPDATE spool SET claimed_until = 0 WHERE claimed_until > 0").rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
