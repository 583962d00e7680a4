"""JSON event files: JSON lines, concatenated (pretty-printed) documents, or one array.

Gzip is detected by its magic bytes, not the file name. Offsets are 1-based line numbers for
JSON lines and byte offsets of the document start otherwise, so a user can find a bad record.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

import orjson

from hygie.core.event import InputProblem

ProblemSink = Callable[[InputProblem], None]
_CHUNK = 1 << 20
_MAX_DOCUMENT = 64 << 20  # a single JSON document larger than this is reported, not buffered


def open_maybe_gzip(path: str) -> IO[bytes]:
    """Open a file for binary reading, transparently un-gzipping it."""
    raw = open(path, "rb")  # noqa: SIM115 - the caller closes the returned stream
    if raw.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
    return raw


def _first_content_byte(stream: io.BufferedReader) -> bytes:
    head = stream.peek(4096)[:4096].lstrip()
    return head[:1]


def read_json(path: str, sink: ProblemSink) -> Iterator[tuple[int, Any]]:
    """Yield ``(offset, document)``; choose JSON-lines or concatenated mode from the content."""
    try:
        stream = io.BufferedReader(open_maybe_gzip(path), buffer_size=_CHUNK)  # type: ignore[arg-type]
        first = _first_content_byte(stream)
    except (OSError, EOFError) as exc:
        sink(InputProblem(path, 0, f"cannot read file: {exc}"))
        return
    with stream:
        try:
            if first == b"[":
                yield from _read_concatenated(stream, path, sink)
            else:
                yield from _read_lines(stream, path, sink)
        except (OSError, EOFError) as exc:  # truncated gzip and the like
            sink(InputProblem(path, -1, f"reading stopped: {exc}"))


def _read_lines(stream: IO[bytes], path: str, sink: ProblemSink) -> Iterator[tuple[int, Any]]:
    """JSON lines; falls back to concatenated mode when the file turns out pretty-printed."""
    loads = orjson.loads
    line_no = 0
    for line in stream:
        line_no += 1
        if not line.strip():
            continue
        try:
            yield line_no, loads(line)
        except orjson.JSONDecodeError as exc:
            if line_no == 1 and line.strip() in (b"{", b"["):
                rest = line + stream.read()
                yield from _read_concatenated(io.BytesIO(rest), path, sink)
                return
            sink(InputProblem(path, line_no, f"invalid JSON on line {line_no}: {exc}"))


def _read_concatenated(stream: IO[bytes], path: str, sink: ProblemSink) -> Iterator[tuple[int, Any]]:
    """Stream concatenated documents (``{..}{..}`` or a top-level array) chunk by chunk."""
    decoder = json.JSONDecoder()
    buffer = ""
    consumed = 0  # characters before ``buffer`` (an offset a person can seek to)
    in_array = False
    eof = False
    while True:
        if not eof and len(buffer) < _CHUNK:
            chunk = stream.read(_CHUNK)
            if chunk:
                buffer += chunk.decode("utf-8", errors="replace")
            else:
                eof = True
        stripped = buffer.lstrip(" \t\r\n,")
        consumed += len(buffer) - len(stripped)
        buffer = stripped
        if not in_array and buffer.startswith("["):
            in_array = True
            buffer = buffer[1:]
            consumed += 1
            continue
        if in_array and buffer.startswith("]"):
            in_array = False
            buffer = buffer[1:]
            consumed += 1
            continue
        if not buffer:
            if eof:
                return
            continue
        try:
            doc, end = decoder.raw_decode(buffer)
        except json.JSONDecodeError as exc:
            if not eof and len(buffer) < _MAX_DOCUMENT:
                chunk = stream.read(_CHUNK)
                if chunk:
                    buffer += chunk.decode("utf-8", errors="replace")
                    continue
                eof = True
                continue
            sink(InputProblem(path, consumed, f"invalid JSON document: {exc.msg}"))
            # Resynchronise on the next line that opens a document.
            cut = buffer.find("\n{", 1)
            if cut == -1:
                return
            consumed += cut
            buffer = buffer[cut:]
            continue
        yield consumed, doc
        consumed += end
        buffer = buffer[end:]
