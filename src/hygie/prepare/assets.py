"""Checks on the asset inventory (read by ``store.state.prepare_metrics.asset_data``):

* ``asset_coverage``: share of the inventory's assets that sent any event in the last days,
  with the list of silent assets (an asset Hygie never hears from is not monitored);
* ``internet_exposure``: assets flagged exposed to the internet, and those exposing a risky
  service (remote desktop, SMB, databases, medical protocols...: the list is in
  ``evidence.yml``) where the exposure data names the services;
* ``kev_age``: age of the oldest open early warning (a known-exploited vulnerability that
  applies to an asset), the figure a patching deadline is judged by.

No inventory is "no data", never a "no": the checks propose nothing then."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from pydantic import Field

from hygie.prepare import checks
from hygie.prepare.findings import CheckConfig, Finding, Levels, fmt_time, level, share_text
from hygie.prepare.telemetry import Telemetry
from hygie.store.state.prepare_metrics import AssetData, AssetInfo


class AssetCoverageConfig(CheckConfig):
    window_days: int = Field(gt=0)
    levels: Levels


class ExposureConfig(CheckConfig):
    risky_services: list[str]  # service names or port numbers, lower case
    risky_levels: Levels  # [most risky exposed assets, score]: the first whose count is not exceeded
    unknown_services_cap: float = Field(ge=0, le=1)  # best score while exposed assets' services are unknown


class KevAgeConfig(CheckConfig):
    age_levels: Levels  # [most days, score]: the first whose age is not exceeded


def _names(asset: AssetInfo) -> set[str]:
    """The names an event may carry for this asset: host, short host name, address."""
    host = asset.host.strip().lower()
    names = {host, host.split(".")[0]} if host else set()
    if asset.ip:
        names.add(asset.ip.strip().lower())
    return names - {""}


def silent_assets(assets: Iterable[AssetInfo], sending: set[str]) -> list[AssetInfo]:
    """Assets none of whose names is among the hosts that sent events (lower case)."""
    short = {h.split(".")[0] for h in sending if not h.replace(".", "").isdigit()}
    return [a for a in assets if not (_names(a) & (sending | short))]


def asset_coverage(telemetry: Telemetry, tenant: str, data: AssetData | None,
                   config: AssetCoverageConfig, now: datetime) -> Finding:
    since = now - timedelta(days=config.window_days)
    if data is None or not data.assets:
        return Finding(checks.ASSET_COVERAGE, False, None, "no data: the asset inventory is empty "
                       "(hygie intel assets)", since, now)
    sending = {str(key[0]).lower() for key in telemetry.activity(tenant, "*", since, now, ["host"]) if key[0]}
    silent = silent_assets(data.assets, sending)
    monitored = len(data.assets) - len(silent)
    share = monitored / len(data.assets)
    names = sorted(a.host for a in silent)
    proof = (f"{share_text(monitored, len(data.assets))} assets of the inventory sent events between "
             f"{fmt_time(since)} and {fmt_time(now)}")
    if names:
        proof += f"; silent: {', '.join(names[:10])}" + (" ..." if len(names) > 10 else "")
    return Finding(checks.ASSET_COVERAGE, True, level(share, config.levels), proof, since, now,
                   {"assets": len(data.assets), "monitored": monitored, "share": share, "silent": names})


def _risky(asset: AssetInfo, risky: set[str]) -> list[str]:
    found = []
    for service in asset.services or ():
        name = service.lower()
        port = name.rsplit("/", 1)[0].rsplit(":", 1)[-1]
        if name.startswith("risk:") or name in risky or port in risky or name.split("/")[-1] in risky:
            found.append(service)
    return found


def internet_exposure(data: AssetData | None, config: ExposureConfig, now: datetime) -> Finding:
    if data is None or not data.assets:
        return Finding(checks.INTERNET_EXPOSURE, False, None, "no data: the asset inventory is empty, so "
                       "nothing says which services are exposed (import assets or an exposure scan)", None, now)
    exposed = [a for a in data.assets if a.exposed]
    if not exposed:
        return Finding(checks.INTERNET_EXPOSURE, True, 1.0, f"none of the {len(data.assets)} assets of the "
                       "inventory is flagged exposed to the internet", None, now,
                       {"assets": len(data.assets), "exposed": 0, "risky": []})
    risky_names = {s.lower() for s in config.risky_services}
    risky = {a.host: _risky(a, risky_names) for a in exposed}
    risky = {h: s for h, s in risky.items() if s}
    unknown = sorted(a.host for a in exposed if a.services is None)
    score = next((s for limit, s in config.risky_levels if len(risky) <= limit), 0.0)
    if unknown and not risky:
        score = min(score, config.unknown_services_cap)
    proof = f"{len(exposed)} of {len(data.assets)} assets are exposed to the internet"
    if risky:
        proof += "; risky services exposed: " + ", ".join(
            f"{h} ({', '.join(x.removeprefix('risk:') for x in s)})" for h, s in sorted(risky.items())[:10])
    else:
        proof += "; no risky service among those known"
    if unknown:
        proof += f"; services not known for {', '.join(unknown[:10])}"
    return Finding(checks.INTERNET_EXPOSURE, True, score, proof, None, now,
                   {"assets": len(data.assets), "exposed": len(exposed), "risky": sorted(risky),
                    "services_unknown": unknown})


def kev_age(data: AssetData | None, config: KevAgeConfig, now: datetime) -> Finding:
    if data is None or not data.assets:
        return Finding(checks.KEV_AGE, False, None, "no data: the asset inventory is empty, so no "
                       "known-exploited vulnerability can be matched", None, now)
    if not data.kev_entries:
        return Finding(checks.KEV_AGE, False, None, "no data: the known-exploited vulnerability (KEV) "
                       "catalog is not loaded (hygie intel kev)", None, now)
    if not data.open_warnings:
        return Finding(checks.KEV_AGE, True, 1.0, f"no open early warning: none of the {data.kev_entries} "
                       f"known-exploited vulnerabilities applies to the {len(data.assets)} assets unpatched",
                       None, now, {"open": 0, "oldest_days": None})
    oldest = min(data.open_warnings, key=lambda w: w.created)
    age = max((now - oldest.created).days, 0)
    score = next((s for limit, s in config.age_levels if age <= limit), 0.0)
    listed = sorted(data.open_warnings, key=lambda w: w.created)[:10]
    proof = (f"{len(data.open_warnings)} open early warning(s); the oldest, {oldest.cve_id} on {oldest.host}, "
             f"has been open since {fmt_time(oldest.created)} ({age} days): "
             + ", ".join(f"{w.cve_id} on {w.host}" for w in listed))
    return Finding(checks.KEV_AGE, True, score, proof, oldest.created, now,
                   {"open": len(data.open_warnings), "oldest_days": age, "oldest_cve": oldest.cve_id})
