"""Assets of each tenant, the known-exploited vulnerability catalog (shared) and the early
warnings that apply one to the other. Reads take the principal's tenants (``scope``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.store.state.models_intel import EarlyWarning, IntelAsset, KevEntry
from hygie.store.state.scope import Tenants, scoped, visible

ASSET_FIELDS = ("ip", "vendor", "product", "version", "cpe", "criticality", "exposed", "owner", "zone")
KEV_FIELDS = ("vendor", "product", "name", "date_added", "due_date", "ransomware", "description", "action")


class AssetStoreError(ValueError):
    """A change the principal may not make."""


def upsert_assets(engine: Engine, tenants: Tenants, tenant_id: str,
                  assets: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Add or update assets by (host, vendor, product); returns (added, updated)."""
    if not visible(tenant_id, tenants):
        raise AssetStoreError(f"tenant {tenant_id!r} is not yours")
    added = updated = 0
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        existing = {(a.host, a.vendor, a.product): a for a in session.scalars(
            select(IntelAsset).where(IntelAsset.tenant_id == tenant_id))}
        for asset in assets:
            key = (asset["host"], asset.get("vendor", ""), asset.get("product", ""))
            row = existing.get(key)
            if row is None:
                row = existing[key] = IntelAsset(tenant_id=tenant_id, host=key[0], vendor=key[1],
                                                 product=key[2])
                session.add(row)
                added += 1
            else:
                updated += 1
            for name in ASSET_FIELDS:
                if name in asset:
                    setattr(row, name, asset[name])
            row.updated = now
    return added, updated


def list_assets(engine: Engine, tenants: Tenants) -> list[IntelAsset]:
    with Session(engine) as session:
        return list(session.scalars(scoped(select(IntelAsset), IntelAsset.tenant_id, tenants)
                                    .order_by(IntelAsset.tenant_id, IntelAsset.host)))


def all_assets(engine: Engine) -> list[IntelAsset]:
    """Every tenant's assets, for the early-warning match (a system task, not a person's read)."""
    return list_assets(engine, None)


def upsert_kev(engine: Engine, entries: Sequence[dict[str, Any]]) -> list[str]:
    """Add or update catalog entries; returns the CVE ids that are new to the store."""
    new: list[str] = []
    with Session(engine) as session, session.begin():
        known = {k.cve_id: k for k in session.scalars(select(KevEntry))}
        for entry in entries:
            row = known.get(entry["cve_id"])
            if row is None:
                row = known[entry["cve_id"]] = KevEntry(cve_id=entry["cve_id"])
                session.add(row)
                new.append(entry["cve_id"])
            for name in KEV_FIELDS:
                if name in entry:
                    setattr(row, name, entry[name])
    return new


def kev_entries(engine: Engine) -> list[KevEntry]:
    with Session(engine) as session:
        return list(session.scalars(select(KevEntry).order_by(KevEntry.cve_id)))


def store_warnings(engine: Engine, warnings: Sequence[dict[str, Any]]) -> int:
    """Store new (asset, CVE) warnings once each; returns how many were new."""
    added = 0
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        known = {tuple(r) for r in session.execute(select(EarlyWarning.asset_id, EarlyWarning.cve_id))}
        for warning in warnings:
            key = (warning["asset_id"], warning["cve_id"])
            if key in known:
                continue
            known.add(key)
            session.add(EarlyWarning(tenant_id=warning["tenant_id"], asset_id=key[0], cve_id=key[1],
                                     rank=warning["rank"], reason=warning["reason"][:500],
                                     status="new", created=now))
            added += 1
    return added


def list_warnings(engine: Engine, tenants: Tenants, limit: int = 200
                  ) -> list[tuple[EarlyWarning, IntelAsset, KevEntry]]:
    """The early-warning queue, highest rank first."""
    with Session(engine) as session:
        query = scoped(select(EarlyWarning, IntelAsset, KevEntry)
                       .join(IntelAsset, IntelAsset.id == EarlyWarning.asset_id)
                       .join(KevEntry, KevEntry.cve_id == EarlyWarning.cve_id),
                       EarlyWarning.tenant_id, tenants)
        return [tuple(r) for r in session.execute(
            query.order_by(EarlyWarning.rank.desc(), EarlyWarning.id).limit(limit))]
