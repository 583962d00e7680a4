"""Files to events: the source readers plus the shape normaliser, streaming.

Nothing is held in memory beyond the record being processed, so a 1 GB input costs what a
1 MB one does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from hygie.core.event import Event, InputProblem
from hygie.normalize.windows import RecordShapeError, normalize_record
from hygie.sources.evtx_file import read_evtx, read_evtx_gz
from hygie.sources.files import discover, kind_of
from hygie.sources.json_file import read_json


@dataclass(slots=True)
class ReadStats:
    """Counters a progress bar and the final summary read from."""

    files: int = 0
    events: int = 0
    bytes_done: int = 0
    problems: list[InputProblem] = field(default_factory=list)
    problem_count: int = 0
    max_problems_kept: int = 1000

    def report(self, problem: InputProblem) -> None:
        self.problem_count += 1
        if len(self.problems) < self.max_problems_kept:
            self.problems.append(problem)


def read_events(paths: Iterable[str | os.PathLike[str]], stats: ReadStats | None = None,
                on_file: Callable[[str], None] | None = None) -> Iterator[Event]:
    """Yield normalised events from files and folders; problems go to ``stats``."""
    stats = stats if stats is not None else ReadStats()
    sink = stats.report
    for item in discover(paths):
        if isinstance(item, InputProblem):
            sink(item)
            continue
        path = str(item)
        stats.files += 1
        if on_file is not None:
            on_file(path)
        kind = kind_of(item)
        if kind == "evtx":
            records = read_evtx(path, sink)
        elif kind == "evtx.gz":
            records = read_evtx_gz(path, sink)
        else:
            records = read_json(path, sink)
        count = 0
        for offset, doc in records:
            try:
                event = normalize_record(doc, path, offset)
            except (RecordShapeError, KeyError, TypeError, AttributeError) as exc:
                sink(InputProblem(path, offset, f"unusable record: {exc}"))
                continue
            count += 1
            yield event
        stats.events += count
        try:
            stats.bytes_done += item.stat().st_size
        except OSError:
            pass
