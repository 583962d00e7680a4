"""HL7 v2 messages (ADT, ORM, ORU, ACK...) to flat fields, parsed with hl7apy.

Interface engines and HIS/RIS/LIS exchange HL7 v2 over MLLP; a SOC reads them to see who sends
what to whom (a new sending application, messages at 3 a.m., a flood of rejects) and to link
patient movements with audit trails. One payload is one message: MLLP framing (0x0B ... 0x1C
0x0D) is removed, and segments may end with ``\\r`` (the standard), ``\\r\\n`` or ``\\n``.

hl7apy parses the segments fields are read from (tolerant validation: real feeds rarely match the
standard's cardinalities, and rejecting them would blind the SOC); the fields are then read by
position from them. Before hl7apy sees the text, the MSH header and every segment id are checked
here so that a bad record gets a reason a person understands rather than a library's internal
error. hl7apy is slow (2 ms an OBX segment), so it is given only those segments, bounded in
size: a 1 MiB message costs milliseconds, not a minute of the detection stage's time.

Patient data: only PID-3.1 (the patient id, pseudonymised by the :class:`PatientPolicy`) and
MRG-1.1 (a merged patient's prior id, likewise) are taken from patient segments; names, birth
dates, addresses, phone numbers and notes never become fields. MSA-3 and ERR texts are the
receiver's own words: they are kept because they explain rejects, but a receiver that quotes
patient data there would leak it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.exceptions import UnsupportedVersion
from hl7apy.parser import parse_message

from hygie.core.errors import RecordError
from hygie.normalize.healthcare._common import ParsedRecord, checked_bytes, put, utc_iso
from hygie.normalize.healthcare.identifiers import PatientPolicy

WHAT = "HL7 v2 message"
MLLP_START, MLLP_END = b"\x0b", b"\x1c"
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
# HL7 DTM: YYYY[MM[DD[HH[MM[SS[.S[S[S[S]]]]]]]]][+/-ZZZZ]
_DTM = re.compile(r"(\d{4})(\d\d)?(\d\d)?(\d\d)?(\d\d)?(\d\d)?(?:\.(\d{1,4}))?([+-]\d{4})?\Z")

Segments = list[tuple[str, dict[int, list[str]]]]
SEGMENTS_READ = ("MSH", "EVN", "PID", "PV1", "MRG", "MSA", "ERR")
MAX_ELEMENTS = 2000


class _Separators:
    """MSH-1 and MSH-2: field, component, repetition, escape and subcomponent characters."""

    def __init__(self, msh: str) -> None:
        self.field = msh[3]
        encoding = msh[4:].split(self.field, 1)[0]
        if (len(encoding) not in (4, 5) or len(set(encoding)) != len(encoding)
                or self.field in encoding
                or any(c.isalnum() or c.isspace() for c in encoding)):
            raise RecordError(
                f"{WHAT}: MSH-2 encoding characters {encoding[:8]!r} are invalid: expected 4 "
                "distinct punctuation characters other than the field separator (component, "
                "repetition, escape, subcomponent; usually '^~\\&')")
        self.component, self.repetition = encoding[0], encoding[1]
        self.escape, self.subcomponent = encoding[2], encoding[3]

    def unescape(self, text: str) -> str:
        """Undo HL7 escapes (``\\F\\`` -> field separator...); formatting escapes are dropped."""
        if self.escape not in text:
            return text
        esc = re.escape(self.escape)
        plain = {"F": self.field, "S": self.component, "T": self.subcomponent,
                 "R": self.repetition, "E": self.escape, ".br": " "}

        def one(match: re.Match[str]) -> str:
            code = match.group(1)
            if code in plain:
                return plain[code]
            if code[:1] == "X" and len(code) % 2 == 1:
                try:
                    return bytes.fromhex(code[1:]).decode("latin-1")
                except ValueError:
                    return ""
            return ""

        return re.sub(f"{esc}([^{esc}]{{1,32}}){esc}", one, text)


def parse_hl7(payload: bytes, policy: PatientPolicy) -> ParsedRecord:
    """Fields of one HL7 v2 message (``LogSource`` ``hl7v2``); ``event_time`` from MSH-7,
    ``host`` from MSH-24 (sending network address, v2.7+) when present, else None (the
    pipeline then uses the sender's address)."""
    lines = _segments(_text(_unframe(checked_bytes(payload, WHAT))))
    seps = _check(lines)
    first = dict(_hl7apy_segments("\r".join(_segments_read(lines, seps)), lines[0]))

    def get(segment: str, field: int, component: int = 1, sub: int = 1) -> str:
        values = first.get(segment, {}).get(field)
        return _component(values[0], component, sub, seps) if values else ""

    out: dict[str, Any] = {"LogSource": "hl7v2"}
    stamp = get("MSH", 7)
    put(out, MessageType=get("MSH", 9), TriggerEvent=get("MSH", 9, 2),
        MessageStructure=get("MSH", 9, 3),
        SendingApplication=get("MSH", 3) or get("MSH", 3, 2),
        SendingFacility=get("MSH", 4) or get("MSH", 4, 2),
        ReceivingApplication=get("MSH", 5) or get("MSH", 5, 2),
        ReceivingFacility=get("MSH", 6) or get("MSH", 6, 2),
        MessageDateTime=stamp, MessageControlID=get("MSH", 10),
        ProcessingID=get("MSH", 11), VersionID=get("MSH", 12),
        SendingNetworkAddress=get("MSH", 24) or get("MSH", 24, 2),
        AckCode=get("MSA", 1), AckMessageControlID=get("MSA", 2), AckText=get("MSA", 3),
        # ERR-3 (v2.5+) is the HL7 error code; before 2.5 it is ERR-1.4 (ELD, a CE inside)
        ErrorCode=get("ERR", 3) or get("ERR", 1, 4),
        ErrorText=get("ERR", 3, 2) or get("ERR", 1, 4, 2), ErrorSeverity=get("ERR", 4),
        OperatorID=get("EVN", 5), PatientClass=get("PV1", 2))
    patient = _patient_id(first.get("PID", {}), seps)
    prior = get("MRG", 1)
    put(out, PatientID=policy.apply(patient) if patient else None,
        PriorPatientID=policy.apply(prior) if prior else None,
        Segments=[line[:3] for line in lines], SegmentCount=len(lines))
    host = out.get("SendingNetworkAddress")
    return ParsedRecord(out, utc_iso(parse_dtm(stamp)), host)


def _patient_id(pid: dict[int, list[str]], seps: _Separators) -> str:
    """PID-3.1 of the first repetition that has one (PID-3 may list MRN, national ids...),
    else PID-2.1 (the external id of versions before 2.3.1)."""
    for field in (3, 2):
        for repetition in pid.get(field, []):
            value = _component(repetition, 1, 1, seps)
            if value:
                return value
    return ""


def _component(field: str, component: int, sub: int, seps: _Separators) -> str:
    """Component ``component`` (1-based), subcomponent ``sub``, unescaped, of a field's ER7."""
    parts = field.split(seps.component)
    if component > len(parts):
        return ""
    subs = parts[component - 1].split(seps.subcomponent)
    return seps.unescape(subs[sub - 1]).strip() if sub <= len(subs) else ""


def parse_dtm(text: str) -> datetime | None:
    """An HL7 DTM/TS as an aware datetime; without an offset the time is taken as UTC (the
    sender's zone is not in the message). None when it is not a valid time."""
    match = _DTM.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        zone = timezone.utc
        if offset:
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:])))
        return datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                        int(minute or 0), int(second or 0),
                        int((fraction or "0").ljust(6, "0")), tzinfo=zone)
    except ValueError:
        return None


def _unframe(data: bytes) -> bytes:
    """The message inside MLLP framing, if any (start 0x0B, end 0x1C 0x0D)."""
    data = data.strip()
    if data.startswith(MLLP_START):
        data = data[1:]
    end = data.find(MLLP_END)
    if end >= 0:
        if data[end + 1:].strip(b"\r\n\x0b\x1c \t"):
            raise RecordError(f"{WHAT}: data after the MLLP end block (0x1C): one record must "
                              "hold one message")
        data = data[:end]
    return data.strip()


def _text(data: bytes) -> str:
    """UTF-8, else ISO-8859-1 (MSH-18 is often absent or wrong; every byte decodes)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _segments(text: str) -> list[str]:
    """Segments split on ``\\r`` (with an optional ``\\n`` after it), or on ``\\n`` when the
    message has no ``\\r`` at all; a ``\\n`` inside a ``\\r``-ended segment is its text."""
    if "\r" in text:
        parts = text.replace("\r\n", "\r").split("\r")
    else:
        parts = text.split("\n")
    return [p for p in (part.strip("\n") for part in parts) if p.strip()]


def _check(lines: list[str]) -> _Separators:
    """The separators, once MSH and every segment id are checked."""
    if not lines or not lines[0].startswith("MSH"):
        start = lines[0][:3] if lines else ""
        raise RecordError(f"{WHAT}: it must start with an MSH segment ('MSH|^~\\&|...'); "
                          f"it starts with {start!r}")
    msh = lines[0]
    if len(msh) < 8 or msh[3].isalnum() or msh[3].isspace():
        raise RecordError(f"{WHAT}: MSH-1 (the field separator, the character after 'MSH') "
                          "is missing or is a letter, digit or blank")
    seps = _Separators(msh)
    for number, line in enumerate(lines[1:], start=2):
        name = line[:3]
        if not _SEGMENT_ID.match(name) or (len(line) > 3 and line[3] != seps.field):
            raise RecordError(f"{WHAT}: segment {number} does not start with a segment id "
                              f"(3 capitals or digits, e.g. PID) followed by {seps.field!r}")
        if name == "MSH":
            raise RecordError(f"{WHAT}: segment {number} is a second MSH: one record must "
                              "hold one message")
    return seps


def _segments_read(lines: list[str], seps: _Separators) -> list[str]:
    """The first segment of each id that fields are read from: all hl7apy is given. Its cost
    grows with every segment and repetition (2 ms an OBX segment, 40 s for a 1 MiB message),
    so the rest of the message (OBX results, notes, Z-segments) is not parsed, and the read
    segments together may hold at most ``MAX_ELEMENTS`` separators (a real one, a few hundred)."""
    wanted: dict[str, str] = {}
    for line in lines:
        if line[:3] in SEGMENTS_READ:
            wanted.setdefault(line[:3], line)
    marks = (seps.field, seps.component, seps.repetition, seps.subcomponent)
    count = sum(line.count(mark) for line in wanted.values() for mark in marks)
    if count > MAX_ELEMENTS:
        raise RecordError(f"{WHAT}: its {', '.join(wanted)} segments hold {count:,} fields, "
                          f"components and repetitions, over the limit of {MAX_ELEMENTS:,} "
                          "(a message that large is an error or an attack)")
    return list(wanted.values())


def _hl7apy_segments(text: str, msh: str) -> Segments:
    """hl7apy's parse, read into (segment id, {field number: [ER7 of each repetition]})."""
    try:
        message = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT,
                                find_groups=False)
        return [(segment.name, _fields(segment)) for segment in message.children]
    except UnsupportedVersion:
        fields = msh.split(msh[3])
        version = fields[11].split(msh[4])[0].strip() if len(fields) > 11 else ""
        if not version:
            raise RecordError(f"{WHAT}: MSH-12 (version id) is empty") from None
        raise RecordError(f"{WHAT}: HL7 version {version[:16]!r} (MSH-12) is not supported: "
                          "expected 2.1 to 2.8.2") from None
    except Exception as exc:  # hl7apy's errors are not all HL7apyException (IndexError...)
        raise RecordError(f"{WHAT}: hl7apy could not parse it: {type(exc).__name__}: "
                          f"{str(exc)[:200]}") from None


def _fields(segment: Any) -> dict[int, list[str]]:
    """{field number: [ER7 of each repetition]} of an hl7apy segment (``PID_3`` -> 3)."""
    numbered: dict[int, list[str]] = {}
    for child in segment.children:
        _, _, number = child.name.rpartition("_")
        if number.isdigit():
            numbered.setdefault(int(number), []).append(child.to_er7())
    return numbered
