"""Windows ``.evtx`` files, parsed by pyevtx-rs (the Rust ``evtx`` crate).

Corrupt chunks are skipped by the parser (``skip_errors``) and reported with the record ids
they held; an unreadable file is reported once and the hunt moves on.
"""

from __future__ import annotations

import gzip
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import evtx
import orjson

from hygie.core.event import InputProblem

_RECORD_IDS = re.compile(r"record IDs (\d+)")
ProblemSink = Callable[[InputProblem], None]
_T = TypeVar("_T")


def _report_warnings(caught: list[warnings.WarningMessage], path: str, sink: ProblemSink) -> None:
    for item in caught:
        text = str(item.message)
        found = _RECORD_IDS.search(text)
        sink(InputProblem(path, int(found.group(1)) if found else -1, text))
    caught.clear()


def read_evtx_gz(path: str, sink: ProblemSink, threads: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """A gzip-compressed EVTX file: unpacked to a temporary file (the parser needs to seek),
    streamed there so memory stays flat, removed afterwards."""
    return _unpacked(path, sink, lambda name, renamed: read_evtx(name, renamed, threads))


def read_evtx_gz_json(path: str, sink: ProblemSink, threads: int = 1) -> Iterator[tuple[int, str]]:
    """:func:`read_evtx_json` of a gzip-compressed EVTX file (see :func:`read_evtx_gz`)."""
    return _unpacked(path, sink, lambda name, renamed: read_evtx_json(name, renamed, threads))


def _unpacked(path: str, sink: ProblemSink,
              read: Callable[[str, ProblemSink], Iterator[_T]]) -> Iterator[_T]:
    with tempfile.NamedTemporaryFile(suffix=".evtx") as spool:
        try:
            with gzip.open(path, "rb") as packed:
                shutil.copyfileobj(packed, spool, 1 << 20)
        except (OSError, EOFError) as exc:
            sink(InputProblem(path, 0, f"cannot unpack gzip: {exc}"))
        spool.flush()
        def renamed(problem: InputProblem) -> None:  # report the user's file, not the spool
            sink(InputProblem(path, problem.offset, problem.reason))

        yield from read(spool.name, renamed)


def read_evtx(path: str, sink: ProblemSink, threads: int = 1) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(event_record_id, evtx_dump-style JSON document)`` for each readable record."""
    loads = orjson.loads
    for record_id, text in read_evtx_json(path, sink, threads):
        try:
            doc = loads(text)
        except orjson.JSONDecodeError as exc:
            sink(InputProblem(path, record_id, f"bad record JSON: {exc}"))
            continue
        yield record_id, doc


def read_evtx_json(path: str, sink: ProblemSink, threads: int = 1) -> Iterator[tuple[int, str]]:
    """Yield ``(event_record_id, the record's evtx_dump-style JSON text)`` as pyevtx-rs writes
    it (compact), for a collector that forwards records without decoding them."""
    try:
        parser = evtx.PyEvtxParser(
            path,
            number_of_threads=threads,
            skip_errors=True,
            separate_json_attributes=True,
            indent=False,
        )
    except (OSError, RuntimeError) as exc:
        sink(InputProblem(path, 0, f"not a readable EVTX file: {exc}"))
        return
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            for record in parser.records_json():
                if caught:
                    _report_warnings(caught, path, sink)
                yield record["event_record_id"], record["data"]
        except RuntimeError as exc:
            sink(InputProblem(path, -1, f"EVTX parsing stopped: {exc}"))
        if caught:
            _report_warnings(caught, path, sink)
