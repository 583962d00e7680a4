"""A MISP feed as MISP publishes one (``manifest.json`` listing event uuids, one
``<uuid>.json`` per event), from a URL or a folder."""

from __future__ import annotations

from typing import Any

import orjson

from hygie.intel.feeds import FeedError, ImportResult, fetch
from hygie.intel.feeds.misp import read_event


def read(location: str, options: dict[str, Any]) -> ImportResult:
    """Every event the manifest lists; an event file that is missing or not JSON is reported
    and the others are read. ``location`` is the feed's folder or base URL (or its manifest)."""
    base = location.removesuffix("manifest.json").rstrip("/") or location
    manifest_at = fetch.child(base, "manifest.json")
    try:
        manifest = orjson.loads(fetch.read(manifest_at))
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"{manifest_at}: not JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise FeedError(f"{manifest_at}: a MISP manifest is an object keyed by event uuid")
    result = ImportResult(dict(options))
    for uuid in manifest:
        name = f"{uuid}.json"
        if "/" in uuid or "\\" in uuid or uuid.startswith("."):
            result.problem(manifest_at, f"event id {uuid[:80]!r} is not a file name")
            continue
        at = fetch.child(base, name)
        try:
            doc = orjson.loads(fetch.read(at))
        except FeedError as exc:
            result.problem(at, str(exc))
            continue
        except orjson.JSONDecodeError as exc:
            result.problem(at, f"not JSON ({exc})")
            continue
        read_event(doc, name, result)
    return result
