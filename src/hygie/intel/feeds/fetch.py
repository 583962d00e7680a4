"""Reading a source by URL (http/https) or path, bounded in size so a hostile or broken feed
cannot exhaust memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson

from hygie.intel.feeds import FeedError

MAX_BYTES = 512 * 1024 * 1024
TIMEOUT_S = 60.0


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def read(location: str, headers: dict[str, str] | None = None, verify: bool = True) -> bytes:
    """The bytes at ``location`` (URL or file); ``FeedError`` when they cannot be had."""
    if not is_url(location):
        path = Path(location).expanduser()
        try:
            if path.stat().st_size > MAX_BYTES:
                raise FeedError(f"{location}: larger than {MAX_BYTES} bytes")
            return path.read_bytes()
        except OSError as exc:
            raise FeedError(f"{location}: {exc.strerror or exc}") from None
    try:
        with httpx.stream("GET", location, headers=headers, timeout=TIMEOUT_S, verify=verify,
                          follow_redirects=True) as response:
            if response.status_code != 200:
                raise FeedError(f"{location}: HTTP {response.status_code}")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BYTES:
                    raise FeedError(f"{location}: larger than {MAX_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise FeedError(f"{location}: {type(exc).__name__}: {exc}") from None


def child(location: str, name: str) -> str:
    """``name`` next to ``location``'s folder or URL path (a MISP feed's event files)."""
    if is_url(location):
        return location.rstrip("/") + "/" + name
    return str(Path(location) / name)


def vulnerabilities(location: str, what: str) -> list[Any]:
    """The ``vulnerabilities`` list of a JSON document (CISA's KEV catalog and NVD's CVE API 2.0
    both hold their entries there); ``what`` names the expected document in errors."""
    try:
        doc = orjson.loads(read(location))
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"{location}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise FeedError(f"{location}: not {what} (an object with 'vulnerabilities')")
    return doc["vulnerabilities"]
