"""DICOM / IHE ATNA audit messages (DICOM PS3.15 Annex A.5) to flat fields.

PACS, modalities and IHE actors (dcm4chee-arc among them) send one ``<AuditMessage>`` per
event, usually as the MSG of an RFC 5424 syslog message, sometimes after a UTF-8 BOM. Both the
current attribute names (``csd-code``/``originalText``) and those of DICOM 2004 / RFC 3881
(``code``/``displayName``) are read.

The XML comes from the network, so it is parsed without DTDs: a ``<!DOCTYPE>`` is refused
outright, which stops billion-laughs entity expansion and external entities (file or URL reads)
alike; audit messages never need one. With ``defusedxml`` installed its parser is used with
``forbid_dtd``; otherwise expat (standard library) with handlers that refuse the DTD, any
entity declaration and any external reference, plus a nesting limit. Either way such input
raises :class:`RecordError`.

Patient data: the patient's id is pseudonymised by the :class:`PatientPolicy`; the patient's
name (``ParticipantObjectName``), queries (``ParticipantObjectQuery``, which hold the searched
name or birth date), details and free-text descriptions are never copied into the fields.
Study Instance UIDs are kept: they identify an examination, not a person, and hunting needs them.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any
from xml.parsers import expat

from hygie.core.errors import RecordError
from hygie.core.event import parse_time
from hygie.normalize.healthcare._common import (
    OUTCOMES,
    UTF8_BOM,
    ParsedRecord,
    checked_bytes,
    one_or_many,
    put,
    utc_iso,
)
from hygie.normalize.healthcare.identifiers import PatientPolicy

_defused_et: Any = None  # defusedxml.ElementTree when installed
_DefusedError: type[Exception] = ValueError
try:  # optional: the standard-library path below gives the same protection
    import defusedxml
    import defusedxml.ElementTree

    _defused_et, _DefusedError = defusedxml.ElementTree, defusedxml.DefusedXmlException
except ImportError:  # pragma: no cover - depends on the environment
    pass

WHAT = "DICOM audit message"
MAX_DEPTH = 32  # A.5 messages are 4 levels deep; deeper input is not an audit message
SEARCH_WINDOW = 4096  # how far into the payload a syslog header may push the XML
_ROOT_START = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?AuditMessage[\s>/]")

# DICOM PS3.16 CID 400 (Audit Event ID): names for messages whose EventID has no text.
EVENT_NAMES = {
    "110100": "Application Activity", "110101": "Audit Log Used",
    "110102": "Begin Transferring DICOM Instances", "110103": "DICOM Instances Accessed",
    "110104": "DICOM Instances Transferred", "110105": "DICOM Study Deleted",
    "110106": "Export", "110107": "Import", "110108": "Network Entry",
    "110109": "Order Record", "110110": "Patient Record", "110111": "Procedure Record",
    "110112": "Query", "110113": "Security Alert", "110114": "User Authentication",
}
# CID 402: "Destination Role ID" (a node) and "Destination Media" (an export's disc or USB key)
DESTINATION_ROLES = frozenset({"110152", "110154"})
AE_TITLE_TYPE = "110119"  # UserIDTypeCode "Station AE Title" (current DICOM)
LEGACY_AE_PREFIX = "AETITLES="  # AlternativeUserID convention of DICOM 2004-2015
STUDY_UID_TYPE = "110180"  # ParticipantObjectIDTypeCode "Study Instance UID"
SOP_CLASS_TYPE = "110181"
# RFC 3881 ParticipantObjectIDTypeCode values that identify a person or their care:
# 1 medical record, 2 patient number, 3 encounter, 4 enrollee, 5 SSN, 6 account, 7 guarantor.
PERSON_ID_TYPES = frozenset({"1", "2", "3", "4", "5", "6", "7"})
PATIENT_ID_TYPES = frozenset({"1", "2"})
TYPE_PERSON, ROLE_PATIENT = "1", "1"


class _Forbidden(Exception):
    """Raised from inside expat's handlers: the input uses a construct we refuse."""


def parse_atna(payload: bytes, policy: PatientPolicy) -> ParsedRecord:
    """Fields of one DICOM audit message (``LogSource`` ``dicom_atna``); ``event_time`` from
    EventDateTime, ``host`` the AuditSourceID or else the requestor's network address."""
    root = _parse_xml(_xml_part(checked_bytes(payload, WHAT)))
    if root.tag != "AuditMessage":
        raise RecordError(f"{WHAT}: the root element is <{_clip(root.tag)}>, expected "
                          "<AuditMessage> (DICOM PS3.15 A.5)")
    fields: dict[str, Any] = {"LogSource": "dicom_atna"}
    time_text = _event(root, fields)
    requestor_address = _participants(root, fields)
    source = root.find("AuditSourceIdentification")
    if source is not None:
        type_codes = [_code(el)[0] for el in source.findall("AuditSourceTypeCode")]
        put(fields, AuditSourceID=_attr(source, "AuditSourceID"),
            AuditEnterpriseSiteID=_attr(source, "AuditEnterpriseSiteID"),
            AuditSourceTypeCode=one_or_many([*type_codes, _attr(source, "AuditSourceTypeCode")]))
    _objects(root, fields, policy)
    event_time = utc_iso(parse_time(time_text)) if time_text else None
    return ParsedRecord(fields, event_time, fields.get("AuditSourceID") or requestor_address)


def _event(root: ET.Element, fields: dict[str, Any]) -> str:
    """EventIdentification into ``fields``; returns EventDateTime as written."""
    event = root.find("EventIdentification")
    if event is None:
        raise RecordError(f"{WHAT}: <AuditMessage> has no <EventIdentification> "
                          "(required by DICOM PS3.15 A.5)")
    code, name = _code(event.find("EventID"))
    if not code:
        raise RecordError(f"{WHAT}: <EventIdentification> has no <EventID> with a csd-code "
                          "(or DICOM 2004 'code') attribute")
    outcome = _attr(event, "EventOutcomeIndicator")
    type_codes = [_code(el) for el in event.findall("EventTypeCode")]
    put(fields, EventID=code, EventIDName=name or EVENT_NAMES.get(code),
        EventActionCode=_attr(event, "EventActionCode"),
        EventDateTime=_attr(event, "EventDateTime"),
        EventOutcomeIndicator=outcome, EventOutcome=OUTCOMES.get(outcome),
        EventTypeCode=one_or_many(c for c, _ in type_codes),
        EventTypeCodeName=one_or_many(n for _, n in type_codes))
    return _attr(event, "EventDateTime")


def _participants(root: ET.Element, fields: dict[str, Any]) -> str:
    """ActiveParticipant elements: the requestor's identity under plain names (``UserID``...),
    destinations (nodes and export media) under ``Destination…``; returns the requestor's
    network address."""
    participants = root.findall("ActiveParticipant")
    requestor = next((p for p in participants
                      if _attr(p, "UserIsRequestor").lower() in ("true", "1")), None)
    address = ""
    if requestor is not None:
        address = _attr(requestor, "NetworkAccessPointID")
        put(fields, UserID=_attr(requestor, "UserID"),
            AlternativeUserID=_attr(requestor, "AlternativeUserID"),
            UserName=_attr(requestor, "UserName"),
            UserIDTypeCode=_code(requestor.find("UserIDTypeCode"))[0],
            UserTypeCode=_attr(requestor, "UserTypeCode"),
            SourceAETitle=_ae_title(requestor),
            NetworkAccessPointID=address,
            NetworkAccessPointTypeCode=_attr(requestor, "NetworkAccessPointTypeCode"),
            RoleIDCode=one_or_many(_code(el)[0] for el in requestor.findall("RoleIDCode")))
    destinations = [p for p in participants
                    if any(_code(el)[0] in DESTINATION_ROLES for el in p.findall("RoleIDCode"))]
    put(fields, ActiveParticipantCount=len(participants),
        DestinationUserID=one_or_many(_attr(p, "UserID") for p in destinations),
        DestinationAETitle=one_or_many(_ae_title(p) for p in destinations),
        DestinationNetworkAccessPointID=one_or_many(
            _attr(p, "NetworkAccessPointID") for p in destinations),
        DestinationMediaType=one_or_many(
            _code(el)[0] for p in destinations for el in p.iter("MediaType")))
    return address


def _ae_title(participant: ET.Element) -> str:
    """The participant's AE title: its UserID when UserIDTypeCode is 110119 "Station AE Title"
    (current DICOM), else the first of ``AETITLES=A;B`` in AlternativeUserID (DICOM 2004)."""
    if _code(participant.find("UserIDTypeCode"))[0] == AE_TITLE_TYPE:
        return _attr(participant, "UserID")
    alternative = _attr(participant, "AlternativeUserID")
    if alternative.upper().startswith(LEGACY_AE_PREFIX):
        return alternative[len(LEGACY_AE_PREFIX):].split(";", 1)[0].strip()
    return ""


def _objects(root: ET.Element, fields: dict[str, Any], policy: PatientPolicy) -> None:
    """ParticipantObjectIdentification: patients (pseudonymised), studies, other objects (a
    person's or encounter's id pseudonymised too), SOP classes and the number of instances."""
    patients: list[str] = []
    studies: list[str] = []
    others: list[str] = []
    id_types: list[str] = []
    sop_classes: list[str] = []
    instances = 0
    objects = root.findall("ParticipantObjectIdentification")
    for obj in objects:
        value = _attr(obj, "ParticipantObjectID")
        id_type, _ = _code(obj.find("ParticipantObjectIDTypeCode"))
        id_types.append(id_type)
        type_code = _attr(obj, "ParticipantObjectTypeCode")
        role = _attr(obj, "ParticipantObjectTypeCodeRole")
        if role == ROLE_PATIENT or id_type in PATIENT_ID_TYPES:
            patients.append(policy.apply(value) if value else "")
        elif id_type == STUDY_UID_TYPE:
            studies.append(value)
        elif type_code == TYPE_PERSON or id_type in PERSON_ID_TYPES:
            others.append(policy.apply(value) if value else "")
        else:
            others.append(value)
        for sop in obj.iter("SOPClass"):
            sop_classes.append(_attr(sop, "UID"))
            count = _attr(sop, "NumberOfInstances")
            instances += int(count) if count.isdigit() and len(count) < 10 else 0
    put(fields, ParticipantObjectCount=len(objects), PatientID=one_or_many(patients),
        StudyInstanceUID=one_or_many(studies), ParticipantObjectID=one_or_many(others),
        ParticipantObjectIDTypeCode=one_or_many(id_types),
        SOPClassUID=one_or_many(sop_classes), NumberOfInstances=instances or None)


def _code(element: ET.Element | None) -> tuple[str, str]:
    """(code, text) of a coded element, current names first, then DICOM 2004 / RFC 3881."""
    if element is None:
        return "", ""
    code = _attr(element, "csd-code") or _attr(element, "code")
    return code, _attr(element, "originalText") or _attr(element, "displayName")


def _attr(element: ET.Element, name: str) -> str:
    return (element.get(name) or "").strip()


def _clip(text: str, size: int = 40) -> str:
    return text if len(text) <= size else text[:size] + "…"


def _xml_part(data: bytes) -> bytes:
    """The XML document in ``data``: the whole payload, after an optional BOM, or what follows
    a syslog header (the MSG of an RFC 5424 message starts with a BOM or directly with XML)."""
    data = data.lstrip()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):].lstrip()
    if data.startswith(b"<?xml") or _ROOT_START.match(data):
        return data
    window = data[:SEARCH_WINDOW]
    starts = [i for i in (window.find(b"<?xml"),) if i >= 0]
    match = _ROOT_START.search(window)
    if match:
        starts.append(match.start())
    if not starts:
        raise RecordError(f"{WHAT}: expected XML with an <AuditMessage> root (alone, after a "
                          f"UTF-8 BOM, or as a syslog message's text); found neither '<?xml' "
                          f"nor '<AuditMessage' in the first {SEARCH_WINDOW} bytes")
    start = min(starts)
    if b"<!DOCTYPE" in data[:start]:  # cutting it off would hide an attack, not refuse it
        raise RecordError(f"{WHAT} refused: a document type declaration (<!DOCTYPE>) comes "
                          "before the root; DTDs and entities are not allowed (they enable "
                          "entity-expansion and external-entity attacks)")
    return data[start:]


def _parse_xml(data: bytes) -> ET.Element:
    """The element tree of ``data`` with namespace prefixes dropped; DTDs refused."""
    if _defused_et is not None:
        try:
            root: ET.Element = _defused_et.fromstring(data, forbid_dtd=True,
                                                      forbid_entities=True,
                                                      forbid_external=True)
        except _DefusedError as exc:
            raise RecordError(f"{WHAT} refused: {exc} (DTDs and entities are not allowed: "
                              "they enable entity-expansion and external-entity attacks)") from None
        except ET.ParseError as exc:
            raise RecordError(f"{WHAT}: not well-formed XML: {exc}") from None
        except (LookupError, ValueError) as exc:
            raise _encoding_error(exc) from None
        stack = [(root, 1)]
        while stack:  # the nesting limit that the expat path applies while parsing
            element, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise RecordError(f"{WHAT} refused: elements nested more than {MAX_DEPTH} deep")
            element.tag = _local(element.tag)
            element.attrib = {_local(k): v for k, v in element.attrib.items()}
            stack.extend((child, depth + 1) for child in element)
        return root
    return _parse_with_expat(data)


def _parse_with_expat(data: bytes) -> ET.Element:
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    depth = 0

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _Forbidden(f"elements nested more than {MAX_DEPTH} deep")
        builder.start(_local(name), {_local(k): v for k, v in attrs.items()})

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_local(name))

    def refuse(what: str) -> Any:
        def handler(*_: object) -> None:
            raise _Forbidden(what)
        return handler

    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse("a document type declaration (<!DOCTYPE>)")
    parser.EntityDeclHandler = refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = refuse("an unparsed entity declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity reference")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except _Forbidden as exc:
        raise RecordError(f"{WHAT} refused: it contains {exc}; DTDs and entities are not "
                          "allowed (they enable entity-expansion and external-entity "
                          "attacks)") from None
    except expat.ExpatError as exc:
        raise RecordError(f"{WHAT}: not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:
        raise _encoding_error(exc) from None
    return builder.close()


def _encoding_error(exc: Exception) -> RecordError:
    """Expat asks Python's codecs for encodings it lacks: an unknown name is a LookupError, a
    multi-byte codec a ValueError."""
    return RecordError(f"{WHAT}: the XML declaration names an encoding that cannot be read "
                       f"({str(exc)[:80]}); expected UTF-8")


def _local(name: str) -> str:
    """``{uri}Name`` or ``prefix:Name`` -> ``Name``: A.5 messages have no namespace, but some
    senders add one; the element names are what identifies the content."""
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]
