"""Received records to events: one parser per record kind, one error type for all of them.

Every parser raises ``RecordError`` with a reason a person can act on; the pipeline then
quarantines the record and goes on. The event keeps its tenant-independent fields only: the
tenant travels beside it, never inside the fields that rules and searches read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from dataclasses import replace
from datetime import datetime, timezone

import orjson

from hygie.core.errors import RecordError
from hygie.core.event import Event, parse_time
from hygie.core.record import ATNA, FHIR, HL7, JSON, SYSLOG, RawRecord
from hygie.normalize.healthcare import ParsedRecord, PatientPolicy
from hygie.normalize.syslog import SyslogMessage, parse_syslog, syslog_fields
from hygie.normalize.windows import RecordShapeError, normalize_record

Parser = Callable[[RawRecord, PatientPolicy], Event]
# A Windows event is a few KiB (an EVTX record at most 64 KiB), an audit or HL7 message too:
# a larger payload is an error or an attack, refused before a parser allocates for it.
MAX_RECORD_BYTES = 1 << 20
MAX_HOST = 255  # a DNS name is at most 253 characters


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


def parse_syslog_record(record: RawRecord, policy: PatientPolicy) -> Event:
    """A syslog message; one whose MSG is a DICOM ``<AuditMessage>`` (how dcm4chee and other
    PACS send IHE ATNA audits) becomes that audit's event, so ATNA rules see it."""
    message = parse_syslog(record.payload, record.received)
    xml = message.message.lstrip(" \t\r\n\ufeff")
    if _ATNA_XML.match(xml):
        return _atna_in_syslog(record, message, xml, policy)
    return Event(syslog_fields(message), message.timestamp, message.hostname, record.source)


# An XML declaration (bounded: no backtracking on a hostile one), then the AuditMessage root or
# a DOCTYPE naming it (which the ATNA parser refuses: the record is quarantined, not kept).
_ATNA_XML = re.compile(r"(?:<\?xml[^>]{0,512}\?>\s*)?"
                       r"(?:<!DOCTYPE\s+|<)(?:[A-Za-z_][\w.-]{0,64}:)?AuditMessage[\s>/\[]")


def _atna_in_syslog(record: RawRecord, message: SyslogMessage, xml: str,
                    policy: PatientPolicy) -> Event:
    """The audit's fields plus the syslog header's (``host``, ``app_name``...); the time and host
    are the audit's (EventDateTime, AuditSourceID), else the header's. The XML itself is not
    kept as ``message``: it holds the patient's name, which fields never do. An audit that
    cannot be read raises ``RecordError`` (quarantined, not turned into a plain message)."""
    parsed = _parse_atna(xml.encode("utf-8"), policy)
    fields = syslog_fields(replace(message, message=""))
    fields.pop("message", None)
    fields.update(parsed.fields)
    return Event(fields, parsed.event_time or message.timestamp,
                 parsed.host or message.hostname, record.source)


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


_parse_atna = _lazy("hygie.normalize.healthcare.atna", "parse_atna")

PARSERS: dict[str, Parser] = {
    JSON: parse_json_record,
    SYSLOG: parse_syslog_record,
    ATNA: _healthcare(_parse_atna),
    HL7: _healthcare(_lazy("hygie.normalize.healthcare.hl7", "parse_hl7")),
    FHIR: _healthcare(_lazy("hygie.normalize.healthcare.fhir", "parse_fhir_audit")),
}


MAX_DEPTH = 64  # nesting of a field's value: the stores (JSON columns) must serialise it


def _check_depth(fields: dict[str, Any]) -> None:
    """Refuse an event whose fields nest deeper than ``MAX_DEPTH`` (iterative: hostile
    nesting cannot exhaust the stack), so that no store fails on it later and a whole
    batch with it."""
    stack: list[tuple[Any, int]] = [(value, 1) for value in fields.values()]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth >= MAX_DEPTH:
            raise RecordError(f"a field nests deeper than {MAX_DEPTH} levels of objects or "
                              "arrays (no log source writes that)")
        stack.extend((child, depth + 1) for child in children)


def record_to_event(record: RawRecord, policy: PatientPolicy) -> Event:
    """The event of ``record``. ``policy`` pseudonymises patient ids.

    Whatever the sender wrote, the event's time is ISO 8601 in UTC: its own time, parsed, or
    the receive time when it has none that can be read (a record must still sort and
    correlate); its host is a string of at most ``MAX_HOST`` characters (else the sender's
    address, or None). Later stages and stores can then rely on both. A payload over
    ``MAX_RECORD_BYTES`` is refused before any parser spends time on it."""
    parser = PARSERS.get(record.kind)
    if parser is None:
        raise RecordError(f"no parser for records of kind {record.kind!r}")
    if len(record.payload) > MAX_RECORD_BYTES:
        raise RecordError(f"record of {len(record.payload):,} bytes exceeds the limit of "
                          f"{MAX_RECORD_BYTES:,} bytes for one record")
    event = parser(record, policy)
    payload = record.payload
    if payload.count(b"{") + payload.count(b"[") > MAX_DEPTH:  # cheap test first, walk if needed
        _check_depth(event.fields)
    when = parse_time(event.time)
    if when is None:
        try:
            when = datetime.fromtimestamp(record.received, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise RecordError(f"receive time {record.received!r} is out of range") from None
    event.time = when.isoformat()
    host = event.host
    if host.__class__ is not str or not host.strip():
        host = record.peer.rsplit(":", 1)[0] if record.peer else None
    event.host = host[:MAX_HOST] if host else None
    return event
