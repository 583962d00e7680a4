"""Plain lists: text (one value a line, ``#`` comments, type recognised from the value) and
CSV (with a header naming ``value`` and optionally ``type``, ``confidence``, ``tlp``,
``expires``, ``description``; without one, the first column is the value)."""

from __future__ import annotations

import csv
import io
from typing import Any

from hygie.intel.feeds import ImportResult, fetch, parse_time
from hygie.intel.indicators import TYPES, Indicator, guess_type

COLUMNS = {"value", "type", "confidence", "tlp", "expires", "description", "indicator"}


def _text(location: str) -> str:
    return fetch.read(location).decode("utf-8-sig", "replace")


def read_text(location: str, options: dict[str, Any]) -> ImportResult:
    result = ImportResult(dict(options))
    for number, line in enumerate(_text(location).splitlines(), 1):
        value = line.split("#", 1)[0].strip() if not line.lstrip().startswith("http") else line.strip()
        if not value:
            continue
        _add(result, value, None, f"{location}:{number}")
    return result


def read_csv(location: str, options: dict[str, Any]) -> ImportResult:
    result = ImportResult(dict(options))
    rows = list(csv.reader(io.StringIO(_text(location))))
    if not rows:
        return result
    header = [c.strip().lower() for c in rows[0]]
    named = "value" in header or "indicator" in header
    start = 2 if named else 1
    for number, row in enumerate(rows[1:] if named else rows, start):
        if not row or not any(c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{location}:{number}"
        if not named:
            _add(result, row[0].strip(), None, where)
            continue
        if len(row) > len(header):
            result.problem(where, f"{len(row)} columns where the header has {len(header)}")
            continue
        row = row + [""] * (len(header) - len(row))  # trailing empty cells left out
        cells = dict(zip(header, (c.strip() for c in row)))
        try:
            confidence = int(cells["confidence"]) if cells.get("confidence") else None
        except ValueError:
            result.problem(where, f"confidence {cells['confidence'][:20]!r} is not a number")
            continue
        extra = {"confidence": confidence, "tlp": cells.get("tlp") or None,
                 "expires": parse_time(cells.get("expires")),
                 "description": cells.get("description", "")}
        _add(result, cells.get("value") or cells.get("indicator", ""), cells.get("type") or None,
             where, extra)
    return result


def _add(result: ImportResult, value: str, kind: str | None, where: str,
         extra: dict[str, Any] | None = None) -> None:
    kind = kind.lower() if kind and kind.lower() in TYPES else guess_type(value)
    if kind is None:
        result.problem(where, f"{value[:80]!r} is no IP, range, domain, URL, hash or email")
        return
    result.add(Indicator(type=kind, value=value, ref=where[-200:], **(extra or {})), where)
