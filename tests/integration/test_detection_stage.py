"""The detection stage reads every record kind through its real parser: syslog, DICOM ATNA,
HL7 v2 and FHIR AuditEvent; a bad record is quarantined with its reason, the batch goes on."""

from __future__ import annotations

from pathlib import Path

from hygie.core.record import ATNA, FHIR, HL7, SYSLOG, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.healthcare.identifiers import pseudonymise
from hygie.normalize.records import record_to_event
from hygie.pipeline.detection import DetectionStage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthcare"
POLICY = PatientPolicy(b"s" * 32)


def _record(kind: str, payload: bytes) -> RawRecord:
    return RawRecord("chu-a", f"test:{kind}", kind, payload, 1_790_000_000.0, "10.0.0.9:5514")


def test_every_kind_becomes_an_event_with_its_log_source() -> None:
    samples = {ATNA: next(FIXTURES.glob("*.xml")), HL7: next(FIXTURES.glob("*.hl7")),
               FHIR: next(FIXTURES.glob("*.json"))}
    for kind, path in samples.items():
        event = record_to_event(_record(kind, path.read_bytes()), POLICY)
        assert event.fields["LogSource"] in {"dicom_atna", "hl7v2", "fhir_audit"}, kind
        assert event.time and event.host
    syslog = record_to_event(_record(SYSLOG, b"<34>1 2026-11-20T07:00:00Z pacs01 dcm4chee - - - ok"),
                             POLICY)
    assert (syslog.host, syslog.fields["app_name"]) == ("pacs01", "dcm4chee")


def test_patient_ids_are_pseudonymised_with_the_stage_policy() -> None:
    hl7 = next(p for p in FIXTURES.glob("*.hl7") if "a01" in p.name.lower())
    event = record_to_event(_record(HL7, hl7.read_bytes()), POLICY)
    assert str(event.fields["PatientID"]).startswith("h:")


def test_bad_records_are_quarantined_and_the_batch_goes_on() -> None:
    stage = DetectionStage(Engine.from_paths([], include_packs=True), POLICY)
    hl7 = next(FIXTURES.glob("*.hl7")).read_bytes()
    results = stage.process([_record(HL7, b"not an HL7 message"), _record(HL7, hl7),
                             _record("nonsense", b"x")])
    reasons = [r.quarantine_reason for r in results]
    assert reasons[0] and "MSH" in reasons[0]
    assert reasons[1] is None
    assert reasons[2] and "no parser" in reasons[2]
    assert pseudonymise("x", b"s" * 32) != pseudonymise("x", b"t" * 32)
