"""Which day partitions retention removes: by age, then by total size, oldest day first.

Whole days go, across tenants, so that what remains is always a contiguous recent window and
every tenant keeps the same history. The newest day is never removed for size (it is the one
being written); a report says so when the size limit cannot be met without it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from hygie.store.events.layout import Partition


@dataclass(frozen=True, slots=True)
class RemovedPartition:
    tenant: str
    day: date
    files: int
    bytes: int
    reason: str  # "age" or "size"


@dataclass(slots=True)
class RetentionReport:
    removed: list[RemovedPartition] = field(default_factory=list)
    remaining_bytes: int = 0
    over_limit: bool = False  # still above max_bytes with only the newest day left

    @property
    def removed_bytes(self) -> int:
        return sum(p.bytes for p in self.removed)

    @property
    def removed_files(self) -> int:
        return sum(p.files for p in self.removed)

    def __str__(self) -> str:
        if not self.removed:
            return "retention: nothing to remove"
        days = sorted({p.day.isoformat() for p in self.removed})
        return (f"retention: removed {len(self.removed)} partitions ({self.removed_files} files, "
                f"{self.removed_bytes} bytes) of {days[0]}..{days[-1]}; "
                f"{self.remaining_bytes} bytes remain")


def plan_retention(parts: list[Partition], today: date, retention_days: int,
                   max_bytes: int | None, now: float | None = None) -> list[tuple[Partition, str]]:
    """Partitions to remove, with the reason. Days before ``today - retention_days`` go for
    age, unless written to within ``retention_days`` of ``now`` (POSIX seconds): events a
    backfill or a wrong clock dates in the past are kept as long as any received today;
    then, while the total exceeds ``max_bytes``, the oldest remaining day goes."""
    cutoff = today - timedelta(days=retention_days)
    written_cutoff = (now if now is not None else time.time()) - retention_days * 86_400
    doomed = [(p, "age") for p in parts if p.day < cutoff and p.written < written_cutoff]
    gone = {id(p) for p, _ in doomed}
    kept = [p for p in parts if id(p) not in gone]
    if max_bytes is None or not kept:
        return doomed
    total = sum(p.bytes for p in kept)
    newest = max(p.day for p in kept)
    by_day: dict[date, list[Partition]] = {}
    for part in kept:
        by_day.setdefault(part.day, []).append(part)
    for day in sorted(by_day):
        if total <= max_bytes or day >= newest:
            break
        for part in by_day[day]:
            doomed.append((part, "size"))
            total -= part.bytes
    return doomed
