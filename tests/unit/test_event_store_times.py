"""The event store's reading of event times: a fast path for the text the pipeline writes
(``datetime.isoformat``), which must give what the general parser gives, on any time."""

from __future__ import annotations

from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.core.event import parse_time
from hygie.store.events.parquet_store import _event_time
from hygie.store.events.query import naive_utc


def _reference(value: object) -> datetime | None:
    moment = parse_time(value)  # type: ignore[arg-type]
    return None if moment is None or not 1970 <= moment.year <= 9999 else naive_utc(moment)


@settings(max_examples=500, deadline=None)
@given(st.datetimes(timezones=st.none() | st.timezones()), st.sampled_from(["T", " "]),
       st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]))
def test_isoformat_times_read_as_the_general_parser_reads_them(moment: datetime, sep: str,
                                                               spec: str) -> None:
    text = moment.isoformat(sep=sep, timespec=spec)
    assert _event_time(text) == _reference(text)


def test_other_shapes_and_edges() -> None:
    for value in ("2026-11-24T03:00:00.1234567Z", " 2026-11-24T03:00:00Z ", "2026-11-24",
                  "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-05:00",
                  "1969-12-31T23:59:59Z", "garbage", "", None, 5):
        assert _event_time(value) == _reference(value), value  # type: ignore[arg-type]
    assert _event_time("2026-11-24T03:00:00+02:00") == datetime(2026, 11, 24, 1)
