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
from hygie.core.record import ATNA, FHIR, HL7, JSON, SYSLOG, RawRecord
from hygie.normalize.healthcare import ParsedRecord, PatientPolicy
from hygie.normalize.syslog import parse_syslog, syslog_fields
from hygie.normalize.windows import RecordShapeError, normalize_record

Parser = Callable[[RawRecord, PatientPolicy], Event]


def parse_json_record(record: RawRecord, _policy: PatientPolicy) -> Event:
    """A JSON document in one of the three Windows shapes, or any flat JSON object."""
    try:
        doc = orjson.loads(record.payload)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc}") from exc
    try:
        return normalize_record(doc, record.source)
    except RecordShapeError as exc:
        raise RecordError(str(exc)) from exc


def parse_syslog_record(record: RawRecord, _policy: PatientPolicy) -> Event:
    message = parse_syslog(record.payload, record.received)
    return Event(syslog_fields(message), message.timestamp, message.hostname, record.source)


def _healthcare(parse: Callable[[bytes, PatientPolicy], ParsedRecord]) -> Parser:
    def parser(record: RawRecord, policy: PatientPolicy) -> Event:
        parsed = parse(record.payload, policy)
        return Event(parsed.fields, parsed.event_time, parsed.host, record.source)

    return parser


def _lazy(module: str, name: str) -> Callable[[bytes, PatientPolicy], ParsedRecord]:
    """hl7apy and fhir.resources load only when such a record arrives (seconds of start-up)."""

    def parse(payload: bytes, policy: PatientPolicy) -> ParsedRecord:
        import importlib

        function: Callable[[bytes, PatientPolicy], ParsedRecord] = getattr(
            importlib.import_module(module), name)
        return function(payload, policy)

    return parse


PARSERS: dict[str, Parser] = {
    JSON: parse_json_record,
    SYSLOG: parse_syslog_record,
    ATNA: _healthcare(_lazy("hygie.normalize.healthcare.atna", "parse_atna")),
    HL7: _healthcare(_lazy("hygie.normalize.healthcare.hl7", "parse_hl7")),
    FHIR: _healthcare(_lazy("hygie.normalize.healthcare.fhir", "parse_fhir_audit")),
}


def record_to_event(record: RawRecord, policy: PatientPolicy) -> Event:
    """The event of ``record``; its time defaults to the receive time (a record without a
    time of its own must still sort and correlate). ``policy`` pseudonymises patient ids."""
    parser = PARSERS.get(record.kind)
    if parser is None:
        raise RecordError(f"no parser for records of kind {record.kind!r}")
    event = parser(record, policy)
    if event.time is None:
        event.time = datetime.fromtimestamp(record.received, timezone.utc).isoformat()
    if event.host is None and record.peer:
        event.host = record.peer.rsplit(":", 1)[0]
    return event
