"""What the healthcare parsers share: their answer type, the size limit, outcome names, times."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hygie.core.errors import RecordError

# One audit message or HL7 message is a few KiB; a 1 MiB payload is an error or an attack
# (entity expansion, deep nesting), refused before any parser allocates for it.
MAX_PAYLOAD = 1 << 20

# DICOM PS3.15 A.5 EventOutcomeIndicator, also the FHIR audit-event-outcome codes (R4 and R5).
OUTCOMES = {"0": "Success", "4": "Minor failure", "8": "Serious failure", "12": "Major failure"}

UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """A parsed payload: the fields rules and searches read, the event time (ISO 8601, UTC) and
    the host it is about, both None when the payload does not say (the pipeline then uses the
    receive time and the sender's address)."""

    fields: dict[str, Any]
    event_time: str | None
    host: str | None


def checked_bytes(payload: bytes, what: str) -> bytes:
    """``payload`` as bytes, refused when it is not bytes, empty, or larger than
    :data:`MAX_PAYLOAD`."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise RecordError(f"{what}: expected bytes, got {type(payload).__name__}")
    data = bytes(payload)
    if len(data) > MAX_PAYLOAD:
        raise RecordError(f"{what}: {len(data)} bytes is over the {MAX_PAYLOAD} byte limit "
                          "for one record")
    if not data.strip():
        raise RecordError(f"{what}: the payload is empty")
    return data


def utc_iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC (``2024-08-29T12:28:24.220000+00:00``); a naive time is taken as UTC.
    None when UTC cannot hold it (``0001-01-01T00:00:00+01:00`` is in year 0)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc).isoformat()
    except OverflowError:
        return None


def one_or_many(values: Iterable[str]) -> str | list[str] | None:
    """The distinct non-empty values, in order: None, one string, or a list (Sigma matches a
    list when any element matches, so rules read both the same way)."""
    unique = list(dict.fromkeys(v for v in values if v))
    if not unique:
        return None
    return unique[0] if len(unique) == 1 else unique


def put(fields: dict[str, Any], **values: Any) -> None:
    """Set the fields that have a value: an absent field matches no value in Sigma, whereas an
    empty string would match ``''`` and clutter searches."""
    for key, value in values.items():
        if value is not None and value != "" and value != []:
            fields[key] = value
