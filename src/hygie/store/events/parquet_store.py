"""The event store: every parsed event, in Parquet files per tenant and day, searched by DuckDB.

Why files and not one DuckDB database: DuckDB lets one process at a time open a database for
writing, and ``hygie search`` must run while ``hygie serve`` (or several NATS workers) write.
Parquet files written once and never changed have no such lock: writers add files, readers list
and read them, each process with its own in-memory DuckDB.

* ``append`` writes one new file per (tenant, day) it touches: written under a temporary name,
  fsync'd, renamed, the folder fsync'd. A reader sees a whole file or none; a crash leaves at
  most a temporary file, which readers never list and the next writer removes.
* The bus delivers at least once, so a record can be appended twice. Every read keeps one row
  per (tenant, record_key); compaction drops the duplicates from disk.
* ``compact`` merges a partition's small files into one (temporary name, fsync, rename), then
  deletes them. A reader that lists between the rename and the deletes sees both, and the
  query-time dedup hides it; one whose listed file was deleted before it opened it gets an I/O
  error and lists again (bounded retries). So a search never shows a record twice or misses one
  that was stored before it started.
* ``enforce_retention`` deletes whole days: older than ``retention_days``, then oldest first
  while the store is larger than ``max_bytes``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

try:
    import fcntl
except ImportError:  # not POSIX: compaction and retention are serialised per process only
    fcntl = None  # type: ignore[assignment]

from hygie.core.event import parse_time
from hygie.store.events import hosts, layout
from hygie.store.events.hosts import HostSeen
from hygie.store.events.layout import Partition
from hygie.store.events.query import FIELD_COLUMNS, CompiledQuery, QueryError, compile_query, field_column, naive_utc
from hygie.store.events.retention import RemovedPartition, RetentionReport, plan_retention

log = logging.getLogger("hygie.store.events")

COMPACT_TARGET = 64 * 1024 * 1024  # files this big are left alone by compaction
COMPACT_FILES = 16  # today's partition is compacted once it has more small files than this
FUTURE_SLACK = timedelta(days=1)  # event times further ahead of the receive time: wrong clock
# (the same interval is written in MOMENT)
READ_RETRIES = 5  # a file compacted or expired under a reader: list again, this many times
_EPOCH = datetime(1970, 1, 1)
_ONE_US = timedelta(microseconds=1)
_DAY_US = 86_400_000_000
_FUTURE_SLACK_US = FUTURE_SLACK // _ONE_US
_MAX_EVENT_YEAR = 9999

# A batch reaches DuckDB as an Arrow table (``_columns``: pyarrow copies the Python values into
# its buffers in C), which DuckDB reads in place. Python lists as query parameters cost DuckDB
# a conversion per value, with the GIL held (3 to 4 µs per event). Times travel as
# microseconds since the epoch, UTC.
_ROWS_TABLE = "hygie_rows"
_ROWS_SQL = f"""SELECT record_key, make_timestamp(received) AS received,
    make_timestamp(time) AS time, host, source, kind, event_id, channel, fields, raw, raw_base64
    FROM {_ROWS_TABLE}"""
_ROWS_SCHEMA = pa.schema([
    ("record_key", pa.large_string()), ("received", pa.int64()), ("time", pa.int64()),
    ("host", pa.large_string()), ("source", pa.large_string()), ("kind", pa.large_string()),
    ("event_id", pa.int64()), ("channel", pa.large_string()), ("fields", pa.large_string()),
    ("raw", pa.large_string()), ("raw_base64", pa.bool_())])
_COLUMNS = ("record_key, received, time, host, source, kind, event_id, channel, fields, raw, "
            "raw_base64")
READ = ("read_parquet(?, hive_partitioning=true, hive_types={'tenant': VARCHAR, 'day': DATE}, "
         "union_by_name=true)")
READ_NAMED = READ.replace("union_by_name=true", "union_by_name=true, filename=true")
# The columns of format 2 computed from the JSON of all fields, by the very function a search
# of the JSON uses (so both give the same answers): on writing, and when compaction upgrades
# the files of format 1.
_PATHS = "[" + ", ".join("'$.\"" + name + "\"'" for name in FIELD_COLUMNS) + "]"
_FIELD_COLUMNS_SQL = ", ".join(f"_f[{i}] AS {field_column(name)}" for i, name in enumerate(FIELD_COLUMNS, 1))


def _with_field_columns(select: str) -> str:
    """``select``'s rows with the field columns of format 2 added."""
    return (f"SELECT * EXCLUDE (_f), {_FIELD_COLUMNS_SQL} FROM "
            f"(SELECT *, json_extract_string(fields, {_PATHS}) AS _f FROM ({select}))")


_WRITE_SQL = f"COPY ({_with_field_columns(_ROWS_SQL)}) TO ? (FORMAT parquet, COMPRESSION zstd)"
# When an event happened, for --since/--until, the order and the day partition: its own time,
# unless absent or more than FUTURE_SLACK after its receive time (a wrong clock).
MOMENT = "CASE WHEN time IS NULL OR time > received + INTERVAL 1 DAY THEN received ELSE time END"


@dataclass(slots=True)
class StoredEvent:
    """One parsed record as the store keeps it (built by the pipeline from its results)."""

    tenant: str
    record_key: str
    received: float  # POSIX seconds UTC
    time: str | None  # ISO 8601 event time or None
    host: str | None
    source: str
    kind: str  # record kind: "json", "syslog", "atna", "hl7", "fhir"
    fields: dict[str, Any]
    raw: bytes


@dataclass(slots=True)
class CompactionReport:
    partitions: int = 0
    files_merged: int = 0
    rows_in: int = 0
    rows_out: int = 0

    @property
    def duplicates_dropped(self) -> int:
        return self.rows_in - self.rows_out


class EventStore:
    """Events of all tenants under ``root``; every read names its tenants.

    ``read_only`` (for ``hygie search``) creates nothing and removes nothing, so it can run
    beside the writers. One instance may be shared by threads."""

    def __init__(self, root: Path, retention_days: int = 90, max_bytes: int | None = None, *,
                 read_only: bool = False, compact_files: int = COMPACT_FILES,
                 memory_limit: str = "1GB") -> None:
        if retention_days < 1:
            raise ValueError("retention_days must be at least 1")
        self.root = Path(root)
        self.retention_days = retention_days
        self.max_bytes = max_bytes
        self.read_only = read_only
        self.compact_files = compact_files
        self._config: dict[str, Any] = {
            "memory_limit": memory_limit, "autoinstall_known_extensions": False,
            "temp_directory": str(Path(tempfile.gettempdir()) / f"hygie-duckdb-{os.getpid()}")}
        self._db: duckdb.DuckDBPyConnection | None = duckdb.connect(":memory:", config=self._config)
        # Merges get a database of their own with one thread, run by the calling (maintenance)
        # thread: on a small box, DuckDB's default of one thread per core would take both
        # cores from detection for the seconds a busy day's merge lasts (alert latency).
        self._merge_db: duckdb.DuckDBPyConnection | None = None
        # Stored files never change (a new name for every write), so their footers can be kept
        # between searches: a search over a week of 20 hospitals opens some 140 files.
        self._db.execute("SET parquet_metadata_cache = true")
        self._maintenance = threading.Lock()
        if not read_only:
            self.root.mkdir(parents=True, exist_ok=True)
            for path in layout.stale_temp_files(self.root):
                log.warning("removing %s, left by a writer that stopped mid-write", path)
                path.unlink(missing_ok=True)

    def close(self) -> None:
        """Close DuckDB and drop it (an owner that outlives the store must not keep it alive)."""
        if self._merge_db is not None:
            self._merge_db.close()
            self._merge_db = None
        if self._db is not None:
            self._db.close()
            self._db = None

    # -- writing -------------------------------------------------------------------------------
    def append(self, events: Sequence[StoredEvent]) -> None:
        """Store ``events``; durable when it returns (one fsync'd file per tenant and day)."""
        if self.read_only:
            raise PermissionError("this event store was opened read-only")
        groups: dict[tuple[str, date], list[tuple[StoredEvent, int | None, int]]] = {}
        tenant_dirs: dict[str, str] = {}
        for event in events:
            moment = _event_micros(event.time)
            received = int(round(event.received * 1_000_000))
            # as MOMENT: a sender whose clock runs days ahead makes no partition of the future
            # (which retention would keep past everything else)
            trusted = moment is not None and moment <= received + _FUTURE_SLACK_US
            tenant_dir = tenant_dirs.get(event.tenant)
            if tenant_dir is None:
                tenant_dir = tenant_dirs[event.tenant] = layout.tenant_dir_name(event.tenant)
            day = _day((moment if trusted else received) // _DAY_US)  # type: ignore[operator]
            groups.setdefault((tenant_dir, day), []).append((event, moment, received))
        for (tenant_dir, day), rows in groups.items():  # (an absurd day raised above: nothing written)
            folder = self.root / f"tenant={tenant_dir}" / f"day={day.isoformat()}"
            self._write(folder, _columns(rows))

    def _write(self, folder: Path, rows: pa.Table) -> None:
        new = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / layout.new_temp_name()
        try:
            with self._cursor() as con:  # the cursor's own name space: threads never mix
                con.register(_ROWS_TABLE, rows)
                con.execute(_WRITE_SQL, [str(temp)])
            self._publish(temp, folder / layout.new_part_name())
        finally:
            temp.unlink(missing_ok=True)
        if new:  # the new day (and tenant) folders must survive a power cut too
            layout.fsync_dir(folder.parent)
            layout.fsync_dir(self.root)

    @staticmethod
    def _publish(temp: Path, final: Path) -> None:
        layout.fsync_file(temp)
        os.replace(temp, final)
        layout.fsync_dir(final.parent)

    # -- reading -------------------------------------------------------------------------------
    def search(self, tenants: Sequence[str], query: str, since: datetime | None = None,
               until: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Events of ``tenants`` matching ``query`` with ``since <= time < until``, newest
        first, each record once. Raises ``QueryError`` for a malformed query."""
        compiled = self._compile(query)
        if limit <= 0:
            return []
        # Copies of a record have the same time and key, so they sort side by side: the newest
        # rows are read with DuckDB's cheap top-N (no dedup over every match), copies dropped
        # here, and more rows read only in the rare case copies left fewer than ``limit``.
        sql = (f"SELECT tenant, {_COLUMNS} FROM {{source}} "
               f"ORDER BY {MOMENT} DESC, tenant, record_key LIMIT ?")
        fetch = limit + 16
        while True:
            rows = self._read(sql, tenants, compiled, since, until, [fetch])
            unique: dict[tuple[str, str], tuple] = {}
            for row in rows:
                unique.setdefault((row[0], row[1]), row)
            if len(unique) >= limit or len(rows) < fetch:
                return [_row_dict(row) for row in list(unique.values())[:limit]]
            fetch *= 4

    def search_count(self, tenants: Sequence[str], query: str, since: datetime | None = None,
                     until: datetime | None = None, limit: int = 100) -> tuple[list[dict[str, Any]], int]:
        """``search`` and ``count`` in one pass over the files: the matches' keys (tenant,
        record key, moment, file) are kept once, counted, and the newest ``limit`` of them are
        then read in full from the files that hold them only."""
        compiled = self._compile(query)
        if limit <= 0:
            return [], self.count(tenants, query, since, until)
        fetch = limit + 16
        sql = (f"WITH m AS MATERIALIZED (SELECT tenant, record_key, {MOMENT} AS moment, filename "
               "FROM {source}) "
               "SELECT NULL, NULL, NULL, (SELECT count(*) FROM (SELECT DISTINCT tenant, record_key FROM m)) "
               "UNION ALL SELECT * FROM (SELECT tenant, record_key, filename, NULL FROM m "
               "ORDER BY moment DESC, tenant, record_key LIMIT ?)")
        rows = self._read(sql, tenants, compiled, since, until, [fetch], named=True)
        if not rows:
            return [], 0
        total = next(int(r[3]) for r in rows if r[3] is not None)
        keys = [(r[0], r[1], r[2]) for r in rows if r[3] is None]
        if not keys:
            return [], total
        if len({(t, k) for t, k, _f in keys}) < limit and len(keys) == fetch:  # many copies: rare
            return self.search(tenants, query, since, until, limit), total
        holders = sorted({f for _t, _k, f in keys})
        statement = (f"SELECT tenant, {_COLUMNS} FROM {READ} WHERE record_key IN "
                     f"({', '.join('?' for _ in keys)}) ORDER BY {MOMENT} DESC, tenant, record_key")
        wanted = {(t, k) for t, k, _f in keys}
        try:
            with self._cursor() as con:
                full = con.execute(statement, [holders, *[k for _t, k, _f in keys]]).fetchall()
        except duckdb.IOException:  # a file compacted away in between: the plain way
            return self.search(tenants, query, since, until, limit), total
        unique: dict[tuple[str, str], tuple] = {}
        for row in full:
            if (row[0], row[1]) in wanted:
                unique.setdefault((row[0], row[1]), row)
        return [_row_dict(row) for row in list(unique.values())[:limit]], total

    def count(self, tenants: Sequence[str], query: str, since: datetime | None = None,
              until: datetime | None = None) -> int:
        """How many distinct records of ``tenants`` match (duplicates counted once)."""
        compiled = self._compile(query)
        sql = "SELECT count(*) FROM (SELECT DISTINCT tenant, record_key FROM {source})"
        rows = self._read(sql, tenants, compiled, since, until, [])
        return int(rows[0][0]) if rows else 0

    def hosts_seen(self, tenant: str, since: datetime, until: datetime, fields: Sequence[str] = (),
                   limit: int = 10_000, written_since: float | None = None) -> tuple[list[HostSeen], int]:
        """The hosts that sent events of ``tenant`` with ``since <= time < until``, most recent
        first (``limit`` at most), each with the newest value of ``fields`` its events carried,
        and how many hosts there were in all. ``written_since`` (POSIX seconds): only files
        written since then, for a periodic reader that wants what is new (``intel.observed``)."""
        rows = self.aggregate([tenant], since, until, hosts.sql(fields, MOMENT, READ),
                              [naive_utc(since), naive_utc(until), limit], written_since)
        return hosts.rows_to_hosts(rows, fields)

    def tenants(self) -> list[str]:
        """Tenants that have events on disk."""
        return sorted(layout.tenant_dirs(self.root))

    def size_bytes(self) -> int:
        return sum(p.bytes for p in layout.partitions(self.root))

    def _compile(self, query: str) -> tuple[CompiledQuery, CompiledQuery]:
        """``query`` for files of format 2 and for older ones; its regular expressions checked."""
        compiled = compile_query(query, field_columns=True), compile_query(query)
        with self._cursor() as con:
            for pattern, position in compiled[0].regexes:
                try:
                    con.execute("SELECT regexp_matches('', ?)", [pattern]).fetchall()
                except duckdb.Error as exc:
                    raise QueryError(f"invalid regular expression {pattern!r}: "
                                     f"{str(exc).splitlines()[0]}", position) from None
        return compiled

    def _read(self, sql: str, tenants: Sequence[str], compiled: tuple[CompiledQuery, CompiledQuery],
              since: datetime | None, until: datetime | None, tail: list[Any], *,
              named: bool = False) -> list[tuple]:
        """Run ``sql`` over the matching rows, its ``{source}``: the files of format 2 read with
        the field columns, older files with the JSON (each branch reads only the columns it
        needs), ``named`` adding each row's file name."""
        wanted = sorted(set(tenants))
        if not wanted:
            return []
        dirs = [layout.tenant_dir_name(t) for t in wanted]
        where = [f"tenant IN ({', '.join('?' for _ in dirs)})"]
        params: list[Any] = [*dirs]
        if since is not None:
            where.append(f"{MOMENT} >= ?")
            params.append(naive_utc(since))
        if until is not None:
            where.append(f"{MOMENT} < ?")
            params.append(naive_utc(until))
        first = naive_utc(since).date() if since else None
        last = naive_utc(until).date() if until else None
        read = READ_NAMED if named else READ

        def run(files: list[Path]) -> list[tuple]:
            branches, values = [], []
            for query, group in zip(compiled, ([f for f in files if layout.has_field_columns(f)],
                                               [f for f in files if not layout.has_field_columns(f)])):
                if group:
                    branches.append(f"SELECT * FROM {read} WHERE {' AND '.join([*where, query.where])}")
                    values += [[str(f) for f in group], *params, *query.params]
            statement = sql.replace("{source}", "(" + " UNION ALL BY NAME ".join(branches) + ")")
            with self._cursor() as con:
                return con.execute(statement, [*values, *tail]).fetchall()
        return self._over_files(wanted, first, last, run)

    def aggregate(self, tenants: Sequence[str], since: datetime, until: datetime, sql: str,
                  params: Sequence[Any] = (), written_since: float | None = None) -> list[tuple]:
        """``sql``, written by the caller with ``READ`` and ``MOMENT``, over the files of
        ``tenants`` whose days may hold [since, until): its first parameter is the list of
        files, then ``params``. For the aggregates of other stages (KPIs, observed assets):
        the store keeps the listing, the footer cache and the retries. ``written_since``
        (POSIX seconds): only the files written since then."""
        def run(files: list[Path]) -> list[tuple]:
            with self._cursor() as con:
                return con.execute(sql, [[str(f) for f in files], *params]).fetchall()
        return self._over_files(sorted(set(tenants)), naive_utc(since).date(), naive_utc(until).date(), run,
                                written_since)

    def _over_files(self, tenants: list[str], first: date | None, last: date | None,
                    run: Callable[[list[Path]], list[tuple]], written_since: float | None = None) -> list[tuple]:
        """``run`` over the files of ``tenants`` and days [first, last], listed again when one is
        compacted or expired under it (up to ``READ_RETRIES`` times); no file: no rows."""
        for attempt in range(READ_RETRIES + 1):
            files = [f for p in layout.partitions(self.root, tenants, first, last) for f in p.files
                     if written_since is None or _written(f) >= written_since]
            if not files:
                return []
            try:
                return run(files)
            except duckdb.IOException:
                if attempt == READ_RETRIES:
                    raise
                log.debug("a file went away during a read (compaction, retention): again")
        return []

    # -- maintenance ---------------------------------------------------------------------------
    def compact(self, now: datetime | None = None) -> CompactionReport:
        """Merge each partition's small files, dropping duplicate records: past days down to
        one file, today's once it has more than ``compact_files``; files of format 1 are
        rewritten in format 2 on the way. Skipped (empty report) while another process or
        thread is compacting or expiring."""
        report = CompactionReport()
        if self.read_only:
            return report
        today = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).date()
        with self._exclusive() as held:
            if not held:
                return report
            for part in layout.partitions(self.root):
                small = [f for f, size in zip(part.files, part.sizes) if size < COMPACT_TARGET]
                upgrade = any(not layout.has_field_columns(f) for f in small)  # a lone old file too
                if (len(small) < 2 and not (upgrade and part.day < today)) or (
                        part.day >= today and len(small) <= self.compact_files):
                    continue
                rows_in, rows_out = self._merge(part, small)
                report.partitions += 1
                report.files_merged += len(small)
                report.rows_in += rows_in
                report.rows_out += rows_out
        return report

    def _merge(self, part: Partition, files: list[Path]) -> tuple[int, int]:
        temp = part.path / layout.new_temp_name()
        source = "SELECT * FROM read_parquet(?, hive_partitioning=false, union_by_name=true)"
        branches, names = [], []
        for upgrade in (False, True):  # files of format 1 gain the field columns on the way
            group = [str(f) for f in files if layout.has_field_columns(f) != upgrade]
            if group:
                branches.append(_with_field_columns(source) if upgrade else source)
                names.append(group)
        rows = "(" + " UNION ALL BY NAME ".join(branches) + ")"
        try:
            with self._cursor(merging=True) as con:
                rows_in = con.execute(f"SELECT count(*) FROM {rows}", names).fetchall()[0][0]
                rows_out = con.execute(
                    f"COPY (SELECT * FROM {rows} QUALIFY row_number() OVER "
                    f"(PARTITION BY record_key ORDER BY received) = 1 ORDER BY {MOMENT}) "
                    "TO ? (FORMAT parquet, COMPRESSION zstd)", [*names, str(temp)]).fetchall()[0][0]
            self._publish(temp, part.path / layout.new_part_name("merged"))
        finally:
            temp.unlink(missing_ok=True)
        for path in files:  # after the rename: a reader sees the merged rows, or the old ones
            path.unlink(missing_ok=True)
        layout.fsync_dir(part.path)
        return int(rows_in), int(rows_out)

    def enforce_retention(self, now: datetime | None = None) -> RetentionReport:
        """Delete day partitions older than ``retention_days``, then the oldest days while the
        store exceeds ``max_bytes``; returns what went."""
        report = RetentionReport()
        if self.read_only:
            return report
        moment = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
        today = moment.date()
        with self._exclusive() as held:
            if not held:
                return report
            parts = layout.partitions(self.root)
            doomed = plan_retention(parts, today, self.retention_days, self.max_bytes,
                                    moment.timestamp())
            gone = {id(p) for p, _ in doomed}
            for part, reason in doomed:
                _remove_partition(part)
                report.removed.append(RemovedPartition(part.tenant, part.day, len(part.files),
                                                       part.bytes, reason))
            report.remaining_bytes = sum(p.bytes for p in parts if id(p) not in gone)
            report.over_limit = self.max_bytes is not None and report.remaining_bytes > self.max_bytes
        return report

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[bool]:
        """One compaction or retention at a time, across threads and processes (flock)."""
        if not self._maintenance.acquire(blocking=False):
            yield False
            return
        try:
            with open(self.root / ".maintenance.lock", "a+b") as handle:
                if fcntl is None:
                    yield True
                    return
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        finally:
            self._maintenance.release()

    @contextlib.contextmanager
    def _cursor(self, merging: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection of its own for this call: DuckDB's are not shared across threads.
        ``merging``: on the one-thread database of merges (called under ``_exclusive``)."""
        if self._db is None:
            raise RuntimeError("the event store is closed")
        db = self._db
        if merging:
            if self._merge_db is None:
                self._merge_db = duckdb.connect(":memory:", config={**self._config, "threads": 1})
            db = self._merge_db
        con = db.cursor()
        try:
            yield con
        finally:
            con.close()


def _event_micros(value: str | None) -> int | None:
    """The event time in microseconds since the epoch (UTC), or None when absent,
    unparseable or absurd. The pipeline's own times (``record_to_event``: ISO 8601, UTC,
    ``+00:00``) are read straight as naive UTC; others through ``parse_time``."""
    if value.__class__ is str and value.endswith("+00:00"):  # type: ignore[union-attr]
        try:
            moment = datetime.fromisoformat(value[:-6])  # type: ignore[index]
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:  # two offsets: not ours
            moment = None
    else:
        moment = None
    if moment is None:
        parsed = parse_time(value)
        if parsed is None:
            return None
        moment = naive_utc(parsed)
    if not 1970 <= moment.year <= _MAX_EVENT_YEAR:
        return None
    return (moment - _EPOCH) // _ONE_US


def _day(number: int) -> date:
    """The date of day ``number`` since the epoch (the partitions' days, cached)."""
    found = _DAYS.get(number)
    if found is None:
        found = _DAYS[number] = (_EPOCH + timedelta(days=number)).date()
    return found


_DAYS: dict[int, date] = {}  # at most one entry per day since 1970 (received or trusted times)


def _columns(rows: list[tuple[StoredEvent, int | None, int]]) -> pa.Table:
    keys, received, times, hosts, sources, kinds = [], [], [], [], [], []
    event_ids, channels, fields, raws, flags = [], [], [], [], []
    dumps, options = orjson.dumps, orjson.OPT_NON_STR_KEYS
    for event, moment, received_us in rows:
        keys.append(event.record_key)
        received.append(received_us)
        times.append(moment)
        hosts.append(event.host)
        sources.append(event.source)
        kinds.append(event.kind)
        values = event.fields
        event_id = values.get("EventID")
        event_ids.append(event_id if event_id.__class__ is int and -(2**63) <= event_id < 2**63
                         else _event_id(event_id))
        channel = values.get("Channel")
        channels.append(None if channel is None else channel if channel.__class__ is str else str(channel))
        fields.append(dumps(values, default=str, option=options).decode("utf-8"))
        raw = event.raw
        try:
            raws.append(raw.decode("utf-8"))
            flags.append(False)
        except UnicodeDecodeError:
            raws.append(base64.b64encode(raw).decode("ascii"))
            flags.append(True)
    return pa.Table.from_arrays(
        [pa.array(column, type=kind.type) for column, kind in zip(
            (keys, received, times, hosts, sources, kinds, event_ids, channels, fields, raws, flags),
            _ROWS_SCHEMA)], schema=_ROWS_SCHEMA)


def _written(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # compacted away: the merged file is newer
        return 0.0


def _event_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 19:
        return int(value.strip())
    return None


def _row_dict(row: tuple) -> dict[str, Any]:
    (tenant_dir, key, received, moment, host, source, kind, event_id, channel, fields, raw,
     raw_base64) = row
    return {
        "tenant": layout.tenant_from_dir_name(tenant_dir),
        "record_key": key,
        "received": _iso(received),
        "time": _iso(moment) if moment is not None else None,
        "host": host, "source": source, "kind": kind, "event_id": event_id, "channel": channel,
        "fields": orjson.loads(fields) if fields else {},
        "raw": raw, "raw_encoding": "base64" if raw_base64 else "utf-8",
    }


def _iso(moment: datetime) -> str:
    return moment.replace(tzinfo=timezone.utc).isoformat()


def _remove_partition(part: Partition) -> None:
    for path in part.files:
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: a late write to an old day; next time
        part.path.rmdir()
    layout.fsync_dir(part.path.parent)
