"""What people enter by hand in the console or the REST API: an indicator (its type guessed
when not given) and a feed definition, checked with the same rules as the importers so that a
bad entry is refused with a reason instead of being stored and never matching.

A feed added from the web reads an http(s) URL only: a path would let a console user make the
server read its own files (the CLI, run on the server, may still name files)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from hygie.intel.indicators import TLPS, TYPES, Indicator, IndicatorError, checked, guess_type

# the kinds a person may add, with what each needs (the 'manual' feed is made by Hygie itself)
FEED_KINDS = {"misp-feed": "MISP feed (manifest.json and events)", "misp": "MISP instance (REST API)",
              "stix": "STIX 2.1 bundle", "taxii": "TAXII 2.1 collection",
              "csv": "CSV list (value, type, ...)", "text": "Text list (one value a line)"}
CREDENTIAL_KINDS = {"misp": "API key", "taxii": "password"}
MAX_SCHEDULE_MINUTES = 7 * 24 * 60


class InputError(ValueError):
    """An entry that cannot be kept: the message says which field and why."""


def indicator(value: str, kind: str | None = None, tlp: str = "clear", confidence: int = 50,
              expires: datetime | None = None, description: str = "",
              now: datetime | None = None) -> Indicator:
    """A checked, normalised indicator; ``kind`` None or empty: recognised from the value."""
    text = value.strip()
    if not text:
        raise InputError("value: empty")
    if not kind:
        kind = guess_type(text)
        if kind is None:
            raise InputError(f"value: {text[:80]!r} is no IP, range, domain, URL, hash or email "
                             "address; choose its type")
    if kind not in TYPES:
        raise InputError(f"type: one of {', '.join(TYPES)}")
    if kind == "domain" and guess_type(text) in ("ipv4", "ipv6"):
        raise InputError(f"value: {text[:80]!r} is not a domain name but an IP address")
    if tlp not in TLPS:
        raise InputError(f"tlp: one of {', '.join(TLPS)}")
    if not 0 <= confidence <= 100:
        raise InputError("confidence: from 0 to 100")
    if expires is not None:
        try:  # stored in UTC (SQLite keeps the clock time only)
            expires = expires.astimezone(timezone.utc) if expires.tzinfo else expires.replace(tzinfo=timezone.utc)
        except OverflowError:
            raise InputError("expires: out of range") from None
        if expires <= (now or datetime.now(timezone.utc)):
            raise InputError("expires: in the past (use 'expire' to stop an indicator)")
    if len(description) > 500:
        raise InputError("description: at most 500 characters")
    try:
        return checked(Indicator(kind, text, confidence, tlp, expires=expires,
                                 description=description.strip()))
    except IndicatorError as exc:
        raise InputError(f"value: {exc}") from None


def feed(name: str, kind: str, location: str, schedule_minutes: int | None, tlp: str | None,
         confidence: int | None, expire_days: int | None, user: str = "",
         credential: str = "", location_kept: bool = False, credential_kept: bool = False) -> dict[str, Any]:
    """The feed's options (no credential in them: it is stored apart, encrypted); raises
    ``InputError``. An edit says what it leaves as stored: its location (a path set with the
    CLI on the server stays valid) and its credential (a MISP instance keeps its key)."""
    if not name.strip() or len(name) > 200:
        raise InputError("name: 1 to 200 characters")
    if kind not in FEED_KINDS:
        raise InputError(f"kind: one of {', '.join(FEED_KINDS)}")
    if not location_kept and not _web_url(location):
        raise InputError("location: an http:// or https:// URL (files are added with 'hygie intel' "
                         "on the server)")
    if schedule_minutes is not None and not 1 <= schedule_minutes <= MAX_SCHEDULE_MINUTES:
        raise InputError(f"schedule: from 1 to {MAX_SCHEDULE_MINUTES} minutes, or none (by hand)")
    options: dict[str, Any] = {}
    if tlp:
        if tlp not in TLPS:
            raise InputError(f"tlp: one of {', '.join(TLPS)}")
        options["tlp"] = tlp
    if confidence is not None:
        if not 0 <= confidence <= 100:
            raise InputError("confidence: from 0 to 100")
        options["confidence"] = confidence
    if expire_days is not None:
        if not 1 <= expire_days <= 3650:
            raise InputError("expire_days: from 1 to 3650")
        options["expire_days"] = expire_days
    if kind in CREDENTIAL_KINDS:
        if kind == "misp" and not (credential or credential_kept):
            raise InputError("credential: a MISP instance needs its API key")
        if user:
            options["user"] = user[:200]
    elif credential or user:
        raise InputError(f"credential: a {kind} feed takes none (only MISP instances and TAXII)")
    if len(credential) > 4000:
        raise InputError("credential: at most 4000 characters")
    return options


def _web_url(location: str) -> bool:
    try:
        parts = urlsplit(location.strip())
        return parts.scheme in ("http", "https") and bool(parts.hostname) and len(location) <= 2000
    except ValueError:  # a bracketed host that is no IPv6 address, a bad port
        return False
