"""CVE applicability from NVD's CVE API 2.0 JSON (``{"vulnerabilities": [{"cve": {...}}]}``, the
shape of its API pages and of the files saved from them), and its evaluation against an asset.

A CVE's ``configurations`` are read as NVD states them: each configuration has nodes (an
``operator`` AND/OR between them, ``OR`` when absent), each node an operator, ``negate`` and
``cpeMatch`` criteria (a CPE 2.3 name, ``vulnerable``, optional version range). In an AND
configuration, the criteria with ``vulnerable: false`` are the platform the product must run
on ("running on Windows"): they are looked for among the other assets of the same host or
address; when the inventory says nothing of that kind of platform, the answer is MAYBE.

A CVE whose criteria cannot all be read is skipped whole and reported: dropping one criteria
could turn "vulnerable" into "not vulnerable"."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from hygie.intel import cpe
from hygie.intel.cpe import Name, Range, Tri
from hygie.intel.feeds import FeedError, fetch
from hygie.intel.indicators import Problem

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
RANGE_KEYS = ("versionStartIncluding", "versionStartExcluding", "versionEndIncluding", "versionEndExcluding")
MAX_FILES = 10_000


def name_key(text: str) -> str:
    """Vendor and product names compared without case, spaces or punctuation (an inventory's
    "Node.js" is NVD's ``node\\.js``)."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def keyed(name: Name) -> Name:
    """``name`` with its literal vendor and product as ``name_key`` (wildcards kept)."""
    values = list(name.values)
    for index in (1, 2):
        value = values[index]
        if value.kind == "value" and not value.wild:
            values[index] = cpe.Value("value", name_key(value.literal))
    return Name(tuple(values))


@dataclass(slots=True)
class CveRecord:
    cve_id: str
    published: str = ""
    last_modified: str = ""
    description: str = ""
    severity: str = ""
    score: float | None = None
    configurations: list[dict[str, Any]] = field(default_factory=list)

    def products(self) -> set[tuple[str, str]]:
        """(vendor, product) keys of the vulnerable criteria: what indexes the CVE."""
        found = set()
        for config in self.configurations:
            for node in config["nodes"]:
                for match in node["cpeMatch"]:
                    if match["vulnerable"]:
                        name = keyed(cpe.parse(match["criteria"]))
                        found.add((_index_value(name.vendor), _index_value(name.product)))
        return found


def _index_value(value: cpe.Value) -> str:
    return value.literal if value.kind == "value" and not value.wild else "*"


def locations(location: str) -> list[str]:
    """A file or URL as is; a folder as its ``*.json`` files, sorted."""
    path = Path(location)
    if not fetch.is_url(location) and path.is_dir():
        files = sorted(str(p) for p in path.rglob("*.json"))[:MAX_FILES]
        if not files:
            raise FeedError(f"{location}: no .json file in the folder")
        return files
    return [location]


def read(location: str) -> tuple[list[CveRecord], list[Problem]]:
    """Every CVE record of a file, URL or folder; a malformed record is reported and skipped.
    A file that is no NVD JSON at all is one problem; ``FeedError`` only when nothing at all
    could be read from a single file or URL."""
    records: list[CveRecord] = []
    problems: list[Problem] = []
    files = locations(location)
    for name in files:
        try:
            found, bad = read_document(name)
        except FeedError as exc:
            if len(files) == 1:
                raise
            problems.append(Problem(name, str(exc)))
            continue
        records.extend(found)
        problems.extend(bad)
    return records, problems


def read_document(location: str) -> tuple[list[CveRecord], list[Problem]]:
    items = fetch.vulnerabilities(location, "an NVD CVE API 2.0 document")
    records, problems = [], []
    for number, item in enumerate(items):
        cve = item.get("cve") if isinstance(item, dict) else None
        cve_id = str(cve.get("id", "")) if isinstance(cve, dict) else ""
        where = f"{location}: vulnerabilities[{number}]" + (f" {cve_id}" if cve_id else "")
        try:
            if not isinstance(cve, dict) or not _CVE.match(cve_id):
                raise ValueError("an entry needs 'cve' with an 'id' such as CVE-2024-21762")
            records.append(record(cve))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(Problem(where, str(exc)))
    return records, problems


def record(cve: dict[str, Any]) -> CveRecord:
    descriptions = cve.get("descriptions") or []
    english = next((d.get("value", "") for d in descriptions if isinstance(d, dict) and d.get("lang") == "en"), "")
    severity, score = _cvss(cve.get("metrics") or {})
    configurations = [_configuration(c, f"configurations[{i}]")
                      for i, c in enumerate(_list(cve.get("configurations", []), "configurations"))]
    return CveRecord(cve_id=str(cve["id"]), published=str(cve.get("published", ""))[:30],
                     last_modified=str(cve.get("lastModified", ""))[:30], description=str(english),
                     severity=severity, score=score, configurations=configurations)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a list")
    return value


def _operator(value: Any, where: str) -> str:
    operator = str(value or "OR").upper()
    if operator not in ("AND", "OR"):
        raise ValueError(f"{where}: operator must be AND or OR, not {value!r}")
    return operator


def _configuration(config: Any, where: str) -> dict[str, Any]:
    if not isinstance(config, dict):
        raise ValueError(f"{where} must be an object")
    nodes = [_node(n, f"{where}.nodes[{i}]") for i, n in enumerate(_list(config.get("nodes"), f"{where}.nodes"))]
    if not nodes:
        raise ValueError(f"{where} has no nodes")
    return {"operator": _operator(config.get("operator"), where), "negate": bool(config.get("negate", False)),
            "nodes": nodes}


def _node(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise ValueError(f"{where} must be an object")
    matches = []
    for index, match in enumerate(_list(node.get("cpeMatch"), f"{where}.cpeMatch")):
        place = f"{where}.cpeMatch[{index}]"
        if not isinstance(match, dict) or not isinstance(match.get("vulnerable"), bool):
            raise ValueError(f"{place}: needs 'vulnerable' (true or false) and 'criteria'")
        try:
            cpe.parse(str(match.get("criteria", "")))
        except cpe.CpeError as exc:
            raise ValueError(f"{place}: {exc}") from None
        kept = {"vulnerable": match["vulnerable"], "criteria": str(match["criteria"])}
        for key in RANGE_KEYS:
            if match.get(key) not in (None, ""):
                kept[key] = str(match[key])
        matches.append(kept)
    if not matches:
        raise ValueError(f"{where} has no cpeMatch")
    return {"operator": _operator(node.get("operator"), where), "negate": bool(node.get("negate", False)),
            "cpeMatch": matches}


def _cvss(metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The primary CVSS base score and severity, newest CVSS version first."""
    for key in ("cvssMetricV40", "cvssMetricV31", "cvssMetricV30", "cvssMetricV2"):
        entries = [m for m in metrics.get(key) or [] if isinstance(m, dict)]
        entries.sort(key=lambda m: m.get("type") != "Primary")
        for entry in entries:
            data = entry.get("cvssData") or {}
            score = data.get("baseScore")
            severity = data.get("baseSeverity") or entry.get("baseSeverity") or ""
            if isinstance(score, (int, float)):
                return str(severity).lower()[:12], float(score)
    return "", None


# -- applicability -------------------------------------------------------------------------------
@dataclass(slots=True)
class Verdict:
    """Whether a CVE applies to an asset, and why: the criteria (with ranges) that matched it,
    and what could not be told (version unknown, platform not in the inventory)."""

    result: Tri
    matched: list[dict[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)

    def ranges(self) -> str:
        return "; ".join(f"{m['range']} of {m['criteria']}" for m in self.matched)


def criteria_range(match: dict[str, Any]) -> Range:
    return Range(match.get("versionStartIncluding"), match.get("versionStartExcluding"),
                 match.get("versionEndIncluding"), match.get("versionEndExcluding"))


def _short(criteria: str) -> str:
    """``cpe:2.3:o:fortinet:fortios:*:*:...`` without its trailing ANY fields."""
    return re.sub(r"(?::\*)+$", "", criteria)


def evaluate(configurations: list[dict[str, Any]], asset: Name, platform: list[Name]) -> Verdict:
    """Whether the configurations make ``asset`` vulnerable, ``platform`` being the names of
    the other assets on the same host. Only configurations in which the asset itself meets a
    vulnerable criteria count. Names are compared keyed (``keyed``)."""
    asset, platform = keyed(asset), [keyed(p) for p in platform]
    verdict = Verdict(Tri.NO)
    for config in configurations:
        own, found, unknown = Tri.NO, [], []
        results = []
        for node in config["nodes"]:
            answers = []
            for match in node["cpeMatch"]:
                criteria, bounds = keyed(cpe.parse(match["criteria"])), criteria_range(match)
                if match["vulnerable"]:
                    mine = cpe.match_with_range(criteria, bounds, asset)
                    if mine is not Tri.NO:
                        own = max(own, mine)
                        found.append({"criteria": _short(match["criteria"]), "range": str(bounds),
                                      "result": mine.name.lower()})
                        if mine is Tri.MAYBE:
                            unknown.append(f"{_short(match['criteria'])} ({bounds}): the asset's "
                                           "version or edition is not known precisely enough")
                    answer = max([mine, *(cpe.match_with_range(criteria, bounds, p) for p in platform)])
                else:
                    answer = _platform(criteria, bounds, [asset, *platform])
                    if answer is Tri.MAYBE:
                        unknown.append(f"runs on {_short(match['criteria'])}: not in the inventory of this host")
                answers.append(answer)
            result = cpe.tri_all(answers) if node["operator"] == "AND" else cpe.tri_any(answers)
            results.append(~result if node["negate"] else result)
        outcome = cpe.tri_all(results) if config["operator"] == "AND" else cpe.tri_any(results)
        outcome = ~outcome if config.get("negate") else outcome
        outcome = min(outcome, own)
        if outcome > verdict.result:
            verdict = Verdict(outcome)
        if outcome is not Tri.NO and outcome == verdict.result:
            verdict.matched.extend(m for m in found if m not in verdict.matched)
            verdict.unknown.extend(u for u in unknown if u not in verdict.unknown and outcome is Tri.MAYBE)
    return verdict


def _platform(criteria: Name, bounds: Range, names: list[Name]) -> Tri:
    """A "running on" criteria: YES when a name of the host meets it; NO when the host's
    inventory names a platform of that part (an operating system, say) and none meets it;
    MAYBE when the inventory names none."""
    best = cpe.tri_any([cpe.match_with_range(criteria, bounds, n) for n in names])
    if best is not Tri.NO:
        return best
    part = criteria.part
    known = any(n.part.kind == "value" and (part.kind != "value" or n.part.literal == part.literal) for n in names)
    return Tri.NO if known else Tri.MAYBE


def asset_name(cpe_name: str, vendor: str, product: str, version: str) -> Name:
    """An asset as a CPE name: its own CPE 2.3 when it has a valid one (its version column
    filling a CPE version left ANY), else its columns."""
    if cpe_name:
        try:
            name = cpe.parse(cpe_name)
        except cpe.CpeError:
            pass
        else:
            if name.version.kind == "any" and version.strip():
                values = list(name.values)
                values[3] = cpe.literal(version)
                name = Name(tuple(values))
            return name
    return cpe.build("*", vendor, product, version)
