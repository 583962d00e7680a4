"""Sharing a case's observables out: a STIX 2.1 bundle or a MISP event, pushed to a TAXII
collection or a MISP instance.

Only what identifies the attacker leaves: public IP addresses, domains, URLs and file hashes.
Host names, user names, file paths and private addresses are the hospital's own and are
never exported. The analyst chooses the TLP; TLP:RED is refused, since it is for the named
recipients only and no push can honour that."""

from __future__ import annotations

import ipaddress
import json
import uuid
from datetime import datetime, timezone
from typing import Any

import stix2

from hygie.intel.feeds import FeedError, misp_api, taxii
from hygie.intel.feeds.stix import TLP2
from hygie.intel.indicators import HASH_LENGTHS, IndicatorError, normalise

SHAREABLE_TLPS = ("clear", "green", "amber", "amber+strict")
HASH_PATHS = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256"}
NAMESPACE = uuid.UUID("6d1e0c8a-3f5b-4f3e-9a51-7b2c0d4e8f19")  # stable ids per (kind, value)


class SharingRefused(ValueError):
    """An export the rules of sharing forbid (TLP:RED, nothing shareable)."""


def shareable(observables: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(indicator type, normal value) of the observables that may leave the hospital."""
    out: dict[tuple[str, str], None] = {}
    for kind, value in observables:
        try:
            if kind == "ip":
                address = ipaddress.ip_address(value.strip())
                if not address.is_global:
                    continue  # the hospital's own network
                out[("ipv4" if address.version == 4 else "ipv6", str(address))] = None
            elif kind in ("domain", "url"):
                out[(kind, normalise(kind, value))] = None
            elif kind == "hash":
                digest = value.strip().lower()
                if len(digest) in HASH_LENGTHS:
                    out[(HASH_LENGTHS[len(digest)], normalise(HASH_LENGTHS[len(digest)], digest))] = None
        except (ValueError, IndicatorError):
            continue
    return list(out)


def _tlp(tlp: str) -> str:
    level = tlp.lower().removeprefix("tlp:")
    level = "clear" if level == "white" else level
    if level == "red":
        raise SharingRefused("TLP:RED never leaves Hygie: it is for named recipients only")
    if level not in SHAREABLE_TLPS:
        raise SharingRefused(f"TLP must be one of {', '.join(SHAREABLE_TLPS)}")
    return level


def _pattern(kind: str, value: str) -> str:
    quoted = value.replace("\\", "\\\\").replace("'", "\\'")
    if kind in HASH_PATHS:
        return f"[file:hashes.'{HASH_PATHS[kind]}' = '{quoted}']"
    path = {"ipv4": "ipv4-addr", "ipv6": "ipv6-addr", "domain": "domain-name", "url": "url"}[kind]
    return f"[{path}:value = '{quoted}']"


def stix_bundle(observables: list[tuple[str, str]], tlp: str, title: str,
                producer: str = "Hygie SOC") -> dict[str, Any]:
    """A STIX 2.1 bundle: the producer's identity, one indicator per shareable observable and a
    grouping, all marked with the chosen TLP (2.0 marking definitions)."""
    level = _tlp(tlp)
    values = shareable(observables)
    if not values:
        raise SharingRefused("the case has no shareable observable (public IP, domain, URL, hash)")
    marking = stix2.parse(TLP2[level], allow_custom=True)
    now = datetime.now(timezone.utc)
    identity = stix2.Identity(id=f"identity--{uuid.uuid5(NAMESPACE, producer)}", name=producer,
                              identity_class="organization", object_marking_refs=[marking.id])
    indicators = [stix2.Indicator(
        id=f"indicator--{uuid.uuid5(NAMESPACE, kind + ':' + value)}", created=now, modified=now,
        name=f"{kind} {value}"[:250], pattern=_pattern(kind, value), pattern_type="stix",
        valid_from=now, indicator_types=["malicious-activity"], created_by_ref=identity.id,
        object_marking_refs=[marking.id]) for kind, value in values]
    grouping = stix2.Grouping(name=title[:250], context="suspicious-activity",
                              object_refs=[i.id for i in indicators], created_by_ref=identity.id,
                              object_marking_refs=[marking.id])
    bundle = stix2.Bundle(marking, identity, *indicators, grouping, allow_custom=True)
    return json.loads(bundle.serialize())


MISP_TYPES = {"ipv4": "ip-dst", "ipv6": "ip-dst", "domain": "domain", "url": "url",
              "md5": "md5", "sha1": "sha1", "sha256": "sha256"}


def misp_event(observables: list[tuple[str, str]], tlp: str, title: str) -> dict[str, Any]:
    """A MISP event (core format, ``{"Event": …}``) tagged with the TLP, attributes to_ids."""
    from pymisp import MISPEvent

    level = _tlp(tlp)
    values = shareable(observables)
    if not values:
        raise SharingRefused("the case has no shareable observable (public IP, domain, URL, hash)")
    event = MISPEvent()
    event.info = title[:250]
    event.distribution = 0  # this organisation only, until the receiving side shares it further
    event.threat_level_id = 2
    event.analysis = 1
    event.add_tag(f"tlp:{level}")
    for kind, value in values:
        event.add_attribute(MISP_TYPES[kind], value, to_ids=True,
                            category="Network activity" if kind in ("ipv4", "ipv6", "domain", "url")
                            else "Payload delivery")
    return {"Event": json.loads(event.to_json())}


def push_taxii(url: str, bundle: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Add the bundle to a TAXII 2.1 collection (``url``); returns TAXII's status."""
    return taxii.push(url, bundle, options)


def push_misp(url: str, event: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Create the event on a MISP instance; returns MISP's answer (the event with its id)."""
    from pymisp import MISPEvent

    misp = misp_api.connect(url, options)
    created = MISPEvent()
    created.load(event)
    try:
        answer = misp.add_event(created)
    except Exception as exc:
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None
    if isinstance(answer, dict) and "errors" in answer:
        raise FeedError(f"{url}: MISP answered {answer['errors']}")
    return answer if isinstance(answer, dict) else {}
