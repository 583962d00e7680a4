"""Incremental framing of a syslog TCP/TLS byte stream into messages (RFC 6587, RFC 5425).

Senders pick a framing per connection and some switch per message, so it is detected per
message: a frame that starts with ``[1-9][0-9]* SP`` is octet-counted (``MSG-LEN SP MSG``, the
RFC 5425 form); anything else is non-transparent, ended by LF (also NUL; a trailing CR is
dropped). A syslog message proper starts with ``<``, so the two cannot be confused in practice.

Memory is bounded whatever a peer sends: the buffer never holds more than ``max_size`` bytes.
A longer message is discarded up to its frame boundary (its count, or the next LF) and a
:class:`FramingError` with its first 200 bytes takes its place, so the caller can quarantine
it and the messages after it still come out. Output does not depend on how the stream was cut
into chunks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

PREFIX_BYTES = 200
# Counts with more digits than this (>= 1 GB) are not believed: the stream is resynchronised on
# the next LF instead of skipping that many bytes.
_MAX_COUNT_DIGITS = 9
_TERMINATOR = re.compile(b"[\n\x00]")
_DIGITS = re.compile(b"[0-9]*")


@dataclass(frozen=True, slots=True)
class FramingError:
    """A frame that was discarded: why (for a person) and its first bytes (for quarantine)."""

    reason: str
    prefix: bytes


class _State(Enum):
    START = 0  # between frames
    DIGITS = 1  # a frame starting with digits: octet count or an LF-ended line, not known yet
    LINE = 2  # non-transparent frame, waiting for its terminator
    OCTETS = 3  # octet-counted frame, ``_remaining`` bytes to come
    SKIP_LINE = 4  # discarding up to the next terminator
    SKIP_COUNT = 5  # discarding ``_remaining`` more bytes


class StreamFramer:
    """Feed bytes as they arrive; get back complete messages and framing errors, in order."""

    def __init__(self, max_size: int = 64 * 1024) -> None:
        if max_size < 1:
            raise ValueError("max_size must be positive")
        self.max_size = max_size
        self._prefix_len = min(PREFIX_BYTES, max_size)
        self._buf = bytearray()
        self._state = _State.START
        self._remaining = 0  # OCTETS / SKIP_COUNT: bytes still to come
        self._total = 0  # OCTETS / SKIP_*: the frame's size (counted or seen so far)
        self._prefix = bytearray()  # SKIP_*: first bytes of the discarded frame
        self._why = ""  # SKIP_*: reason, completed with the size when the frame ends

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete message (never more than ``max_size``)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[bytes | FramingError]:
        """Consume ``data``; return the messages (and errors) it completed."""
        out: list[bytes | FramingError] = []
        i, n = 0, len(data)
        while i < n:  # every branch consumes input or changes state towards consuming it
            state = self._state
            if state is _State.START:
                first = data[i]
                if first in (0x0A, 0x00):  # empty line, or LF after an octet-counted frame
                    i += 1
                else:
                    self._state = _State.DIGITS if 0x31 <= first <= 0x39 else _State.LINE
            elif state is _State.DIGITS:
                i = self._digits(data, i, out)
            elif state is _State.LINE:
                i = self._line(data, i, out)
            elif state is _State.OCTETS:
                take = min(self._remaining, n - i)
                self._buf += data[i:i + take]
                self._remaining -= take
                i += take
                if not self._remaining:
                    out.append(bytes(self._buf))
                    self._reset()
            elif state is _State.SKIP_COUNT:
                take = min(self._remaining, n - i)
                self._keep_prefix(data[i:i + take])
                self._remaining -= take
                i += take
                if not self._remaining:
                    out.append(self._skipped())
            else:  # SKIP_LINE
                found = _TERMINATOR.search(data, i)
                end = found.start() if found else n
                self._keep_prefix(data[i:end])
                self._total += end - i
                i = end
                if found:
                    i += 1
                    out.append(self._skipped())
        return out

    def close(self) -> list[bytes | FramingError]:
        """End of connection: flush an unterminated line, report a cut-off frame, reset."""
        out: list[bytes | FramingError] = []
        state = self._state
        if state in (_State.DIGITS, _State.LINE):
            message = bytes(self._buf).removesuffix(b"\r")
            if message:
                out.append(message)
        elif state is _State.OCTETS:
            got = len(self._buf)
            out.append(FramingError(
                f"connection closed {got} bytes into a {got + self._remaining}-byte "
                "octet-counted message", bytes(self._buf[:self._prefix_len])))
        elif state is _State.SKIP_COUNT:
            seen = self._total - self._remaining
            out.append(self._skipped(f"; the connection closed after {seen}"))
        elif state is _State.SKIP_LINE:
            out.append(self._skipped())
        self._reset()
        return out

    # -- states ------------------------------------------------------------------------------

    def _digits(self, data: bytes, i: int, out: list[bytes | FramingError]) -> int:
        match = _DIGITS.match(data, i)
        end = match.end() if match else i
        if len(self._buf) + end - i > self.max_size:
            return self._overflow(data, i, end)
        self._buf += data[i:end]
        if end == len(data):
            return end
        if data[end] != 0x20:  # digits then something else: an LF-ended line
            self._state = _State.LINE
            return end
        header = bytes(self._buf)
        self._buf.clear()
        if len(header) > _MAX_COUNT_DIGITS:
            self._skip(_State.SKIP_LINE, f"malformed octet count ({len(header)} digits)",
                       header + b" ")
            self._total = len(header) + 1
            return end + 1
        count = int(header)
        if count > self.max_size:
            self._skip(_State.SKIP_COUNT, "octet-counted message", b"")
            self._remaining = self._total = count
            return end + 1
        self._state = _State.OCTETS
        self._remaining = count
        return end + 1

    def _line(self, data: bytes, i: int, out: list[bytes | FramingError]) -> int:
        found = _TERMINATOR.search(data, i)
        end = found.start() if found else len(data)
        if len(self._buf) + end - i > self.max_size:
            return self._overflow(data, i, end)
        if not found:
            self._buf += data[i:]
            return len(data)
        message = (bytes(self._buf) + data[i:end]).removesuffix(b"\r")
        self._reset()
        if message:
            out.append(message)
        return end + 1

    def _overflow(self, data: bytes, i: int, end: int) -> int:
        """The line being buffered passed ``max_size``: drop it, keep skipping to its end."""
        held = bytes(self._buf)
        self._buf.clear()
        self._skip(_State.SKIP_LINE, "message", held)
        self._keep_prefix(data[i:end])
        self._total = len(held) + end - i
        return end  # SKIP_LINE consumes the terminator, if ``end`` is one

    # -- helpers -----------------------------------------------------------------------------

    def _skip(self, state: _State, why: str, prefix: bytes) -> None:
        self._state = state
        self._why = why
        self._prefix = bytearray(prefix[:self._prefix_len])

    def _keep_prefix(self, chunk: bytes) -> None:
        room = self._prefix_len - len(self._prefix)
        if room > 0:
            self._prefix += chunk[:room]

    def _skipped(self, note: str = "") -> FramingError:
        if self._why.startswith("malformed"):
            reason = f"{self._why}: {self._total} bytes discarded up to the next LF"
        else:
            reason = f"{self._why} of {self._total} bytes exceeds the limit of {self.max_size}"
        error = FramingError(reason + note, bytes(self._prefix))
        self._reset()
        return error

    def _reset(self) -> None:
        self._buf.clear()
        self._state = _State.START
        self._remaining = self._total = 0
        self._prefix = bytearray()
        self._why = ""
