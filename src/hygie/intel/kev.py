"""Early warning from CISA's Known Exploited Vulnerabilities catalog (its public JSON format,
a file or URL): each entry names a vendor and a product; an asset whose vendor and product
(from its columns or its CPE 2.3 name) are the same raises a warning for its tenant, ranked by
internet exposure, care criticality and known ransomware use.

The catalog names no versions, so a KEV entry applies to every version of the product: the
warning says "check your version", and NVD applicability (CPE version ranges) is still to do."""

from __future__ import annotations

import re
from typing import Any

import orjson
from sqlalchemy import Engine

from hygie.intel.feeds import FeedError, fetch
from hygie.intel.indicators import Problem
from hygie.store.state import intel_assets_store as assets_store

_CVE = re.compile(r"^CVE-\d{4}-\d{4,}$")
CRITICALITY_RANK = {"vital": 60, "important": 30, "support": 0}


def read_catalog(location: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    try:
        doc = orjson.loads(fetch.read(location))
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"{location}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vulnerabilities"), list):
        raise FeedError(f"{location}: not a KEV catalog (an object with 'vulnerabilities')")
    entries, problems = [], []
    for number, item in enumerate(doc["vulnerabilities"]):
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


def name_key(text: str) -> str:
    """Vendor and product names compared without case, spaces or punctuation."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _same_product(asset: str, kev: str) -> bool:
    """Equal, or the asset's product continues the KEV product's name by whole words
    (``fortios_ssl_vpn`` is a ``fortios``), never by a prefix inside a word."""
    return bool(asset) and (asset == kev or asset.startswith(kev + "_"))


def matches(assets: list[Any], entries: list[Any]) -> list[dict[str, Any]]:
    by_vendor: dict[str, list[Any]] = {}
    for entry in entries:
        by_vendor.setdefault(name_key(entry.vendor), []).append(entry)
    out = []
    for asset in assets:
        vendor, product = name_key(asset.vendor), name_key(asset.product)
        for entry in by_vendor.get(vendor, []):
            if not _same_product(product, name_key(entry.product)):
                continue
            rank = (100 if asset.exposed else 0) + CRITICALITY_RANK.get(asset.criticality, 0) \
                + (40 if entry.ransomware.lower() == "known" else 0)
            reason = (f"{asset.host} runs {asset.vendor} {asset.product} {asset.version}".rstrip()
                      + f": {entry.cve_id} ({entry.name}) is known to be exploited"
                      + (", used by ransomware" if entry.ransomware.lower() == "known" else "")
                      + f"; exposed to the internet: {'yes' if asset.exposed else 'no'}; "
                      + f"care criticality: {asset.criticality}; check the version and apply: "
                      + entry.action)
            out.append({"tenant_id": asset.tenant_id, "asset_id": asset.id, "cve_id": entry.cve_id,
                        "rank": rank, "reason": reason})
    return out


def run_early_warning(engine: Engine) -> int:
    """Match every tenant's assets against the catalog; returns the new warnings (a new
    catalog entry or a new asset re-runs it at once)."""
    found = matches(assets_store.all_assets(engine), assets_store.kev_entries(engine))
    return assets_store.store_warnings(engine, found)


def import_catalog(engine: Engine, location: str) -> tuple[list[str], list[Problem], int]:
    """Read the catalog, store it, re-run the match: (new CVE ids, problems, new warnings)."""
    entries, problems = read_catalog(location)
    new = assets_store.upsert_kev(engine, entries)
    return new, problems, run_early_warning(engine)
