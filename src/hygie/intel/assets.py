"""The asset inventory of a hospital from CSV: hosts, applications and medical systems with
vendor, product, version, CPE 2.3 name, care criticality and internet exposure.

Columns (header required): ``host`` and any of ``ip``, ``vendor``, ``product``, ``version``,
``cpe``, ``criticality`` (vital / important / support), ``exposed`` (yes/no), ``owner``,
``zone``. A CPE fills vendor, product and version when their columns are empty. A bad row is
reported with its line and the others are imported."""

from __future__ import annotations

import csv
import io
import ipaddress
from typing import Any

from hygie.intel.feeds import fetch
from hygie.intel.indicators import Problem

CRITICALITIES = ("vital", "important", "support")
TRUE = {"yes", "y", "true", "1", "oui", "x"}
FALSE = {"no", "n", "false", "0", "non", ""}


def parse_cpe(name: str) -> dict[str, str]:
    """Part, vendor, product and version of a CPE 2.3 formatted string; ``ValueError``."""
    parts = name.strip().split(":")
    if len(parts) != 13 or parts[0] != "cpe" or parts[1] != "2.3" or parts[2] not in ("a", "o", "h"):
        raise ValueError(f"not a CPE 2.3 name (cpe:2.3:part:vendor:product:version:…, 13 fields): {name[:80]!r}")
    return {"part": parts[2], "vendor": parts[3], "product": parts[4],
            "version": "" if parts[5] in ("*", "-") else parts[5]}


def read_csv(location: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    text = fetch.read(location).decode("utf-8-sig", "replace")
    rows = list(csv.reader(io.StringIO(text)))
    problems: list[Problem] = []
    if not rows or "host" not in [c.strip().lower() for c in rows[0]]:
        return [], [Problem(f"{location}:1", "the header must name a 'host' column")]
    header = [c.strip().lower() for c in rows[0]]
    assets = []
    for number, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        where = f"{location}:{number}"
        cells = dict(zip(header, (c.strip() for c in row)))
        try:
            assets.append(_asset(cells))
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
    return assets, problems


def _asset(cells: dict[str, str]) -> dict[str, Any]:
    host = cells.get("host", "")
    if not host:
        raise ValueError("no host")
    asset: dict[str, Any] = {"host": host[:255]}
    if cells.get("ip"):
        asset["ip"] = str(ipaddress.ip_address(cells["ip"]))
    cpe = cells.get("cpe", "")
    parsed = parse_cpe(cpe) if cpe else {}
    if cpe:
        asset["cpe"] = cpe[:500]
    for name in ("vendor", "product", "version"):
        asset[name] = (cells.get(name) or parsed.get(name, ""))[:200 if name != "version" else 100]
    criticality = (cells.get("criticality") or "support").lower()
    if criticality not in CRITICALITIES:
        raise ValueError(f"criticality must be one of {', '.join(CRITICALITIES)}, not {criticality!r}")
    asset["criticality"] = criticality
    exposed = cells.get("exposed", "").lower()
    if exposed not in TRUE | FALSE:
        raise ValueError(f"exposed must be yes or no, not {exposed!r}")
    asset["exposed"] = exposed in TRUE
    asset["owner"], asset["zone"] = cells.get("owner", "")[:200], cells.get("zone", "")[:100]
    return asset
