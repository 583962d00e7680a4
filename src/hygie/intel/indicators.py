"""Indicator values, normalised once on the way in so that matching is plain set lookups.

Every importer hands over ``Indicator`` objects; the same ``normalise`` is used on event values
by the matcher, so a value is equal to an indicator exactly when their normal forms are."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

TYPES = ("ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3")
HASH_LENGTHS = {32: "md5", 40: "sha1", 64: "sha256"}
TLPS = ("clear", "green", "amber", "amber+strict", "red")
DEFAULT_CONFIDENCE = 50
MAX_VALUE_BYTES = 2048  # the column's size, and under PostgreSQL's index entry limit
_HEX = re.compile(r"^[0-9a-f]+$")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")


class IndicatorError(ValueError):
    """A value that is not a valid indicator of its type (reported, the import goes on)."""


@dataclass(slots=True)
class Indicator:
    """One indicator as an importer read it; ``ref`` names it in its source (MISP attribute
    uuid, STIX object id, file:line) so that an analyst can go back to it."""

    type: str
    value: str
    confidence: int | None = None  # None: the source said nothing (the feed's default)
    tlp: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    expires: datetime | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    ref: str = ""


@dataclass(slots=True)
class Problem:
    """A malformed entry: where it is (file and line, or object id) and why it was skipped."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


def normalise(kind: str, value: str) -> str:
    """The normal form of ``value`` as an indicator of ``kind``; raises ``IndicatorError``."""
    text = value.strip()
    if not text:
        raise IndicatorError(f"empty {kind}")
    if kind in ("ipv4", "ipv6"):
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise IndicatorError(f"not an IP address: {text[:80]!r}") from None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return str(address)
    if kind == "cidr":
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise IndicatorError(f"not a CIDR range: {text[:80]!r}") from None
        return str(network)
    if kind in ("md5", "sha1", "sha256", "ja3"):
        hexa = text.lower()
        want = 32 if kind in ("md5", "ja3") else 40 if kind == "sha1" else 64
        if len(hexa) != want or not _HEX.match(hexa):
            raise IndicatorError(f"not a {kind} ({want} hex digits): {text[:80]!r}")
        return hexa
    if kind == "domain":
        return normalise_domain(text)
    if kind == "url":
        return normalise_url(text)
    if kind == "email":
        local, at, domain = text.rpartition("@")
        if not at or not local or " " in local:
            raise IndicatorError(f"not an email address: {text[:80]!r}")
        return f"{local.lower()}@{normalise_domain(domain)}"
    raise IndicatorError(f"unknown indicator type {kind!r}")


def normalise_domain(text: str) -> str:
    name = text.strip().rstrip(".").lower()
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        raise IndicatorError(f"not a domain name: {text[:80]!r}") from None
    labels = name.split(".")
    if len(labels) < 2 or len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise IndicatorError(f"not a domain name: {text[:80]!r}")
    return name


def normalise_url(text: str) -> str:
    """Scheme and host lower-cased, default port and fragment dropped, an empty path as '/'."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise IndicatorError(f"not a URL: {text[:80]!r}") from None
    if not parts.scheme or not parts.hostname:
        raise IndicatorError(f"not a URL: {text[:80]!r}")
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and (scheme, port) not in (("http", 80), ("https", 443)):
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", parts.query, ""))


def guess_type(value: str) -> str | None:
    """The indicator type a bare value has (plain lists, MISP 'other'): by parsing, then by
    shape; None when it is none of them."""
    text = value.strip()
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text)
        return "ipv4" if address.version == 4 or address.ipv4_mapped is not None else "ipv6"
    except ValueError:
        pass
    if "/" in text and "://" not in text:
        try:
            ipaddress.ip_network(text, strict=False)
            return "cidr"
        except ValueError:
            return None
    if "://" in text:
        return "url"
    lowered = text.lower()
    if len(lowered) in HASH_LENGTHS and _HEX.match(lowered):
        return HASH_LENGTHS[len(lowered)]
    if "@" in text:
        return "email"
    try:
        normalise_domain(text)
        return "domain"
    except IndicatorError:
        return None


def checked(indicator: Indicator) -> Indicator:
    """``indicator`` with its value normalised, its type refined (an IPv6 form of an IPv4
    address, a /32 range) and its fields clamped; raises ``IndicatorError``."""
    kind = indicator.type
    if kind not in TYPES:
        raise IndicatorError(f"unknown indicator type {kind!r}")
    value = normalise(kind, indicator.value)
    if kind in ("ipv4", "ipv6"):
        kind = "ipv4" if ":" not in value else "ipv6"
    elif kind == "cidr" and value.endswith("/128" if ":" in value else "/32"):
        value = value.rsplit("/", 1)[0]
        kind = "ipv4" if ":" not in value else "ipv6"
    tlp = (indicator.tlp or "clear").lower().removeprefix("tlp:")
    tlp = "clear" if tlp == "white" else tlp
    if tlp not in TLPS:
        raise IndicatorError(f"unknown TLP {indicator.tlp!r}")
    if len(value.encode()) > MAX_VALUE_BYTES:
        raise IndicatorError(f"value longer than {MAX_VALUE_BYTES} bytes")
    indicator.type, indicator.value, indicator.tlp = kind, value, tlp
    confidence = DEFAULT_CONFIDENCE if indicator.confidence is None else int(indicator.confidence)
    indicator.confidence = max(0, min(100, confidence))
    indicator.description = indicator.description[:500]
    indicator.ref = indicator.ref[:200]
    return indicator


def tlp_from_tags(tags: list[str], default: str = "clear") -> str:
    """The TLP of MISP tags or STIX labels (``tlp:amber``), the most restrictive if several."""
    found = [t.lower().removeprefix("tlp:") for t in tags if t.lower().startswith("tlp:")]
    found = ["clear" if t == "white" else t for t in found if t in TLPS or t == "white"]
    return max(found, key=TLPS.index) if found else default
