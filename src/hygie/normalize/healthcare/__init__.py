"""Parsers for healthcare log sources: DICOM/IHE ATNA audit messages, HL7 v2 messages and FHIR
AuditEvent resources, each turning one received payload into flat fields for Sigma and search.

Why a package of its own: these sources carry patient data, so every parser takes a
:class:`PatientPolicy` and stores patient identifiers pseudonymised (never names, birth dates or
addresses), and every parser answers the same way: a :class:`ParsedRecord`, or
:class:`hygie.core.errors.RecordError` with a reason a person can act on, never another
exception, so that the pipeline quarantines a bad record and goes on.

The parsers live in their modules (``atna``, ``hl7``, ``fhir``) and are not imported here:
``hl7`` and ``fhir`` load sizeable libraries (hl7apy, fhir.resources) that a pipeline with no
such source should not pay for. Each fields dict has ``LogSource`` (``dicom_atna``, ``hl7v2``,
``fhir_audit``) so that rules can target one source.
"""

from hygie.normalize.healthcare._common import ParsedRecord
from hygie.normalize.healthcare.identifiers import PatientPolicy, pseudonymise

__all__ = ["ParsedRecord", "PatientPolicy", "pseudonymise"]
