"""FHIR AuditEvent resources (JSON, R4 and R5) to flat fields, validated with fhir.resources.

FHIR servers (HAPI, IBM, Azure...) and IHE BALP actors record each access to patient data as an
AuditEvent; one payload is one resource. fhir.resources 8 validates R5 (5.0.0) with its default
models and R4B (4.3.0) with ``fhir.resources.R4B``; AuditEvent did not change between R4 (4.0.1)
and R4B, so R4 resources validate with the R4B model and are reported as ``FhirVersion`` "R4".
The version is not declared in the resource, so the one its elements suggest is tried first and
the other second.

R5 renamed AuditEvent elements; the fields follow the official R5-to-R4 map so that one rule
reads both: ``AuditEventType`` is R4 ``type`` = R5 ``category``, ``AuditEventSubtype`` is R4
``subtype`` = R5 ``code`` (e.g. ``rest`` / ``read``), ``PurposeOfEvent`` is R4
``purposeOfEvent`` = R5 ``authorization``, ``Outcome`` is R4 ``outcome`` = R5
``outcome.code.code`` (0, 4, 8, 12 in both).

Patient data: a ``Patient/…`` reference keeps its type and has its id pseudonymised by the
:class:`PatientPolicy` (as does an entity identifier whose role is Patient); ``display`` texts,
entity names, queries and details (which hold names and search terms) are never copied.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from fhir.resources.auditevent import AuditEvent as AuditEventR5
from fhir.resources.R4B.auditevent import AuditEvent as AuditEventR4

from hygie.core.errors import RecordError
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

WHAT = "FHIR AuditEvent"
MODELS: dict[str, Any] = {"R5": AuditEventR5, "R4": AuditEventR4}
R5_ONLY = frozenset({"category", "code", "authorization", "patient", "severity", "basedOn",
                     "encounter", "occurredDateTime", "occurredPeriod"})
ROLE_PATIENT = "1"  # object-role "Patient" (R4 Coding, R5 CodeableConcept)
# "Patient/123", "https://host/fhir/Patient/123/_history/2", "Patient?identifier=sys|123"
_PATIENT_REF = re.compile(r"(?:^|/)Patient([/?])(.+)$")


def parse_fhir_audit(payload: bytes, policy: PatientPolicy) -> ParsedRecord:
    """Fields of one AuditEvent (``LogSource`` ``fhir_audit``); ``event_time`` from
    ``recorded``, ``host`` the source observer, else the requestor's network address."""
    data = checked_bytes(payload, WHAT).strip()
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise RecordError(f"{WHAT}: not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RecordError(f"{WHAT}: expected a JSON object (a FHIR resource), got a "
                          f"{type(doc).__name__}")
    kind = doc.get("resourceType")
    if kind == "Bundle":
        raise RecordError(f"{WHAT}: one AuditEvent per record; got a Bundle")
    if kind != "AuditEvent":
        shown = repr(kind[:40]) if isinstance(kind, str) else "missing" if kind is None \
            else "not a string"
        raise RecordError(f"{WHAT}: resourceType is {shown}, expected 'AuditEvent'")
    version, event = _validate(doc)
    fields: dict[str, Any] = {"LogSource": "fhir_audit", "FhirVersion": version}
    requestor_network = (_r5_fields if version == "R5" else _r4_fields)(event, fields, policy)
    _entities(event, fields, policy)
    return ParsedRecord(fields, utc_iso(event.recorded),
                        fields.get("SourceObserver") or requestor_network)


def _validate(doc: dict[str, Any]) -> tuple[str, Any]:
    """(version, model) of the first FHIR version whose AuditEvent model accepts ``doc``."""
    order = ["R5", "R4"] if R5_ONLY & doc.keys() or "type" not in doc else ["R4", "R5"]
    problems = []
    for version in order:
        try:
            return version, MODELS[version].model_validate(doc)
        except Exception as exc:  # pydantic's ValidationError, or a validator's own error
            problems.append(f"as {version}: {_summary(exc)}")
    raise RecordError(f"{WHAT}: not a valid R5 or R4 AuditEvent ({'; '.join(problems)})")


def _summary(exc: Exception) -> str:
    """The first errors' locations and messages, not the offending values (which could be
    patient data)."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            found = errors(include_input=False, include_url=False)
        except Exception:  # not pydantic's ValidationError after all
            found = None
        if found:
            parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in found[:3]]
            more = f" (+{len(found) - 3} more)" if len(found) > 3 else ""
            return ", ".join(parts)[:400] + more
    return f"{type(exc).__name__}"


def _r4_fields(event: Any, fields: dict[str, Any], policy: PatientPolicy) -> str:
    """R4 elements into ``fields``; returns the requestor's network address."""
    outcome = event.outcome or ""
    put(fields, AuditEventType=event.type.code if event.type else None,
        AuditEventSubtype=_codes(event.subtype),
        Action=event.action, Outcome=outcome, OutcomeText=OUTCOMES.get(outcome),
        PurposeOfEvent=_codes(event.purposeOfEvent))
    agents = [a for a in event.agent or [] if a is not None]
    networks = [(a.network.address or "") if a.network else "" for a in agents]
    requestor = _agents(agents, networks, fields, policy)
    source = event.source
    if source is not None:
        put(fields, SourceSite=source.site,
            SourceObserver=_who(source.observer, policy, display=True),
            SourceType=_codes(source.type))
    return requestor


def _r5_fields(event: Any, fields: dict[str, Any], policy: PatientPolicy) -> str:
    """R5 elements into ``fields``; returns the requestor's network address."""
    outcome = (event.outcome.code.code or "") if event.outcome and event.outcome.code else ""
    put(fields, AuditEventType=_codes(event.category), AuditEventSubtype=_codes([event.code]),
        Action=event.action, Outcome=outcome, OutcomeText=OUTCOMES.get(outcome),
        PurposeOfEvent=_codes(event.authorization), Severity=event.severity)
    agents = [a for a in event.agent or [] if a is not None]
    networks = [a.networkString or a.networkUri
                or (a.networkReference.reference if a.networkReference else None) or ""
                for a in agents]
    requestor = _agents(agents, networks, fields, policy)
    source = event.source
    if source is not None:
        put(fields, SourceSite=_who(source.site, policy, display=True),
            SourceObserver=_who(source.observer, policy, display=True),
            SourceType=_codes(source.type))
    if event.patient is not None:
        _, patient = _reference(event.patient, policy)
        put(fields, PatientID=patient)
    return requestor


def _agents(agents: list[Any], networks: list[str], fields: dict[str, Any],
            policy: PatientPolicy) -> str:
    """Agent fields common to R4 and R5; returns the first requestor's network address."""
    who = [_who(a.who, policy) for a in agents]
    requestors = [i for i, a in enumerate(agents) if a.requestor]
    put(fields, AgentWho=one_or_many(who),
        AgentRequestor=who[requestors[0]] if requestors else None,
        AgentNetwork=one_or_many(networks),
        AgentRole=_codes([role for a in agents for role in a.role or []]),
        AgentType=_codes([a.type for a in agents]),
        AgentCount=len(agents))
    return networks[requestors[0]] if requestors else ""


def _entities(event: Any, fields: dict[str, Any], policy: PatientPolicy) -> None:
    """``EntityWhat`` (references, patients pseudonymised) and ``PatientID``."""
    what: list[str] = []
    patients: list[str] = [fields.pop("PatientID")] if "PatientID" in fields else []
    entities = [e for e in event.entity or [] if e is not None]
    for entity in entities:
        # R4 role is a Coding, R5 a CodeableConcept: _code_list reads both
        shown, patient = _reference(entity.what, policy, ROLE_PATIENT in _code_list([entity.role]))
        what.append(shown)
        patients.append(patient)
    put(fields, EntityWhat=one_or_many(what), PatientID=one_or_many(patients),
        EntityCount=len(entities))


def _reference(ref: Any, policy: PatientPolicy, is_patient: bool = False) -> tuple[str, str]:
    """(value to show, pseudonymised patient id or '') of a Reference: its ``reference``,
    else its identifier's value; never its ``display``, which for a patient is a name."""
    if ref is None:
        return "", ""
    text = (ref.reference or "").strip()
    if text:
        match = _PATIENT_REF.search(text)
        if match:
            kind, rest = match.groups()
            key = rest.split("/", 1)[0] if kind == "/" else rest
            patient = policy.apply(key)
            return text[:match.start(1)] + kind + patient, patient
        return text, ""
    value = (ref.identifier.value or "").strip() if ref.identifier else ""
    if value and (is_patient or ref.type == "Patient"):
        patient = policy.apply(value)
        return patient, patient
    return value, ""


def _who(ref: Any, policy: PatientPolicy, display: bool = False) -> str:
    """An identity: reference (a Patient's pseudonymised), else identifier, else, when
    ``display`` (sources: systems often known only by their host name), a non-patient's
    display. An agent's display is not read: for a patient using a portal it is a name."""
    shown, patient = _reference(ref, policy)
    if shown or ref is None or patient or not display or ref.type == "Patient":
        return shown
    return (ref.display or "").strip()


def _codes(concepts: Any) -> str | list[str] | None:
    """The distinct codes of CodeableConcepts or Codings (see :func:`one_or_many`)."""
    return one_or_many(_code_list(concepts))


def _code_list(concepts: Any) -> list[str]:
    """The codes of CodeableConcepts (each with ``coding``) or of Codings; None skipped."""
    found: list[str] = []
    for concept in concepts or []:
        if concept is None:
            continue
        codings = getattr(concept, "coding", None)
        for coding in codings if codings is not None else [concept]:
            found.append(getattr(coding, "code", None) or "")
    return found
