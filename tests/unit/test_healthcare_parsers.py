"""Healthcare parsers (DICOM ATNA, HL7 v2, FHIR AuditEvent): fields of realistic samples written
from the public specifications, pseudonymisation, no PHI in any field, hostile XML, and fuzzing:
whatever the bytes, a parser answers fields or RecordError, never another exception."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.core.errors import RecordError
from hygie.normalize.healthcare import ParsedRecord, PatientPolicy, pseudonymise
from hygie.normalize.healthcare import atna as atna_module
from hygie.normalize.healthcare._common import MAX_PAYLOAD, utc_iso
from hygie.normalize.healthcare.atna import parse_atna
from hygie.normalize.healthcare.fhir import parse_fhir_audit
from hygie.normalize.healthcare.hl7 import parse_dtm, parse_hl7

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthcare"
SALT = b"hygie-test-salt-0123456789"
POLICY = PatientPolicy(SALT)
CLEAR = PatientPolicy(b"", keep_identifiers=True)
PATIENT = "IPP-0048213"  # the same patient in the ATNA, HL7 and FHIR samples
HASHED = pseudonymise(PATIENT, SALT)
# Names, birth dates, addresses, phone and national numbers present in the samples: none may
# reach a field (patient ids only pseudonymised).
PHI = ["DURAND", "MARIE", "ANNE", "PIERRE", "19850322", "1985-03-22", "LILAS", "69003",
       "0478000000", "1850375123456", "BERNARD", "PAUL", "PENICILLIN", PATIENT, "MRN-77120"]

Parser = Callable[[bytes, PatientPolicy], ParsedRecord]
PARSERS: dict[str, Parser] = {"atna": parse_atna, "hl7": parse_hl7, "fhir": parse_fhir_audit}


def load(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    # HL7 samples are stored one segment a line for readability; the wire form ends with \r
    return data.replace(b"\n", b"\r") if name.endswith(".hl7") else data


SAMPLES = {
    "atna": ["atna_begin_transfer_cmove.xml", "atna_export.xml",
             "atna_user_authentication_failure.xml", "atna_legacy_dicom2004.xml"],
    "hl7": ["adt_a01_v25.hl7", "ack_aa_v25.hl7", "ack_ae_v25.hl7"],
    "fhir": ["fhir_auditevent_r4_read.json", "fhir_auditevent_r5_read.json"],
}
ALL_SAMPLES = [(kind, name) for kind, names in SAMPLES.items() for name in names]


def values_text(fields: dict[str, Any]) -> str:
    return "\n".join(" ".join(v) if isinstance(v, list) else str(v) for v in fields.values())


def assert_subset(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {k: fields.get(k) for k in expected} == expected


# --- pseudonymisation --------------------------------------------------------------------


def test_pseudonymise_is_a_keyed_linkable_token() -> None:
    token = pseudonymise(PATIENT, SALT)
    assert re.fullmatch(r"h:[0-9a-f]{32}", token)
    assert PATIENT not in token
    assert pseudonymise(PATIENT, SALT) == token == pseudonymise(f"  {PATIENT} ", SALT)
    assert pseudonymise(PATIENT, b"another-salt-value") != token
    assert pseudonymise("IPP-0048214", SALT) != token
    assert pseudonymise("  ", SALT) == ""


def test_patient_policy() -> None:
    assert POLICY.apply(PATIENT) == HASHED
    assert CLEAR.apply(PATIENT) == PATIENT
    assert "hygie-test-salt" not in repr(POLICY)
    with pytest.raises(ValueError):
        PatientPolicy(b"")
    with pytest.raises(TypeError):
        PatientPolicy("text salt")  # type: ignore[arg-type]


# --- DICOM ATNA --------------------------------------------------------------------------


def test_atna_begin_transferring_cmove() -> None:
    record = parse_atna(load("atna_begin_transfer_cmove.xml"), POLICY)
    assert_subset(record.fields, {
        "LogSource": "dicom_atna", "EventID": "110102",
        "EventIDName": "Begin Transferring DICOM Instances", "EventActionCode": "E",
        "EventOutcomeIndicator": "0", "EventOutcome": "Success",
        "UserID": "VIEWER_WS12", "SourceAETitle": "VIEWER_WS12",
        "NetworkAccessPointID": "10.12.4.56", "DestinationUserID": "EXT_STORE",
        "DestinationAETitle": "EXT_STORE", "DestinationNetworkAccessPointID": "203.0.113.77",
        "AuditSourceID": "pacs-arc-01", "AuditEnterpriseSiteID": "CHU-EXEMPLE",
        "AuditSourceTypeCode": "4", "PatientID": HASHED,
        "StudyInstanceUID": "1.2.826.0.1.3680043.8.498.10392045562201",
        "ParticipantObjectCount": 2, "ActiveParticipantCount": 3, "NumberOfInstances": 314,
    })
    assert record.event_time == "2025-03-14T08:26:53.589000+00:00"
    assert record.host == "pacs-arc-01"


def test_atna_export_to_media() -> None:
    record = parse_atna(load("atna_export.xml"), POLICY)
    assert_subset(record.fields, {
        "EventID": "110106", "EventIDName": "Export", "EventActionCode": "R",
        "UserID": "mlefevre", "UserName": "Martin Lefevre", "SourceAETitle": None,
        "NetworkAccessPointID": "10.20.30.40", "RoleIDCode": "110153",
        "DestinationUserID": "usb:/media/removable0", "DestinationMediaType": "110033",
        "AuditSourceID": "RAD-WS-07", "PatientID": HASHED, "NumberOfInstances": 1450,
    })
    assert record.event_time == "2025-03-14T22:41:07+00:00"


def test_atna_user_authentication_failure() -> None:
    record = parse_atna(load("atna_user_authentication_failure.xml"), POLICY)
    assert_subset(record.fields, {
        "EventID": "110114", "EventIDName": "User Authentication", "EventTypeCode": "110122",
        "EventTypeCodeName": "Login", "EventOutcomeIndicator": "4",
        "EventOutcome": "Minor failure", "UserID": "admin",
        "NetworkAccessPointID": "198.51.100.23", "ParticipantObjectCount": 0,
        "PatientID": None,
    })
    assert record.event_time == "2025-03-15T08:12:44.120000+00:00"


def test_atna_dicom_2004_attribute_names_and_aetitles_convention() -> None:
    record = parse_atna(load("atna_legacy_dicom2004.xml"), POLICY)
    assert_subset(record.fields, {
        "EventID": "110104", "EventIDName": "DICOM Instances Transferred",
        "EventOutcome": "Serious failure", "SourceAETitle": "CT_SCANNER_1",
        "DestinationAETitle": "PACS1", "AuditSourceTypeCode": "4",
        "PatientID": pseudonymise("MRN-77120", SALT),
        "StudyInstanceUID": "1.2.840.113619.2.55.3.2831164356.781.1243948991.467",
    })
    assert record.event_time == "2009-06-02T14:03:11+00:00"  # no zone: taken as UTC


def test_atna_event_name_from_the_dicom_table_when_the_message_has_none() -> None:
    xml = load("atna_export.xml").replace(b' originalText="Export"', b"")
    assert parse_atna(xml, POLICY).fields["EventIDName"] == "Export"


def test_atna_host_falls_back_to_the_requestor_address() -> None:
    xml = re.sub(rb'AuditSourceID="[^"]*"', b"", load("atna_export.xml"))
    assert parse_atna(xml, POLICY).host == "10.20.30.40"


def test_atna_keep_identifiers() -> None:
    assert parse_atna(load("atna_export.xml"), CLEAR).fields["PatientID"] == PATIENT


@pytest.mark.parametrize("wrap", [
    lambda xml: b"\xef\xbb\xbf" + xml,
    lambda xml: b"\n  " + xml,
    lambda xml: (b"<85>1 2025-03-14T09:26:53.600+01:00 pacs-arc-01 dcm4chee-arc 4242 "
                 b"IHE+RFC-3881 - \xef\xbb\xbf" + xml),
    lambda xml: b"<110>1 2025-03-14T09:26:53Z pacs - - - - " + xml.split(b"?>", 1)[1],
], ids=["bom", "blank", "syslog-5424-bom", "syslog-no-declaration"])
def test_atna_accepts_bom_and_syslog_framing(wrap: Callable[[bytes], bytes]) -> None:
    plain = parse_atna(load("atna_begin_transfer_cmove.xml"), POLICY)
    assert parse_atna(wrap(load("atna_begin_transfer_cmove.xml")), POLICY) == plain


def test_atna_namespace_prefixes_are_ignored() -> None:
    xml = (b'<a:AuditMessage xmlns:a="urn:x"><a:EventIdentification EventActionCode="E">'
           b'<a:EventID csd-code="110113"/></a:EventIdentification></a:AuditMessage>')
    assert parse_atna(xml, POLICY).fields["EventIDName"] == "Security Alert"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<AuditMessage><EventIdentification EventActionCode="&lol9;">
<EventID csd-code="110106"/></EventIdentification></AuditMessage>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE AuditMessage [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<AuditMessage><EventIdentification EventActionCode="R">
<EventID csd-code="110106" originalText="&xxe;"/></EventIdentification></AuditMessage>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE AuditMessage [<!ENTITY % remote SYSTEM "http://203.0.113.9/x.dtd"> %remote;]>
<AuditMessage/>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE AuditMessage SYSTEM "http://203.0.113.9/audit.dtd">
<AuditMessage/>"""


def _xml_parsers() -> list[Any]:
    """The standard-library path always; defusedxml's too where it is installed."""
    paths = [pytest.param(None, id="expat")]
    if atna_module._defused_et is not None:
        paths.append(pytest.param(atna_module._defused_et, id="defusedxml"))
    return paths


@pytest.fixture(params=_xml_parsers())
def xml_parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(atna_module, "_defused_et", request.param)


@pytest.mark.usefixtures("xml_parser")
@pytest.mark.parametrize("attack", [BILLION_LAUGHS, EXTERNAL_ENTITY, PARAMETER_ENTITY,
                                    EXTERNAL_DTD],
                         ids=["billion-laughs", "external-entity", "parameter-entity", "dtd"])
def test_atna_refuses_dtds_and_entities(attack: bytes) -> None:
    with pytest.raises(RecordError, match=r"(?i)DTD|entit"):
        parse_atna(attack, POLICY)


@pytest.mark.usefixtures("xml_parser")
def test_atna_samples_parse_the_same_with_either_xml_parser() -> None:
    record = parse_atna(load("atna_export.xml"), POLICY)
    assert record.fields["PatientID"] == HASHED


@pytest.mark.usefixtures("xml_parser")
def test_atna_refuses_deep_nesting() -> None:
    xml = b"<AuditMessage>" + b"<a>" * 200 + b"</a>" * 200 + b"</AuditMessage>"
    with pytest.raises(RecordError, match="nested"):
        parse_atna(xml, POLICY)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"<AuditMessage>" + b" " * MAX_PAYLOAD + b"</AuditMessage>", "limit"),
    (b"", "empty"),
    (b"Jan 12 10:00:00 host sshd[1]: Accepted password", "<AuditMessage"),
    (b"<?xml version='1.0'?><Other/>", "root element is <Other>"),
    (b"<AuditMessage><ActiveParticipant UserID='x'/></AuditMessage>", "EventIdentification"),
    (b"<AuditMessage><EventIdentification/></AuditMessage>", "EventID"),
    (b"<AuditMessage><EventIdentification>", "not well-formed"),
])
def test_atna_errors_say_what_was_expected(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=re.escape(reason)):
        parse_atna(payload, POLICY)


# --- HL7 v2 ------------------------------------------------------------------------------


def test_hl7_adt_a01() -> None:
    record = parse_hl7(load("adt_a01_v25.hl7"), POLICY)
    assert_subset(record.fields, {
        "LogSource": "hl7v2", "MessageType": "ADT", "TriggerEvent": "A01",
        "MessageStructure": "ADT_A01", "SendingApplication": "ADT1",
        "SendingFacility": "CHU EXEMPLE", "ReceivingApplication": "LABADT",
        "ReceivingFacility": "CHU EXEMPLE", "MessageControlID": "MSG00001",
        "ProcessingID": "P", "VersionID": "2.5", "MessageDateTime": "20250314092653+0100",
        "PatientID": HASHED, "PatientClass": "I", "OperatorID": "U4412",
        "Segments": ["MSH", "EVN", "PID", "NK1", "PV1", "AL1"], "SegmentCount": 6,
        "AckCode": None,
    })
    assert record.event_time == "2025-03-14T08:26:53+00:00"
    assert record.host is None


def test_hl7_ack_accept() -> None:
    record = parse_hl7(load("ack_aa_v25.hl7"), POLICY)
    assert_subset(record.fields, {
        "MessageType": "ACK", "TriggerEvent": "A01", "AckCode": "AA",
        "AckMessageControlID": "MSG00001", "AckText": "Message accepted", "ErrorCode": None,
        "Segments": ["MSH", "MSA"], "SegmentCount": 2, "PatientID": None,
    })


def test_hl7_ack_error_with_err_segment() -> None:
    record = parse_hl7(load("ack_ae_v25.hl7"), POLICY)
    assert_subset(record.fields, {
        "AckCode": "AE", "AckText": "Unknown key identifier", "ErrorCode": "204",
        "ErrorText": "Unknown key identifier", "ErrorSeverity": "E",
    })


def test_hl7_err_before_v25_reads_err_1() -> None:
    message = (b"MSH|^~\\&|LAB|H|ADT|H|200101011200||ACK|9|P|2.3\r"
               b"MSA|AR|1\rERR|PID^1^3^103&Table value not found&HL70357\r")
    fields = parse_hl7(message, POLICY).fields
    assert (fields["AckCode"], fields["ErrorCode"], fields["ErrorText"]) == (
        "AR", "103", "Table value not found")


@pytest.mark.parametrize("frame", [
    lambda m: b"\x0b" + m + b"\x1c\r",
    lambda m: b"\x0b" + m + b"\x1c",
    lambda m: m.replace(b"\r", b"\n"),
    lambda m: m.replace(b"\r", b"\r\n"),
    lambda m: b"\x0b" + m.replace(b"\r", b"\n") + b"\x1c\r\n",
], ids=["mllp", "mllp-no-cr", "lf", "crlf", "mllp-lf"])
def test_hl7_framing_and_separators(frame: Callable[[bytes], bytes]) -> None:
    plain = parse_hl7(load("adt_a01_v25.hl7"), POLICY)
    assert parse_hl7(frame(load("adt_a01_v25.hl7")), POLICY) == plain


def test_hl7_escapes_and_network_address() -> None:
    message = (b"MSH|^~\\&|A\\T\\B|H\\F\\X|R|F|20250101||ACK^A01^ACK|1|P|2.7"
               + b"|" * 12 + b"10.1.1.9\rMSA|AE|7|bad \\S\\ field\r")
    record = parse_hl7(message, POLICY)
    assert record.fields["SendingApplication"] == "A&B"
    assert record.fields["SendingFacility"] == "H|X"
    assert record.fields["AckText"] == "bad ^ field"
    assert record.host == record.fields["SendingNetworkAddress"] == "10.1.1.9"


def test_hl7_keep_identifiers_and_merge() -> None:
    assert parse_hl7(load("adt_a01_v25.hl7"), CLEAR).fields["PatientID"] == PATIENT
    merge = (b"MSH|^~\\&|ADT|H|MPI|H|20250101||ADT^A40^ADT_A39|5|P|2.5\r"
             b"EVN|A40|20250101\rPID|1||NEW-1^^^H^PI||DOE^JOHN\rMRG|OLD-9^^^H^PI\r")
    fields = parse_hl7(merge, POLICY).fields
    assert fields["PatientID"] == pseudonymise("NEW-1", SALT)
    assert fields["PriorPatientID"] == pseudonymise("OLD-9", SALT)


@pytest.mark.parametrize(("payload", "reason"), [
    (b"\x00\x01garbage\xff", "MSH"),
    (b"PID|1||123\rMSH|^~\\&|A|B\r", "start with an MSH"),
    (b"MSH|^^\\&|A|B|C|D|20250101||ADT^A01|1|P|2.5\r", "MSH-2"),
    (b"MSH|^~|A|B|C|D|20250101||ADT^A01|1|P|2.5\r", "MSH-2"),
    (b"MSHA^~\\&|A|B\r", "MSH-1"),
    (b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|2.5\rpid|1\r", "segment 2"),
    (b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|2.9\r", "2.9"),
    (b"MSH|^~\\&|A|B|C|D|20250101||ADT^A01|1|P|\r", "MSH-12"),
    (b"\x0bMSH|^~\\&|A|B|C|D|20250101||ACK|1|P|2.5\x1c\r\x0bMSH|^~\\&|A\x1c\r", "MLLP"),
    (b"MSH|^~\\&|A|B|C|D|1||ACK|1|P|2.5\rMSH|^~\\&|A|B|C|D|1||ACK|2|P|2.5\r", "second MSH"),
])
def test_hl7_errors_say_what_was_expected(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=re.escape(reason)):
        parse_hl7(payload, POLICY)


@pytest.mark.parametrize(("text", "iso"), [
    ("20250314092653+0100", "2025-03-14T08:26:53+00:00"),
    ("20250314092653.1234-0500", "2025-03-14T14:26:53.123400+00:00"),
    ("202503140926", "2025-03-14T09:26:00+00:00"),
    ("20250314", "2025-03-14T00:00:00+00:00"),
    ("2025", "2025-01-01T00:00:00+00:00"),
    ("20251314", None), ("2025031", None), ("20250314092653+2500", None), ("", None),
    ("yesterday", None),
])
def test_hl7_dtm(text: str, iso: str | None) -> None:
    assert utc_iso(parse_dtm(text)) == iso


# --- FHIR AuditEvent ---------------------------------------------------------------------


@pytest.mark.parametrize(("name", "version"), [("fhir_auditevent_r4_read.json", "R4"),
                                               ("fhir_auditevent_r5_read.json", "R5")])
def test_fhir_read_by_a_user(name: str, version: str) -> None:
    record = parse_fhir_audit(load(name), POLICY)
    assert_subset(record.fields, {
        "LogSource": "fhir_audit", "FhirVersion": version, "AuditEventType": "rest",
        "AuditEventSubtype": "read", "Action": "R", "Outcome": "0", "OutcomeText": "Success",
        "AgentRequestor": "Practitioner/prac-7781", "AgentRole": "PROV",
        "SourceObserver": "fhir.chu-exemple.fr", "SourceSite": "CHU-EXEMPLE",
        "EntityWhat": f"Patient/{HASHED}", "PatientID": HASHED, "PurposeOfEvent": "TREAT",
    })
    assert record.fields["AgentNetwork"][0] == "10.44.8.19"
    assert record.event_time == "2025-03-14T10:15:03.412000+00:00"
    assert record.host == "fhir.chu-exemple.fr"


def test_fhir_keep_identifiers() -> None:
    fields = parse_fhir_audit(load("fhir_auditevent_r5_read.json"), CLEAR).fields
    assert fields["PatientID"] == PATIENT
    assert fields["EntityWhat"] == f"Patient/{PATIENT}"


def test_fhir_patient_references_anywhere_are_pseudonymised() -> None:
    doc = load("fhir_auditevent_r5_read.json").replace(
        b'"Practitioner/prac-7781"', b'"https://portal.example/fhir/Patient/IPP-0048213"'
    ).replace(b'"reference": "Patient/IPP-0048213", "display"',
              b'"reference": "Patient?identifier=urn:oid:1.2.250|IPP-0048213", "display"')
    fields = parse_fhir_audit(doc, POLICY).fields
    assert fields["AgentRequestor"] == f"https://portal.example/fhir/Patient/{HASHED}"
    assert PATIENT not in values_text(fields)


def test_fhir_host_falls_back_to_the_requestor_network() -> None:
    doc = load("fhir_auditevent_r4_read.json").replace(
        b'"observer": {"display": "fhir.chu-exemple.fr"}',
        b'"observer": {"reference": "Device/fhir-1"}')
    assert parse_fhir_audit(doc, POLICY).host == "Device/fhir-1"
    doc = doc.replace(b'"observer": {"reference": "Device/fhir-1"}', b'"observer": {}')
    assert parse_fhir_audit(doc, POLICY).host == "10.44.8.19"


@pytest.mark.parametrize(("payload", "reason"), [
    (b'{"resourceType": "Bundle", "type": "collection", "entry": []}',
     "one AuditEvent per record; got a Bundle"),
    (b'{"resourceType": "Patient", "id": "x"}', "expected 'AuditEvent'"),
    (b'{"id": "x"}', "resourceType is missing"),
    (b"[1, 2]", "JSON object"),
    (b"{not json", "not JSON"),
    (b'{"resourceType": "AuditEvent", "recorded": "2025-01-01T00:00:00Z"}', "agent"),
    (b'{"resourceType": "AuditEvent"}' + b" " * MAX_PAYLOAD, "limit"),
])
def test_fhir_errors_say_what_was_expected(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=re.escape(reason)):
        parse_fhir_audit(payload, POLICY)


def test_fhir_error_reasons_do_not_quote_values() -> None:
    doc = load("fhir_auditevent_r5_read.json").replace(b'"recorded": "2025-03-14T10:15:03.412Z"',
                                                     b'"recorded": "DURAND MARIE"')
    with pytest.raises(RecordError) as caught:
        parse_fhir_audit(doc, POLICY)
    assert "recorded" in str(caught.value) and "DURAND" not in str(caught.value)


# --- all parsers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "name"), ALL_SAMPLES)
def test_no_phi_in_any_field(kind: str, name: str) -> None:
    fields = PARSERS[kind](load(name), POLICY).fields
    text = values_text(fields)
    assert not [word for word in PHI if re.search(rf"\b{re.escape(word)}\b", text, re.I)]
    assert all(isinstance(key, str) for key in fields)


def test_the_same_patient_links_across_sources() -> None:
    found = {parse_atna(load("atna_export.xml"), POLICY).fields["PatientID"],
             parse_hl7(load("adt_a01_v25.hl7"), POLICY).fields["PatientID"],
             parse_fhir_audit(load("fhir_auditevent_r4_read.json"), POLICY).fields["PatientID"]}
    assert found == {HASHED}
    other = PatientPolicy(b"another-deployment-salt")
    assert parse_hl7(load("adt_a01_v25.hl7"), other).fields["PatientID"] != HASHED


# --- fuzzing: fields or RecordError, nothing else ----------------------------------------------


def fields_or_record_error(parser: Parser, payload: bytes) -> None:
    try:
        record = parser(payload, POLICY)
    except RecordError as exc:
        assert str(exc)
        return
    assert isinstance(record, ParsedRecord)
    assert isinstance(record.fields, dict) and all(isinstance(k, str) for k in record.fields)
    assert record.event_time is None or isinstance(record.event_time, str)
    assert record.host is None or isinstance(record.host, str)


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("kind", sorted(PARSERS))
@FUZZ
@given(payload=st.binary(max_size=600))
def test_fuzz_arbitrary_bytes(kind: str, payload: bytes) -> None:
    fields_or_record_error(PARSERS[kind], payload)


@pytest.mark.parametrize("kind", sorted(PARSERS))
@FUZZ
@given(data=st.data())
def test_fuzz_plausible_prefixes(kind: str, data: st.DataObject) -> None:
    """Bytes after the start a parser looks for, so the fuzz reaches past the first check."""
    start = {"atna": b"<AuditMessage>", "hl7": b"MSH|^~\\&|",
             "fhir": b'{"resourceType":"AuditEvent",'}[kind]
    tail = data.draw(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
    fields_or_record_error(PARSERS[kind], start + tail)


@pytest.mark.parametrize(("kind", "name"), ALL_SAMPLES)
def test_fuzz_every_truncation(kind: str, name: str) -> None:
    sample = load(name)
    for size in range(len(sample) + 1):
        fields_or_record_error(PARSERS[kind], sample[:size])


@pytest.mark.parametrize(("kind", "name"), ALL_SAMPLES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzz_byte_flips(kind: str, name: str, data: st.DataObject) -> None:
    sample = bytearray(load(name))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(sample) - 1), st.integers(0, 255)),
                               min_size=1, max_size=8))
    for position, value in flips:
        sample[position] = value
    fields_or_record_error(PARSERS[kind], bytes(sample))
