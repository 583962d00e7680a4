"""Patient identifiers, pseudonymised before they are stored.

A SOC keeps its events for months and shows them to analysts who are not the patient's carers,
so a patient identifier (MRN, PID-3, a FHIR ``Patient/…`` id) must not be stored in clear. It
must still be linkable: "the same patient's record opened from three workstations" or "one user
reading 400 different patients" are hunts that need equal ids to stay equal. A keyed hash does
both: HMAC-SHA256 with a per-deployment secret (the salt) gives the same token for the same id,
and without the secret nobody can test guesses (patient numbers are short and guessable, which
is why a plain unkeyed hash would not do). Keep the salt secret, random and at least 16 bytes;
changing it breaks linkage with earlier events.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

PREFIX = "h:"
HEX_CHARS = 32  # 128 bits: no collisions among any realistic number of patients


def pseudonymise(value: str, salt: bytes) -> str:
    """``h:`` + the first 32 hex digits of HMAC-SHA256(salt, value); surrounding blanks are
    ignored so that ``' 123'`` and ``'123'`` link. An empty value stays empty (hashing it would
    link every record that lacks an id)."""
    text = value.strip()
    if not text:
        return ""
    digest = hmac.new(salt, text.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:HEX_CHARS]


@dataclass(frozen=True)
class PatientPolicy:
    """How parsers store patient identifiers: pseudonymised with ``salt`` (the default), or in
    clear when ``keep_identifiers`` (a deployment whose event store is itself a clinical
    system may choose so). The salt is kept out of ``repr`` so it never reaches a log."""

    salt: bytes = field(repr=False)
    keep_identifiers: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.salt, bytes):
            raise TypeError("PatientPolicy.salt must be bytes")
        if not self.salt and not self.keep_identifiers:
            raise ValueError("PatientPolicy.salt is empty: pseudonymising needs a secret salt")

    def apply(self, value: str) -> str:
        """The value to store for the patient identifier ``value``."""
        return value.strip() if self.keep_identifiers else pseudonymise(value, self.salt)
