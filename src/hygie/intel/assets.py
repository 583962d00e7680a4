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


class HeaderError(ValueError):
    """The first line names no ``host`` column: nothing in the file can be read as an asset."""


def read_csv(location: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The assets of a file or URL, and the rows skipped (a bad header is one problem, line 1)."""
    try:
        return parse_csv(fetch.read(location), location)
    except HeaderError as exc:
        return [], [Problem(f"{location}:1", str(exc))]


def parse_csv(data: bytes, name: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The assets of CSV bytes (the CLI's file, the console's upload) and the rows refused, as
    ``name:line``; ``HeaderError`` when the header has no ``host``. UTF-8 (with or without BOM),
    else Windows-1252 (a spreadsheet's export); ``;`` separates when the header has no comma."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    first = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text), delimiter=";" if ";" in first and "," not in first else ",")
    try:
        header = [c.strip().lower() for c in next(reader, [])]
    except csv.Error as exc:
        raise HeaderError(f"the header is not CSV ({exc})") from None
    if "host" not in header:
        raise HeaderError("the header must name a 'host' column")
    problems: list[Problem] = []
    assets = []
    end = reader.line_num
    while True:
        start = end + 1  # a row's first line (a quoted cell may hold line breaks)
        try:
            row = next(reader, None)
        except csv.Error as exc:  # a cell over the csv module's size limit: the rest is not read
            problems.append(Problem(f"{name}:{start}", f"unreadable from here on ({exc})"))
            break
        if row is None:
            break
        end = reader.line_num
        if not any(c.strip() for c in row):
            continue
        cells = dict(zip(header, (c.replace("\x00", "").strip() for c in row)))
        try:
            assets.append(_asset(cells))
        except ValueError as exc:
            problems.append(Problem(f"{name}:{start}", str(exc)))
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
