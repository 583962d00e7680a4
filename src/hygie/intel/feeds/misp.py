"""MISP events to indicators, shared by the MISP feed reader and the REST importer.

Attribute types (MISP's core format) are mapped to Hygie's indicator types; composite types
(``ip-dst|port``, ``filename|sha256``, ``domain|ip``) give their indicator parts. Only
attributes flagged ``to_ids`` become indicators unless the feed says ``all_attributes``: MISP's
own meaning of "usable for detection". TLP comes from the attribute's tags, else the event's;
confidence from the event's threat level unless a ``confidence-level`` tag says otherwise."""

from __future__ import annotations

from typing import Any

from hygie.intel.feeds import ImportResult, parse_time
from hygie.intel.indicators import Indicator, tlp_from_tags

# MISP attribute type -> (indicator type or None to guess, index of the part for composites)
TYPE_MAP: dict[str, tuple[str | None, int]] = {
    "ip-src": (None, 0), "ip-dst": (None, 0), "ip-src|port": (None, 0), "ip-dst|port": (None, 0),
    "domain": ("domain", 0), "hostname": ("domain", 0), "domain|ip": ("domain", 0),
    "hostname|port": ("domain", 0), "url": ("url", 0),
    "md5": ("md5", 0), "sha1": ("sha1", 0), "sha256": ("sha256", 0),
    "filename|md5": ("md5", 1), "filename|sha1": ("sha1", 1), "filename|sha256": ("sha256", 1),
    "email": ("email", 0), "email-src": ("email", 0), "email-dst": ("email", 0),
    "ja3-fingerprint-md5": ("ja3", 0),
}
THREAT_CONFIDENCE = {"1": 90, "2": 70, "3": 40, "4": 50}  # high, medium, low, undefined
CONFIDENCE_TAGS = {"confidence-level:confidence=\"completely-confident\"": 100,
                   "confidence-level:confidence=\"usually-confident\"": 75,
                   "confidence-level:confidence=\"fairly-confident\"": 50,
                   "confidence-level:confidence=\"rarely-confident\"": 25,
                   "confidence-level:confidence=\"unconfident\"": 0}


def tag_names(node: dict[str, Any]) -> list[str]:
    tags = node.get("Tag") or []
    return [t.get("name", "") for t in tags if isinstance(t, dict)]


def _confidence(tags: list[str], event: dict[str, Any]) -> int | None:
    for tag in tags:
        if tag in CONFIDENCE_TAGS:
            return CONFIDENCE_TAGS[tag]
    level = event.get("threat_level_id")
    return THREAT_CONFIDENCE.get(str(level)) if level is not None else None


def read_event(doc: dict[str, Any], where: str, result: ImportResult) -> None:
    """Add the indicators of one MISP event (``{"Event": {...}}`` or the event itself)."""
    event = doc.get("Event", doc) if isinstance(doc, dict) else None
    if not isinstance(event, dict):
        result.problem(where, "not a MISP event")
        return
    event_tags = tag_names(event)
    attributes = list(event.get("Attribute") or [])
    for obj in event.get("Object") or []:
        if isinstance(obj, dict):
            attributes.extend(obj.get("Attribute") or [])
    label = f"{where}: event {event.get('uuid', '?')}"
    for attribute in attributes:
        if isinstance(attribute, dict):
            read_attribute(attribute, event, event_tags, label, result)
        else:
            result.problem(label, "an attribute that is not an object")


def read_attribute(attribute: dict[str, Any], event: dict[str, Any], event_tags: list[str],
                   where: str, result: ImportResult) -> None:
    here = f"{where} attribute {attribute.get('uuid', '?')}"
    if attribute.get("deleted") in (True, 1, "1"):
        return
    if not result.options.get("all_attributes") and attribute.get("to_ids") not in (True, 1, "1"):
        return
    mapped = TYPE_MAP.get(str(attribute.get("type", "")))
    if mapped is None:
        return  # a type that is no indicator Hygie matches (filename, text, regkey...)
    kind, part = mapped
    value = str(attribute.get("value", ""))
    if "|" in str(attribute.get("type")):
        pieces = value.split("|")
        if len(pieces) != 2:
            result.problem(here, f"composite value without its two parts: {value[:80]!r}")
            return
        value = pieces[part]
    if kind is None:  # ip-src/ip-dst hold an address or a range, either family
        kind = "cidr" if "/" in value else "ipv6" if ":" in value else "ipv4"
    tags = tag_names(attribute)
    info = str(event.get("info", ""))
    result.add(Indicator(
        type=kind, value=value, confidence=_confidence(tags + event_tags, event),
        tlp=tlp_from_tags(tags, tlp_from_tags(event_tags, "")) or None,
        first_seen=parse_time(attribute.get("first_seen")) or parse_time(event.get("date")),
        last_seen=parse_time(attribute.get("last_seen")) or parse_time(attribute.get("timestamp")),
        description=f"{info} ({attribute.get('comment')})" if attribute.get("comment") else info,
        tags=[t for t in tags + event_tags if not t.lower().startswith("tlp:")][:20],
        ref=str(attribute.get("uuid", ""))), here)
