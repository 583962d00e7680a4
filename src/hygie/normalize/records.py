"""Received records to events: one parser per record kind, one error type for all of them.

Every parser raises ``RecordError`` with a reason a person can act on; the pipeline then
quarantines the record and goes on. The event keeps its tenant-independent fields only: the
tenant travels beside it, never inside the fields that rules and searches read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import orjson

from hygie.core.errors import RecordError
from hygie.core.event import Event
from hygie.core.record import JSON, RawRecord
from hygie.normalize.windows import RecordShapeError, normalize_record

Parser = Callable[[RawRecord], Event]


def parse_json_record(record: RawRecord) -> Event:
    """A JSON document in one of the three Windows shapes, or any flat JSON object."""
    try:
        doc = orjson.loads(record.payload)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    try:
        return normalize_record(doc, record.source)
    except RecordShapeError as exc:
        raise RecordError(str(exc)) from exc


PARSERS: dict[str, Parser] = {JSON: parse_json_record}


def record_to_event(record: RawRecord) -> Event:
    """The event of ``record``; its time defaults to the receive time (a record without a
    time of its own must still sort and correlate)."""
    parser = PARSERS.get(record.kind)
    if parser is None:
        raise RecordError(f"no parser for records of kind {record.kind!r}")
    event = parser(record)
    if event.time is None:
        event.time = datetime.fromtimestamp(record.received, timezone.utc).isoformat()
    if event.host is None and record.peer:
        event.host = record.peer.rsplit(":", 1)[0]
    return event
