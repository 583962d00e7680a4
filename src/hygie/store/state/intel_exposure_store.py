"""Internet exposure of assets: the services a scan (or the console) saw open on a tenant's
public addresses. A scan replaces what the same kind of source said of the same addresses:
a service it no longer sees is closed (``open`` false), never deleted, so the history stays."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, case, func, select
from sqlalchemy.orm import Session

from hygie.store.state import audit
from hygie.store.state.models_intel import IntelAsset, IntelExposure
from hygie.store.state.scope import Tenants, scoped, visible

SERVICE_FIELDS = ("service", "product", "version", "cpe", "risk", "severity", "cves")


class ExposureError(ValueError):
    """A change the principal may not make."""


@dataclass(slots=True)
class ScanCounts:
    hosts: int = 0
    services: int = 0
    risky: int = 0
    new_assets: int = 0
    closed: int = 0


def record_scan(engine: Engine, tenants: Tenants, tenant_id: str, source: str,
                hosts: Sequence[dict[str, Any]], actor: str = "cli") -> ScanCounts:
    """Store one scan of ``tenant_id``'s addresses (``hosts``: ip, hostnames, services as
    dicts). Each address is linked to the tenant's asset with that IP (else one whose host is
    the address or one of its names; else a new asset, source ``scan``); with several assets
    on one address, the oldest holds the services."""
    if not visible(tenant_id, tenants):
        raise ExposureError(f"tenant {tenant_id!r} is not yours")
    counts = ScanCounts()
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        for host in hosts:
            asset = _asset_for(session, tenant_id, host["ip"], host.get("hostnames") or [], now)
            if asset.id is None:
                counts.new_assets += 1
                session.flush()
            seen = {(s["port"], s["transport"]) for s in host["services"]}
            rows = {(r.port, r.transport): r for r in session.scalars(select(IntelExposure).where(
                IntelExposure.asset_id == asset.id, IntelExposure.ip == host["ip"]))}
            for key, row in rows.items():
                if row.open and row.source == source and key not in seen:
                    row.open, row.last_seen = False, now
                    counts.closed += 1
            for service in host["services"]:
                key = (service["port"], service["transport"])
                row = rows.get(key)
                if row is None:
                    row = rows[key] = IntelExposure(tenant_id=tenant_id, asset_id=asset.id, ip=host["ip"],
                                                    port=key[0], transport=key[1], first_seen=now)
                    session.add(row)
                for name in SERVICE_FIELDS:
                    setattr(row, name, service.get(name, [] if name == "cves" else ""))
                row.source, row.open, row.last_seen = source, True, now
                counts.services += 1
                counts.risky += bool(service.get("risk"))
            session.flush()
            asset.exposed = any(r.open for r in rows.values()) or asset.exposed
            asset.exposure_seen = now
            counts.hosts += 1
        audit.record(session, actor, "intel.exposure.import", f"{source} scan", tenant_id,
                     {"hosts": counts.hosts, "services": counts.services, "risky": counts.risky,
                      "new_assets": counts.new_assets, "closed": counts.closed})
    return counts


def _asset_for(session: Session, tenant_id: str, ip: str, hostnames: list[str], now: datetime) -> IntelAsset:
    by_ip = session.scalars(select(IntelAsset).where(IntelAsset.tenant_id == tenant_id, IntelAsset.ip == ip)
                            .order_by(IntelAsset.id)).first()
    if by_ip is not None:
        return by_ip
    names = [n.lower() for n in [ip, *hostnames] if n]
    by_name = session.scalars(select(IntelAsset).where(
        IntelAsset.tenant_id == tenant_id, func.lower(IntelAsset.host).in_(names)).order_by(IntelAsset.id)).first()
    if by_name is not None:
        if not by_name.ip:
            by_name.ip = ip
        return by_name
    asset = IntelAsset(tenant_id=tenant_id, host=(hostnames[0] if hostnames else ip)[:255], ip=ip, vendor="",
                       product="", version="", cpe="", criticality="support", exposed=True, owner="", zone="internet",
                       source="scan", updated=now)
    session.add(asset)
    return asset


def declare(engine: Engine, tenants: Tenants, asset_id: int, services: Sequence[dict[str, Any]],
            actor: str) -> bool:
    """The services the console says are open on an asset (source ``console``), replacing
    what the console said before; False when the asset is not among ``tenants``."""
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        asset = session.scalar(scoped(select(IntelAsset).where(IntelAsset.id == asset_id),
                                      IntelAsset.tenant_id, tenants))
        if asset is None:
            return False
        ip = asset.ip or "-"
        rows = {(r.port, r.transport): r for r in session.scalars(select(IntelExposure).where(
            IntelExposure.asset_id == asset.id, IntelExposure.ip == ip))}
        wanted = {(s["port"], s["transport"]): s for s in services}
        for key, row in rows.items():
            if row.source == "console" and row.open and key not in wanted:
                row.open, row.last_seen = False, now
        for key, service in wanted.items():
            row = rows.get(key)
            if row is None:
                row = IntelExposure(tenant_id=asset.tenant_id, asset_id=asset.id, ip=ip, port=key[0],
                                    transport=key[1], first_seen=now, source="console")
                session.add(row)
            elif row.open and row.source != "console":
                continue  # a scan saw it: the scan's description stays
            for name in SERVICE_FIELDS:
                setattr(row, name, service.get(name, [] if name == "cves" else ""))
            row.source, row.open, row.last_seen = "console", True, now
        audit.record(session, actor, "intel.asset.exposure", f"asset:{asset.id}", asset.tenant_id,
                     {"services": sorted(f"{p}/{t}" for p, t in wanted)})
    return True


def list_exposures(engine: Engine, tenants: Tenants, asset_id: int | None = None, open_only: bool = False,
                   risky_only: bool = False, limit: int = 1000) -> list[IntelExposure]:
    with Session(engine) as session:
        query = scoped(select(IntelExposure), IntelExposure.tenant_id, tenants)
        if asset_id is not None:
            query = query.where(IntelExposure.asset_id == asset_id)
        if open_only:
            query = query.where(IntelExposure.open.is_(True))
        if risky_only:
            query = query.where(IntelExposure.risk != "")
        return list(session.scalars(query.order_by(IntelExposure.open.desc(), IntelExposure.ip,
                                                   IntelExposure.port).limit(limit)))


def open_risky(engine: Engine) -> list[IntelExposure]:
    """Every tenant's open risky services, for the early-warning match (a system task)."""
    return list_exposures(engine, None, open_only=True, risky_only=True, limit=1_000_000)


def exposed_counts(engine: Engine, tenants: Tenants) -> dict[int, tuple[int, int]]:
    """Per asset: (open services, open risky services)."""
    with Session(engine) as session:
        rows = session.execute(scoped(
            select(IntelExposure.asset_id, func.count(), func.sum(case((IntelExposure.risk != "", 1), else_=0)))
            .where(IntelExposure.open.is_(True)), IntelExposure.tenant_id, tenants).group_by(IntelExposure.asset_id))
        return {asset_id: (int(n), int(r or 0)) for asset_id, n, r in rows}

