"""The early-warning run: known-exploited vulnerabilities on assets (KEV, with NVD's version
ranges where known) and risky services open to the internet, stored as warnings and raised as
alerts in the tenant's alert queue.

It runs whenever what it reads changes (KEV or NVD import, an asset import or edit, a scan
import), so a new catalog entry warns at once. It is idempotent: a warning is stored once per
(asset, CVE) or exposed service, and alerted once; a warning that no longer applies is resolved.

Alerts go through the state store's ``store_results``, the path of every other alert: one
alert per asset and kind with the warnings new in this run (rule ``hygie-early-warning-kev``
or ``hygie-early-warning-exposure``, pack ``intel``, host = the asset), keyed by the warnings'
ids, so a run interrupted after the alerts and before their ids were written adds nothing."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from hygie.core.alert import LEVEL_RANK, LEVELS, Alert
from hygie.intel import exposure, kev, nvd
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state import intel_cve_store as cve_store
from hygie.store.state import intel_exposure_store as exposure_store
from hygie.store.state.store import RecordResult, StateStore, alert_key

log = logging.getLogger("hygie.intel")
RULE_IDS = {"kev": "hygie-early-warning-kev", "exposure": "hygie-early-warning-exposure"}
TAGS = {"kev": ["attack.initial_access", "attack.t1190"], "exposure": ["attack.initial_access", "attack.t1133"]}
SEVERITY_RANK = {"low": 10, "medium": 40, "high": 80, "critical": 120}
_RUNNING = threading.Lock()  # one run at a time in a process (the console and the service share it)


@dataclass(slots=True)
class RunReport:
    new: int = 0
    resolved: int = 0
    alerts: int = 0
    warnings: int = 0


def run_early_warning(engine: Engine) -> RunReport:
    """Match everything, store the warnings, raise the alerts of the new ones."""
    with _RUNNING:
        for attempt in (1, 2):
            try:
                found = compute(engine)
                new, resolved = assets_store.sync_warnings(engine, found)
                break
            except IntegrityError:  # another process stored the same warning meanwhile: once more
                if attempt == 2:
                    raise
        alerts = raise_alerts(engine)
    log.info("early warning: %d warnings, %d new, %d resolved, %d alerts", len(found), new, resolved, alerts)
    return RunReport(new, resolved, alerts, len(found))


def compute(engine: Engine) -> list[dict[str, Any]]:
    """Every warning that applies now, all tenants and both kinds (nothing is stored)."""
    assets = assets_store.all_assets(engine)
    risky = exposure_store.open_risky(engine)
    exposed = {row.asset_id for row in exposure_store.list_exposures(engine, None, open_only=True, limit=1_000_000)}
    for asset in assets:  # detached rows: what a scan saw open counts as exposed for the ranking
        asset.exposed = asset.exposed or asset.id in exposed
    entries = assets_store.kev_entries(engine)
    kev_ids = [e.cve_id for e in entries]
    cves = cve_store.get_cves(engine, kev_ids)
    found = kev.matches(assets, entries, cves, cve_store.products_of(engine, cves))
    kev_on: dict[int, list[str]] = {}
    for warning in found:
        kev_on.setdefault(warning["asset_id"], []).append(warning["cve_id"])
    by_id = {a.id: a for a in assets}
    known = set(kev_ids)
    for row in risky:
        asset, rule = by_id.get(row.asset_id), exposure.rule(row.risk)
        if asset is not None and rule is not None:
            found.append(exposure_warning(asset, row, rule, sorted(set(row.cves or []) & known),
                                          sorted(kev_on.get(asset.id, []))))
    return found


def exposure_warning(asset: Any, row: Any, rule: exposure.Rule, reported: list[str],
                     on_asset: list[str]) -> dict[str, Any]:
    """A risky service open to the internet; a VPN portal (``with_kev``) with a known-exploited
    vulnerability (reported by the scan service, or a KEV warning of its asset) rises to its
    ``with_kev`` severity; a vital asset's one step more."""
    kev_ids = sorted(set(reported) | (set(on_asset) if rule.with_kev else set()))
    severity = rule.with_kev if rule.with_kev and kev_ids else rule.severity
    if asset.criticality == "vital":
        severity = exposure.SEVERITIES[min(exposure.SEVERITIES.index(severity) + 1, len(exposure.SEVERITIES) - 1)]
    rank = kev.RANK_EXPOSED + SEVERITY_RANK[severity] + kev.CRITICALITY_RANK.get(asset.criticality, 0)
    what = " ".join(p for p in (row.product, row.version) if p) or row.service or "?"
    reason = (f"{asset.host} ({row.ip}) exposes {rule.label['en']} on {row.port}/{row.transport} to the internet "
              f"({what})" + (f"; known exploited: {', '.join(kev_ids)}" if kev_ids else "")
              + f"; care criticality: {asset.criticality}. {rule.why['en']}")
    detail = {"rule": rule.id, "label": rule.label, "why": rule.why, "ip": row.ip, "port": row.port,
              "transport": row.transport, "service": row.service, "product": row.product, "version": row.version,
              "kev": kev_ids, "source": row.source, "criticality": asset.criticality}
    return {"tenant_id": asset.tenant_id, "asset_id": asset.id, "kind": "exposure", "cve_id": None,
            "exposure_id": row.id, "rank": rank, "level": severity, "reason": reason, "detail": detail}


def raise_alerts(engine: Engine) -> int:
    """One alert per (asset, kind) for the new warnings not alerted yet; returns how many were
    raised, as new alerts or as repeats of the asset's open alert of that kind (the store groups
    a rule's alerts on one host within minutes; the warning then points at that alert)."""
    groups: dict[tuple[str, int, str], list[tuple[Any, Any, Any]]] = {}
    for warning, asset, entry in assets_store.pending_alerts(engine):
        groups.setdefault((warning.tenant_id, asset.id, warning.kind), []).append((warning, asset, entry))
    if not groups:
        return 0
    now = datetime.now(timezone.utc)
    results, keys = [], {}
    for (tenant, _asset_id, kind), items in groups.items():
        alert, record_key = _alert(kind, items, now)
        asset = items[0][1]
        results.append(RecordResult(tenant=tenant, record_key=record_key, source="intel", kind="early_warning",
                                    received=now.timestamp(), alerts=[alert], host=asset.host,
                                    event={"asset": asset.host, "ip": asset.ip, "vendor": asset.vendor,
                                           "product": asset.product, "version": asset.version,
                                           "criticality": asset.criticality, "zone": asset.zone,
                                           "owner": asset.owner, "exposed": asset.exposed}))
        keys[alert_key(tenant, record_key, alert)] = [w.id for w, _a, _e in items]
    created, grouped = StateStore(engine).store_results(results)
    found = assets_store.alert_ids_for_keys(engine, list(keys))
    assets_store.set_alert_ids(engine, {warning_id: found[key] for key, ids in keys.items() if key in found
                                        for warning_id in ids})
    return created + grouped


def _alert(kind: str, items: list[tuple[Any, Any, Any]], now: datetime) -> tuple[Alert, str]:
    items = sorted(items, key=lambda item: -item[0].rank)
    asset = items[0][1]
    level = max((w.level if w.level in LEVEL_RANK else "medium" for w, _a, _e in items), key=LEVEL_RANK.get)
    if kind == "kev":
        cves = [w.cve_id for w, _a, _e in items]
        title = (f"Early warning: {asset.host} has {len(cves)} known exploited vulnerabilit"
                 f"{'y' if len(cves) == 1 else 'ies'} ({', '.join(cves[:3])}{'…' if len(cves) > 3 else ''})")
    else:
        labels = sorted({(w.detail or {}).get("label", {}).get("en", "?") for w, _a, _e in items})
        title = f"Early warning: {asset.host} exposes {', '.join(labels)} to the internet"
    ids = [w.id for w, _a, _e in items]
    matched = {"asset_id": asset.id, "asset": f"/intel/assets/{asset.id}", "warnings": ids,
               "reasons": [w.reason for w, _a, _e in items][:20]}
    if kind == "kev":
        matched["cves"] = [w.cve_id for w, _a, _e in items]
        matched["ransomware"] = any(e is not None and e.ransomware.lower() == "known" for _w, _a, e in items)
    else:
        matched["services"] = [f"{(w.detail or {}).get('port')}/{(w.detail or {}).get('transport')}"
                               for w, _a, _e in items]
    # the warnings and when each was (re)opened: a warning that applies again is alerted again
    digest = hashlib.sha256(",".join(f"{w.id}@{(w.updated or w.created).isoformat()}"
                                     for w, _a, _e in sorted(items, key=lambda i: i[0].id)).encode()).hexdigest()[:24]
    alert = Alert(rule_id=RULE_IDS[kind], title=title[:300], level=level if level in LEVELS else "medium",
                  tags=list(TAGS[kind]), time=now.isoformat(), host=asset.host, source="intel", offset=0,
                  matched=matched, pack="intel", kind="early_warning")
    return alert, f"early-warning:{kind}:{asset.id}:{digest}"


# -- imports that change what the match reads: each re-runs it at once ---------------------------
@dataclass(slots=True)
class ScanImport:
    kind: str
    counts: exposure_store.ScanCounts
    problems: list[Any]
    run: RunReport


def import_scan(engine: Engine, tenant: str, location: str, actor: str = "cli") -> ScanImport:
    """Read an nmap XML or scan JSON file of ``tenant``'s public addresses, store the exposure,
    re-run the match. ``FeedError`` when the file cannot be read at all."""
    kind, hosts, problems = exposure.read_scan(location)
    counts = exposure_store.record_scan(engine, None, tenant, kind, [exposure.as_dict(h) for h in hosts], actor)
    return ScanImport(kind, counts, problems, run_early_warning(engine))


def import_nvd(engine: Engine, location: str) -> tuple[int, int, list[Any], RunReport]:
    """Read NVD CVE records (file, folder or URL), store them, re-run the match:
    (added, updated, problems, run)."""
    records, problems = nvd.read(location)
    rows = [{"cve_id": r.cve_id, "published": r.published, "last_modified": r.last_modified,
             "description": r.description, "severity": r.severity, "score": r.score,
             "configurations": r.configurations, "products": r.products()} for r in records]
    added, updated = cve_store.upsert_cves(engine, rows)
    return added, updated, problems, run_early_warning(engine)


def vulnerabilities(engine: Engine, asset: Any) -> list[dict[str, Any]]:
    """Every stored NVD CVE whose criteria apply to ``asset`` (YES or MAYBE), known-exploited
    ones first: what the asset page lists beside its warnings."""
    records = cve_store.cves_for_products(engine, [kev.asset_key(asset)])
    if not records:
        return []
    neighbours = [a for a in assets_store.list_assets(engine, frozenset({asset.tenant_id}))
                  if a.id != asset.id and (a.host.lower() == asset.host.lower() or (asset.ip and a.ip == asset.ip))]
    platform = [nvd.asset_name(a.cpe, a.vendor, a.product, a.version) for a in neighbours]
    name = nvd.asset_name(asset.cpe, asset.vendor, asset.product, asset.version)
    catalog = {e.cve_id: e for e in assets_store.kev_entries(engine)}
    found = []
    for record in records:
        verdict = nvd.evaluate(record.configurations, name, platform)
        if verdict.result is nvd.Tri.NO:
            continue
        entry = catalog.get(record.cve_id)
        found.append({"cve_id": record.cve_id, "kev": entry is not None,
                      "ransomware": entry is not None and entry.ransomware.lower() == "known",
                      "result": verdict.result.name.lower(), "severity": record.severity, "score": record.score,
                      "published": record.published, "matched": verdict.matched, "unknown": verdict.unknown,
                      "description": record.description})
    found.sort(key=lambda v: (not v["kev"], v["result"] != "yes", -(v["score"] or 0), v["cve_id"]))
    return found
