"""STIX 2.1 bundles (files, URLs, TAXII envelopes) to indicators with the ``stix2`` library.

Each object is parsed on its own, so a malformed one is reported by its id and the others are
read. Indicators with ``pattern_type: stix`` give one indicator per equality (or ``IN`` list
member, or ``ISSUBSET`` range) joined by OR: ``[ipv4-addr:value = '…']``,
``[file:hashes.'SHA-256' = '…']``, ``[domain-name:value = '…']``, ``[url:value = '…']``.
A pattern that needs several values at once (``AND``, ``FOLLOWEDBY``) cannot be one set
lookup and is reported. ``valid_until`` is the expiry, ``confidence`` (0-100) is kept, TLP
comes from the TLP marking definitions (1.0 and 2.0 ids) or ``tlp:`` labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import stix2
from stix2 import patterns
from stix2.pattern_visitor import create_pattern_object

from hygie.intel.feeds import FeedError, ImportResult, fetch, parse_time
from hygie.intel.indicators import Indicator, tlp_from_tags

TLP2 = {tlp: obj for tlp, obj in json.loads(
    (Path(__file__).resolve().parents[1] / "tlp2.json").read_text(encoding="utf-8")).items()
    if not tlp.startswith("_")}
TLP_MARKINGS = {stix2.TLP_WHITE.id: "clear", stix2.TLP_GREEN.id: "green",
                stix2.TLP_AMBER.id: "amber", stix2.TLP_RED.id: "red",
                **{obj["id"]: tlp for tlp, obj in TLP2.items()}}
PATHS = {("ipv4-addr", "value"): "ipv4", ("ipv6-addr", "value"): "ipv6",
         ("domain-name", "value"): "domain", ("url", "value"): "url",
         ("email-addr", "value"): "email", ("email-message", "from_ref.value"): "email",
         ("file", "hashes.MD5"): "md5", ("file", "hashes.SHA-1"): "sha1",
         ("file", "hashes.SHA1"): "sha1", ("file", "hashes.SHA-256"): "sha256",
         ("file", "hashes.SHA256"): "sha256",
         ("network-traffic", "extensions.x-ja3.ja3"): "ja3", ("x-ja3", "value"): "ja3"}


class PatternError(ValueError):
    """A pattern Hygie cannot turn into set lookups."""


def read(location: str, options: dict[str, Any]) -> ImportResult:
    """A bundle file or URL."""
    try:
        doc = orjson.loads(fetch.read(location))
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"{location}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("objects", []), list):
        raise FeedError(f"{location}: not a STIX bundle (an object with 'objects')")
    result = ImportResult(dict(options))
    read_objects(doc.get("objects") or [], location, result)
    return result


def read_objects(objects: list[Any], where: str, result: ImportResult) -> None:
    for number, raw in enumerate(objects):
        if not isinstance(raw, dict) or raw.get("type") != "indicator":
            continue  # identities, marking definitions, relationships: context, not indicators
        here = f"{where}: {raw.get('id', f'object #{number}')}"
        try:
            obj = stix2.parse(raw, allow_custom=True, version="2.1")
        except Exception as exc:  # stix2 raises many kinds of errors for invalid objects
            result.problem(here, f"invalid STIX indicator: {exc}".split("\n", 1)[0][:300])
            continue
        if obj.get("revoked"):
            result.withdrawn.append(obj.id)  # a later version withdrew it (incremental polls)
            continue
        if obj.get("pattern_type") != "stix":
            continue
        try:
            pairs = pattern_values(obj.pattern)
        except PatternError as exc:
            result.problem(here, str(exc))
            continue
        markings = [TLP_MARKINGS[m] for m in obj.get("object_marking_refs", []) if m in TLP_MARKINGS]
        tlp = tlp_from_tags([f"tlp:{m}" for m in markings] + list(obj.get("labels", [])), "") or None
        for kind, value in pairs:
            result.add(Indicator(
                type=kind, value=value, confidence=obj.get("confidence"), tlp=tlp,
                first_seen=parse_time(str(obj.valid_from)),
                last_seen=parse_time(str(obj.modified)),
                expires=parse_time(str(obj.valid_until)) if obj.get("valid_until") else None,
                description=str(obj.get("name") or obj.get("description") or "")[:500],
                tags=[label for label in obj.get("labels", []) if not label.startswith("tlp:")][:20],
                ref=obj.id), here)


def pattern_values(pattern: str) -> list[tuple[str, str]]:
    """(indicator type, value) of each alternative a STIX pattern lists."""
    try:
        tree = create_pattern_object(pattern, version="2.1")
    except Exception as exc:
        raise PatternError(f"pattern does not parse: {str(exc).splitlines()[0][:200]}") from None
    out: list[tuple[str, str]] = []
    _walk(tree, out)
    if not out:
        raise PatternError("pattern names no value Hygie matches")
    return out


def _walk(node: Any, out: list[tuple[str, str]]) -> None:
    if isinstance(node, (patterns.OrObservationExpression, patterns.OrBooleanExpression)):
        for operand in node.operands:
            _walk(operand, out)
    elif isinstance(node, patterns.ObservationExpression):
        _walk(node.operand, out)
    elif isinstance(node, (patterns.EqualityComparisonExpression, patterns.InComparisonExpression,
                           patterns.IsSubsetComparisonExpression)):
        if node.negated:
            raise PatternError("a negated comparison is not an indicator value")
        path = ".".join(str(getattr(c, "property_name", "")).strip("'")
                        for c in node.lhs.property_path)
        kind = PATHS.get((node.lhs.object_type_name, path))
        if kind is None:
            raise PatternError(f"{node.lhs.object_type_name}:{path} is not matched by Hygie")
        if isinstance(node, patterns.IsSubsetComparisonExpression):
            kind = "cidr"
        values = node.rhs.value if isinstance(node.rhs, patterns.ListConstant) else [node.rhs]
        out.extend((kind, str(v.value)) for v in values)
    else:
        raise PatternError(f"{type(node).__name__} needs several values at once; only "
                           "comparisons joined by OR are indicators")
