"""RFC 6587 stream framing: both framings, any chunking, bounded memory, oversize recovery."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.sources.syslog.framing import FramingError, StreamFramer

M1 = b"<13>1 2026-01-05T10:00:00Z host app - - - first"
M2 = b"<14>Jan  5 10:00:00 host sshd[1]: second\nwith a newline inside"  # octet-counted only
M3 = b"<15>third"


def octet(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


MIXED = octet(M1) + M3 + b"\n" + octet(M2) + b"\n" + M3 + b"\r\n" + M1 + b"\x00" + octet(M3)
MIXED_OUT = [M1, M3, M2, M3, M1, M3]


def run(framer: StreamFramer, chunks: list[bytes]) -> list[bytes | FramingError]:
    out: list[bytes | FramingError] = []
    for chunk in chunks:
        out += framer.feed(chunk)
    return out + framer.close()


def test_octet_counting() -> None:
    assert run(StreamFramer(), [octet(M1) + octet(M2)]) == [M1, M2]


def test_non_transparent_lf_crlf_nul_and_empty_lines() -> None:
    stream = M1 + b"\n\n" + M3 + b"\r\n" + b"\r\n" + M1 + b"\x00\x00"
    assert run(StreamFramer(), [stream]) == [M1, M3, M1]


def test_mixed_framings_in_one_stream() -> None:
    assert run(StreamFramer(), [MIXED]) == MIXED_OUT


def test_every_split_point_gives_the_same_messages() -> None:
    for cut in range(len(MIXED) + 1):
        assert run(StreamFramer(), [MIXED[:cut], MIXED[cut:]]) == MIXED_OUT, cut
    assert run(StreamFramer(), [MIXED[i:i + 1] for i in range(len(MIXED))]) == MIXED_OUT


def test_digits_then_not_a_space_is_a_line() -> None:
    stream = b"2026-01-05 no PRI\n12345\n"
    assert run(StreamFramer(), [stream]) == [b"2026-01-05 no PRI", b"12345"]


def test_close_flushes_trailing_line_and_reports_cut_off_frame() -> None:
    framer = StreamFramer()
    assert framer.feed(M1) == []
    assert framer.close() == [M1]
    assert framer.feed(b"100 <13>cut") == []
    (error,) = framer.close()
    assert isinstance(error, FramingError) and "connection closed" in error.reason
    assert error.prefix == b"<13>cut"
    assert run(framer, [M3 + b"\r"]) == [M3]  # reset after close; trailing CR dropped


def test_oversize_line_is_discarded_and_the_stream_goes_on() -> None:
    framer = StreamFramer(max_size=1000)
    big = b"<13>" + b"x" * 5000
    out = run(framer, [M3 + b"\n" + big[:2000], big[2000:] + b"\n" + M1 + b"\n"])
    assert out[0] == M3 and out[2] == M1 and len(out) == 3
    error = out[1]
    assert isinstance(error, FramingError)
    assert error.prefix == big[:200] and "5004 bytes exceeds the limit of 1000" in error.reason


def test_oversize_octet_count_skips_exactly_that_frame() -> None:
    framer = StreamFramer(max_size=1000)
    big = b"<13>" + b"y\n" * 1500  # LFs inside: skipped by count, not by line
    out = run(framer, [octet(M1) + octet(big) + octet(M2)])
    assert out[0] == M1 and out[2] == M2 and len(out) == 3
    assert isinstance(out[1], FramingError) and out[1].prefix == big[:200]
    assert "3004 bytes exceeds" in out[1].reason


def test_malformed_count_resynchronises_on_next_lf() -> None:
    out = run(StreamFramer(), [b"123456789012 <13>garbage\n" + M3 + b"\n"])
    assert isinstance(out[0], FramingError) and "12 digits" in out[0].reason
    assert out[0].prefix.startswith(b"123456789012 <13>garbage")
    assert out[1:] == [M3]


def test_buffer_never_exceeds_max_size() -> None:
    framer = StreamFramer(max_size=4096)
    peak = 0
    streams = [b"<13>" + b"a" * 100_000, b"\n", b"9" * 50_000, b" x\n",
               octet(b"b" * 4096)[:3000], octet(b"b" * 4096)[3000:], b"60000 " + b"c" * 60_000]
    for chunk in streams * 3:
        for i in range(0, len(chunk), 7919):
            framer.feed(chunk[i:i + 7919])
            peak = max(peak, framer.buffered)
    assert peak <= 4096
    framer.feed(b"z" * 1_000_000)  # one huge chunk, no terminator
    assert framer.buffered <= 4096


messages = st.lists(
    st.binary(min_size=1, max_size=60).map(lambda b: b"<13>" + b.replace(b"\n", b" ")
                                           .replace(b"\x00", b" ").replace(b"\r", b" ")),
    min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(messages, st.lists(st.booleans(), min_size=12, max_size=12), st.data())
def test_any_chunking_gives_the_same_messages(msgs: list[bytes], counted: list[bool],
                                              data: st.DataObject) -> None:
    stream = b"".join(octet(m) if flag else m + b"\n" for m, flag in zip(msgs, counted))
    whole = run(StreamFramer(), [stream])
    assert whole == msgs
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    assert run(StreamFramer(), chunks) == whole
    assert run(StreamFramer(), [stream[i:i + 1] for i in range(len(stream))]) == whole


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.data())
def test_arbitrary_bytes_chunking_invariant_and_bounded(stream: bytes,
                                                        data: st.DataObject) -> None:
    whole = run(StreamFramer(max_size=64), [stream])
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    framer = StreamFramer(max_size=64)
    out: list[bytes | FramingError] = []
    for a, b in zip([0, *cuts], [*cuts, len(stream)]):
        out += framer.feed(stream[a:b])
        assert framer.buffered <= 64
    assert out + framer.close() == whole
    for item in whole:
        assert isinstance(item, FramingError) or 0 < len(item) <= 64
