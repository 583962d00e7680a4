"""Reading event times: ``parse_time`` tries ``datetime.fromisoformat`` on the text as it comes
(in C: the pipeline's own ISO 8601, and most senders'), and only then the loose reading
(blanks, a space for ``T``, 7 fractional digits). Both must give the same answer wherever the
first one answers, and the event store's reading of times rests on it (with its own fast path
for the pipeline's ``+00:00`` times, which must agree with ``parse_time`` too)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.core.event import _parse_time_loosely, parse_time
from hygie.store.events.parquet_store import _event_micros
from hygie.store.events.query import naive_utc


@settings(max_examples=500, deadline=None)
@given(st.datetimes(timezones=st.none() | st.timezones()), st.sampled_from(["T", " "]),
       st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
def test_isoformat_times_read_as_the_loose_reading_reads_them(moment: datetime, sep: str,
                                                               spec: str) -> None:
    text = moment.isoformat(sep=sep, timespec=spec)
    assert parse_time(text) == _parse_time_loosely(text)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789-:T .,+Zz W", max_size=32))
def test_any_text_reads_as_the_loose_reading_reads_it(text: str) -> None:
    assert parse_time(text) == _parse_time_loosely(text) or not text


def test_other_shapes_and_edges() -> None:
    for value in ("2026-11-24T03:00:00.1234567Z", " 2026-11-24T03:00:00Z ", "2026-11-24",
                  "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00", "garbage"):
        assert parse_time(value) == _parse_time_loosely(value), value
    assert parse_time("") is None and parse_time(None) is None and parse_time(5) is None  # type: ignore[arg-type]
    assert _event_micros("2026-11-24T03:00:00+02:00") == _micros(datetime(2026, 11, 24, 1))
    assert _event_micros("1969-12-31T23:59:59Z") is None  # before the store's range
    assert _event_micros("1969-12-31T23:59:59+00:00") is None
    assert _event_micros("9999-12-31T23:59:59-05:00") is None  # beyond what UTC holds
    assert _event_micros("2026-11-24T03:00:00+05:00+00:00") is None  # two offsets: unreadable
    assert _event_micros("garbage+00:00") is None and _event_micros(None) is None
    moment = parse_time("2026-11-24T03:00:00.5Z")
    assert moment is not None and _event_micros("2026-11-24T03:00:00.5Z") == _micros(naive_utc(moment))


def _micros(naive: datetime) -> int:
    return (naive - datetime(1970, 1, 1)) // timedelta(microseconds=1)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(min_value=datetime(1960, 1, 1), timezones=st.none() | st.timezones()),
       st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
def test_event_store_reads_times_as_parse_time_does(moment: datetime, spec: str) -> None:
    """The store's fast path for ``+00:00`` and its general path give what ``parse_time``
    gives, in the store's range (1970 on)."""
    for text in (moment.isoformat(timespec=spec),
                 _utc_or_none(moment).isoformat(timespec=spec) if _utc_or_none(moment) else None):
        if text is None:
            continue
        parsed = parse_time(text)
        expected = None if parsed is None or not 1970 <= parsed.year <= 9999 else _micros(naive_utc(parsed))
        assert _event_micros(text) == expected, text


def _utc_or_none(moment: datetime) -> datetime | None:
    try:
        return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        return None
