"""Early warning from CISA's Known Exploited Vulnerabilities catalog (its public JSON format,
a file or URL), ranked by known ransomware use, internet exposure and care criticality.

The catalog names a vendor and a product, no versions. When NVD's record of the CVE is in the
store (``hygie intel nvd import``), its CPE criteria decide: an asset whose version is in a
vulnerable range gets a warning that says so, one outside every range gets none, one whose
version is unknown gets a "check your version" warning naming the ranges. Without NVD data,
an asset whose vendor and product are the KEV entry's gets the product-level warning."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine

from hygie.intel import nvd
from hygie.intel.cpe import Tri
from hygie.intel.feeds import fetch
from hygie.intel.indicators import Problem
from hygie.store.state import intel_assets_store as assets_store

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
CRITICALITY_RANK = {"vital": 60, "important": 30, "support": 0}
RANK_EXPOSED, RANK_RANSOMWARE, RANK_CONFIRMED = 100, 40, 20
LEVELS_BY_RANK = ((160, "critical"), (100, "high"), (40, "medium"), (0, "low"))
name_key = nvd.name_key


def read_catalog(location: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    items = fetch.vulnerabilities(location, "a KEV catalog")
    entries, problems = [], []
    for number, item in enumerate(items):
        cve = str(item.get("cveID", "")) if isinstance(item, dict) else ""
        where = f"{location}: vulnerabilities[{number}]" + (f" {cve}" if cve else "")
        if not _CVE.match(cve) or not item.get("vendorProject") or not item.get("product"):
            problems.append(Problem(where, "an entry needs cveID, vendorProject and product"))
            continue
        entries.append({"cve_id": cve, "vendor": str(item["vendorProject"])[:200],
                        "product": str(item["product"])[:200],
                        "name": str(item.get("vulnerabilityName", ""))[:500],
                        "date_added": str(item.get("dateAdded", ""))[:10],
                        "due_date": str(item.get("dueDate", ""))[:10],
                        "ransomware": str(item.get("knownRansomwareCampaignUse", "Unknown"))[:20],
                        "description": str(item.get("shortDescription", "")),
                        "action": str(item.get("requiredAction", ""))})
    return entries, problems


def level_for(rank: int) -> str:
    return next(level for floor, level in LEVELS_BY_RANK if rank >= floor)


def _same_product(asset: str, kev: str) -> bool:
    """Equal, or the asset's product continues the KEV product's name by whole words
    (``fortios_ssl_vpn`` is a ``fortios``), never by a prefix inside a word."""
    return bool(asset) and (asset == kev or asset.startswith(kev + "_"))


def asset_key(asset: Any) -> tuple[str, str]:
    name = nvd.keyed(nvd.asset_name(asset.cpe, asset.vendor, asset.product, asset.version))
    return (name.vendor.literal if name.vendor.kind == "value" else name_key(asset.vendor),
            name.product.literal if name.product.kind == "value" else name_key(asset.product))


def _platforms(assets: list[Any]) -> dict[int, list[Any]]:
    """Per asset, the names of the other assets on the same host or address (its platform)."""
    groups: dict[tuple[str, str], set[int]] = {}
    for asset in assets:
        groups.setdefault((asset.tenant_id, "h:" + asset.host.lower()), set()).add(asset.id)
        if asset.ip:
            groups.setdefault((asset.tenant_id, "ip:" + asset.ip), set()).add(asset.id)
    by_id = {a.id: a for a in assets}
    out: dict[int, list[Any]] = {}
    for asset in assets:
        others = groups[(asset.tenant_id, "h:" + asset.host.lower())] | \
            (groups[(asset.tenant_id, "ip:" + asset.ip)] if asset.ip else set())
        out[asset.id] = [nvd.asset_name(o.cpe, o.vendor, o.product, o.version)
                         for o in (by_id[i] for i in sorted(others - {asset.id}))]
    return out


def matches(assets: list[Any], entries: list[Any], cves: dict[str, Any] | None = None,
            products: dict[str, set[tuple[str, str]]] | None = None) -> list[dict[str, Any]]:
    """The KEV warnings: (asset, CVE) pairs with rank, level, reason and detail. ``cves``:
    NVD records by CVE id, ``products``: their (vendor, product) keys."""
    cves, products = cves or {}, products or {}
    by_key: dict[tuple[str, str], list[Any]] = {}
    by_vendor: dict[str, list[Any]] = {}
    for asset in assets:
        key = asset_key(asset)
        by_key.setdefault(key, []).append(asset)
        by_vendor.setdefault(key[0], []).append(asset)
    platforms = _platforms(assets) if cves else {}
    out = []
    for entry in entries:
        record = cves.get(entry.cve_id)
        judged: set[int] = set()  # assets NVD's criteria name: NVD decides for them
        if record is not None and record.configurations:
            candidates = {a.id: a for key in products.get(entry.cve_id, ())
                          for a in _candidates(by_key, by_vendor, key)}
            for asset in candidates.values():
                verdict = nvd.evaluate(record.configurations,
                                       nvd.asset_name(asset.cpe, asset.vendor, asset.product, asset.version),
                                       platforms.get(asset.id, []))
                judged.add(asset.id)
                if verdict.result is Tri.YES or (verdict.result is Tri.MAYBE and not _observed(asset)):
                    out.append(_warning(asset, entry, verdict))
        # the KEV's own names: every asset NVD's criteria do not name as the inventory spells it
        kev_vendor, kev_product = name_key(entry.vendor), name_key(entry.product)
        for asset in by_vendor.get(kev_vendor, []):
            if asset.id not in judged and not _observed(asset) and _same_product(asset_key(asset)[1], kev_product):
                out.append(_warning(asset, entry, None, nvd_known=record is not None and bool(record.configurations)))
    return out


def _observed(asset: Any) -> bool:
    """An asset only the events know of (``source`` observed): warned about only when NVD's
    ranges say its version is vulnerable. "Check the version" for every workstation an event
    named would flood the queue with one alert per host, none of them asked for."""
    return getattr(asset, "source", "") == "observed"


def _candidates(by_key: dict[tuple[str, str], list[Any]], by_vendor: dict[str, list[Any]],
                key: tuple[str, str]) -> list[Any]:
    vendor, product = key
    if vendor == "*" or product == "*":  # a criteria with a wildcard: every asset of the vendor, or all
        pool = [a for assets in by_vendor.values() for a in assets] if vendor == "*" else by_vendor.get(vendor, [])
        return pool
    return by_key.get(key, [])


def _warning(asset: Any, entry: Any, verdict: nvd.Verdict | None, nvd_known: bool = False) -> dict[str, Any]:
    ransomware = entry.ransomware.lower() == "known"
    confirmed = verdict is not None and verdict.result is Tri.YES
    rank = (RANK_EXPOSED if asset.exposed else 0) + CRITICALITY_RANK.get(asset.criticality, 0) \
        + (RANK_RANSOMWARE if ransomware else 0) + (RANK_CONFIRMED if confirmed else 0)
    runs = f"{asset.host} runs {asset.vendor} {asset.product} {asset.version}".rstrip()
    if verdict is None:
        applies = ("NVD's criteria do not name this product as the inventory spells it (give the asset its "
                   "CPE 2.3 name): check the version") if nvd_known else "check the version"
    elif confirmed:
        applies = f"version {asset.version or '(from its CPE)'} is in the vulnerable range ({verdict.ranges()})"
    else:
        applies = f"NVD lists vulnerable versions ({verdict.ranges()}); the version is not known precisely: check it"
    reason = (f"{runs}: {entry.cve_id} ({entry.name}) is known to be exploited"
              + (", used by ransomware" if ransomware else "")
              + f"; {applies}; exposed to the internet: {'yes' if asset.exposed else 'no'}; "
              + f"care criticality: {asset.criticality}; apply: {entry.action}")
    detail: dict[str, Any] = {"source": "nvd" if verdict is not None else "kev", "confirmed": confirmed,
                              "ransomware": ransomware, "exposed": bool(asset.exposed),
                              "criticality": asset.criticality, "due_date": entry.due_date}
    if verdict is not None:
        detail["matched"], detail["unknown"] = verdict.matched, verdict.unknown
    return {"tenant_id": asset.tenant_id, "asset_id": asset.id, "kind": "kev", "cve_id": entry.cve_id,
            "exposure_id": None, "rank": rank, "level": level_for(rank), "reason": reason, "detail": detail}


def import_catalog(engine: Engine, location: str) -> tuple[list[str], list[Problem], int]:
    """Read the catalog, store it, re-run the match: (new CVE ids, problems, new warnings)."""
    from hygie.intel.early_warning import run_early_warning  # the run needs this module

    entries, problems = read_catalog(location)
    new = assets_store.upsert_kev(engine, entries)
    return new, problems, run_early_warning(engine).new


def run_early_warning(engine: Engine) -> int:
    """The whole match (KEV, NVD, exposure) and its alerts; returns the new warnings."""
    from hygie.intel.early_warning import run_early_warning as run

    return run(engine).new
