"""Where the event store's files are: ``root/tenant=<t>/day=<YYYY-MM-DD>/<part>.parquet``.

The layout is the store's only index and its tenant boundary: a read lists the folders of the
tenants it was given, and never opens another tenant's files. Names are checked so that a
tenant id can never point outside its folder.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

_SAFE_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_PART = re.compile(r"(?:part|merged)-\d+-[0-9a-f]+(?:\.f2)?\.parquet")
TEMP_PREFIX = ".tmp-"
# Files of format 2 also hold the most searched fields in columns of their own (``.f2`` in
# the name, so a reader knows before opening one); files written before it hold them only in
# the JSON of all fields, and compaction rewrites them in format 2.
FORMAT2_SUFFIX = ".f2.parquet"


def tenant_dir_name(tenant: str) -> str:
    """``chu-a`` stays ``chu-a``; anything else (dots, slashes, capitals, unicode) is written
    ``~`` + the hex of its UTF-8, which no safe name can collide with."""
    if not tenant:
        raise ValueError("empty tenant id")
    if _SAFE_TENANT.fullmatch(tenant):
        return tenant
    return "~" + tenant.encode("utf-8").hex()


def tenant_from_dir_name(name: str) -> str | None:
    if _SAFE_TENANT.fullmatch(name):
        return name
    if name.startswith("~"):
        try:
            return bytes.fromhex(name[1:]).decode("utf-8")
        except ValueError:
            return None
    return None


def new_part_name(prefix: str = "part") -> str:
    return f"{prefix}-{time.time_ns()}-{uuid.uuid4().hex[:12]}{FORMAT2_SUFFIX}"


def has_field_columns(path: Path) -> bool:
    """Whether a stored file is of format 2 (see ``FORMAT2_SUFFIX``)."""
    return path.name.endswith(FORMAT2_SUFFIX)


def new_temp_name() -> str:
    """A temporary file's name carries its writer's pid, so a later writer can tell a file
    left by a crash from one another process is writing right now."""
    return f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}.parquet"


@dataclass(slots=True)
class Partition:
    """One tenant's day: its folder and its finished files (temporary files excluded)."""

    tenant: str
    day: date
    path: Path
    files: list[Path] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    written: float = 0.0  # when its newest file was written (POSIX seconds)

    @property
    def bytes(self) -> int:
        return sum(self.sizes)


def tenant_dirs(root: Path) -> dict[str, Path]:
    """Tenant id -> its folder, for every tenant folder under ``root``."""
    found: dict[str, Path] = {}
    try:
        entries = list(os.scandir(root))
    except FileNotFoundError:
        return found
    for entry in entries:
        if entry.is_dir(follow_symlinks=False) and entry.name.startswith("tenant="):
            tenant = tenant_from_dir_name(entry.name[len("tenant="):])
            if tenant is not None:
                found[tenant] = Path(entry.path)
    return found


def partitions(root: Path, tenants: list[str] | None = None, first: date | None = None,
               last: date | None = None) -> list[Partition]:
    """The partitions of ``tenants`` (all when None) with ``first <= day <= last``."""
    folders = tenant_dirs(root)
    if tenants is not None:
        wanted = set(tenants)
        folders = {t: p for t, p in folders.items() if t in wanted}
    found = []
    for tenant, folder in sorted(folders.items()):
        try:
            days = list(os.scandir(folder))
        except FileNotFoundError:  # removed under us
            continue
        for entry in days:
            if not (entry.is_dir(follow_symlinks=False) and entry.name.startswith("day=")):
                continue
            try:
                day = date.fromisoformat(entry.name[4:])
            except ValueError:
                continue
            if (first and day < first) or (last and day > last):
                continue
            part = Partition(tenant, day, Path(entry.path))
            _fill(part)
            found.append(part)
    found.sort(key=lambda p: (p.day, p.tenant))
    return found


def _fill(part: Partition) -> None:
    try:
        entries = list(os.scandir(part.path))
    except FileNotFoundError:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if _PART.fullmatch(entry.name):
            try:
                stat = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # compacted away under us
                continue
            part.files.append(Path(entry.path))
            part.sizes.append(stat.st_size)
            part.written = max(part.written, stat.st_mtime)


def fsync_file(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_dir(path: Path) -> None:
    """Make a rename or an unlink in ``path`` durable (POSIX; a no-op where it cannot be)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def stale_temp_files(root: Path, max_age_s: float = 3600.0) -> list[Path]:
    """Temporary files whose writer is gone (its pid is not running) or that are older than
    ``max_age_s`` (a pid reused since): what a crash mid-write leaves behind."""
    stale = []
    now = time.time()
    for folder in tenant_dirs(root).values():
        for day in folder.glob("day=*"):
            for path in day.glob(TEMP_PREFIX + "*"):
                try:
                    old = now - path.stat().st_mtime > max_age_s
                except FileNotFoundError:
                    continue
                if old or not _alive(_pid_of(path.name)):
                    stale.append(path)
    return stale


def _pid_of(name: str) -> int:
    try:
        return int(name[len(TEMP_PREFIX):].split("-", 1)[0])
    except ValueError:
        return -1


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
