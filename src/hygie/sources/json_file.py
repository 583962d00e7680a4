"""JSON event files: JSON lines, concatenated (pretty-printed) documents, or one array.

Gzip is detected by its magic bytes, not the file name. Offsets are 1-based line numbers for
JSON lines and byte offsets of the document start otherwise, so a user can find a bad record.
"""

from __future__ import annotations

import codecs
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
MAX_RAW_LINE = 4 << 20  # bytes of one JSON line handed on as a record (a Windows event is KiBs)


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
    return _read(path, sink, raw=False)


def read_json_raw(path: str, sink: ProblemSink) -> Iterator[tuple[int, bytes]]:
    """Yield ``(offset, document bytes)`` as :func:`read_json` finds them, unparsed, for a
    collector that forwards records and lets the normalise stage judge them: a JSON-lines line
    comes out as it is (blanks around it stripped) even when it is not JSON, so that it is
    quarantined with its reason rather than lost. In concatenated mode a document is its own
    text (re-encoded as UTF-8); one that does not parse is reported, since its end is unknown.
    A line longer than ``MAX_RAW_LINE`` is reported and skipped without being held in memory."""
    return _read(path, sink, raw=True)


def _read(path: str, sink: ProblemSink, raw: bool) -> Iterator[tuple[int, Any]]:
    try:
        stream = io.BufferedReader(open_maybe_gzip(path), buffer_size=_CHUNK)  # type: ignore[arg-type]
        first = _first_content_byte(stream)
    except (OSError, EOFError) as exc:
        sink(InputProblem(path, 0, f"cannot read file: {exc}"))
        return
    with stream:
        try:
            if first == b"[":
                yield from _read_concatenated(stream, path, sink, raw)
            elif raw:
                yield from _raw_lines(stream, path, sink)
            else:
                yield from _read_lines(stream, path, sink)
        except (OSError, EOFError) as exc:  # truncated gzip and the like
            sink(InputProblem(path, -1, f"reading stopped: {exc}"))


def _opens_pretty_document(line_no: int, line: bytes) -> bool:
    """A first line that is a bare ``{`` or ``[``: the file is pretty-printed JSON."""
    return line_no == 1 and line.strip() in (b"{", b"[")


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
            if _opens_pretty_document(line_no, line):
                rest = line + stream.read()
                yield from _read_concatenated(io.BytesIO(rest), path, sink)
                return
            sink(InputProblem(path, line_no, f"invalid JSON on line {line_no}: {exc}"))


def _raw_lines(stream: IO[bytes], path: str, sink: ProblemSink) -> Iterator[tuple[int, bytes]]:
    """:func:`_read_lines` without parsing, each line's bytes bounded by ``MAX_RAW_LINE``."""
    line_no = 0
    while True:
        line = stream.readline(MAX_RAW_LINE + 1)
        if not line:
            return
        line_no += 1
        if len(line) > MAX_RAW_LINE and not line.endswith(b"\n"):
            size = len(line)
            while line and not line.endswith(b"\n"):  # skip the rest, a chunk at a time
                line = stream.readline(_CHUNK)
                size += len(line)
            sink(InputProblem(path, line_no, f"line {line_no} of {size:,} bytes exceeds the "
                                             f"limit of {MAX_RAW_LINE:,} for one record"))
            continue
        text = line.strip()
        if not text:
            continue
        if _opens_pretty_document(line_no, line):
            rest = line + stream.read()
            yield from _read_concatenated(io.BytesIO(rest), path, sink, raw=True)
            return
        yield line_no, text


def _read_concatenated(stream: IO[bytes], path: str, sink: ProblemSink,
                       raw: bool = False) -> Iterator[tuple[int, Any]]:
    """Stream concatenated documents (``{..}{..}`` or a top-level array) chunk by chunk; with
    ``raw``, each document's text as UTF-8 bytes instead of the decoded document."""
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")(errors="replace")  # no char cut at a chunk end
    buffer = ""
    consumed = 0  # characters before ``buffer`` (an offset a person can seek to)
    in_array = False
    eof = False
    while True:
        if not eof and len(buffer) < _CHUNK:
            chunk = stream.read(_CHUNK)
            buffer += text.decode(chunk, final=not chunk)
            if not chunk:
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
                buffer += text.decode(chunk, final=not chunk)
                if not chunk:
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
        yield consumed, buffer[:end].encode("utf-8") if raw else doc
        consumed += end
        buffer = buffer[end:]
