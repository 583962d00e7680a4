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

from hygie.intel import cpe
from hygie.intel.feeds import fetch
from hygie.intel.indicators import Problem

CRITICALITIES = ("vital", "important", "support")
TRUE = {"yes", "y", "true", "1", "oui", "x"}
FALSE = {"no", "n", "false", "0", "non", ""}


def parse_cpe(name: str) -> dict[str, str]:
    """Part, vendor, product and version (unquoted; empty for ANY or NA) of a CPE 2.3
    formatted string; ``ValueError`` (``CpeError``) says why it is not one."""
    parsed = cpe.parse(name)
    return {attribute: value.literal if value.kind == "value" else ""
            for attribute, value in zip(("part", "vendor", "product", "version"), parsed.values)}


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
        cells = dict(zip(header, (c.replace("\x00", "").strip() for c in row)))
        try:
            assets.append(_asset(cells))
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
    return assets, problems


def _asset(cells: dict[str, str]) -> dict[str, Any]:
    host = cells.get("host", "")
    if not host:
        raise ValueError("no host")
    return {"host": host[:255], **checked_fields(cells, complete=True)}


def checked_fields(cells: dict[str, Any], complete: bool = False) -> dict[str, Any]:
    """The inventory columns of ``cells`` checked and normalised (a CSV row, or an edit from
    the console or the API, where only the columns given change); ``ValueError`` says which
    is wrong. A CPE fills vendor, product and version left empty."""
    cells = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in cells.items()}
    asset: dict[str, Any] = {}
    if cells.get("host") is not None and not complete:
        host = str(cells["host"]).strip()
        if not host:
            raise ValueError("host must not be empty")
        asset["host"] = host[:255]
    if complete or cells.get("ip") is not None:
        text = str(cells.get("ip") or "").strip()
        asset["ip"] = str(ipaddress.ip_address(text)) if text else ""
    cpe_name = str(cells.get("cpe") or "").strip()
    parsed = parse_cpe(cpe_name) if cpe_name else {}
    if cpe_name or "cpe" in cells:
        asset["cpe"] = cpe_name[:500]
    for name in ("vendor", "product", "version"):
        if complete or name in cells or parsed:
            given = str(cells.get(name) or "").strip()
            asset[name] = (given or parsed.get(name, ""))[:200 if name != "version" else 100]
    if complete or cells.get("criticality") is not None:
        criticality = (str(cells.get("criticality") or "") or "support").strip().lower()
        if criticality not in CRITICALITIES:
            raise ValueError(f"criticality must be one of {', '.join(CRITICALITIES)}, not {criticality!r}")
        asset["criticality"] = criticality
    if complete or cells.get("exposed") is not None:
        exposed = cells.get("exposed", "")
        if not isinstance(exposed, bool):
            text = str(exposed).strip().lower()
            if text not in TRUE | FALSE:
                raise ValueError(f"exposed must be yes or no, not {text!r}")
            exposed = text in TRUE
        asset["exposed"] = exposed
    for name, size in (("owner", 200), ("zone", 100)):
        if complete or cells.get(name) is not None:
            asset[name] = str(cells.get(name) or "").strip()[:size]
    return asset
