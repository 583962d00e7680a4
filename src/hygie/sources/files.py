"""Walk the paths a user names and pick the reader for each file by its content."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from hygie.core.event import InputProblem

EVTX_MAGIC = b"ElfFile\x00"
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson", ".log", ".gz")


def discover(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Path | InputProblem]:
    """Expand folders (recursively, sorted for reproducible output) into files."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_log_file_name(child.name):
                    yield child
        elif path.is_file():
            yield path
        else:
            yield InputProblem(str(path), 0, "no such file or folder")


def is_log_file_name(name: str) -> bool:
    """Whether a file found in a folder is read: ``.evtx`` or one of ``JSON_SUFFIXES``."""
    return Path(name).suffix.lower() == ".evtx" or name.lower().endswith(JSON_SUFFIXES)


def kind_of(path: Path) -> str:
    """``evtx``, ``evtx.gz`` or ``json``, from the first bytes (names lie; magic bytes do not)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if head[:2] == b"\x1f\x8b":
                handle.seek(0)
                with gzip.GzipFile(fileobj=handle) as unpacked:
                    return "evtx.gz" if unpacked.read(8) == EVTX_MAGIC else "json"
    except (OSError, EOFError):
        return "json"
    return "evtx" if head == EVTX_MAGIC else "json"
