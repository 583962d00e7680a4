"""Assets of each tenant, the known-exploited vulnerability catalog (shared) and the early
warnings that apply one to the other (or to a risky exposed service). Reads take the
principal's tenants (``scope``); a person's edits are audited."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hygie.store.state import audit
from hygie.store.state.models import AlertKey
from hygie.store.state.models_intel import EarlyWarning, IntelAsset, KevEntry
from hygie.store.state.scope import Tenants, scoped, visible

ASSET_FIELDS = ("ip", "vendor", "product", "version", "cpe", "criticality", "exposed", "owner", "zone")
KEV_FIELDS = ("vendor", "product", "name", "date_added", "due_date", "ransomware", "description", "action")
EDITABLE = ("host", "ip", "vendor", "product", "version", "cpe", "criticality", "exposed", "owner", "zone")
WARNING_STATUSES = ("new", "acknowledged", "resolved", "dismissed")
OPEN = ("new", "acknowledged")


class AssetStoreError(ValueError):
    """A change the principal may not make."""


def upsert_assets(engine: Engine, tenants: Tenants, tenant_id: str, assets: Sequence[dict[str, Any]],
                  actor: str | None = None, audited: dict[str, Any] | None = None) -> tuple[int, int]:
    """Add or update assets by (host, vendor, product); returns (added, updated). A row that
    names a host the pipeline observed (``host_key``: ``PACS01`` is ``pacs01.chu-a.local``)
    takes that observed asset over (its source becomes csv; what the row leaves empty of
    address, vendor, product and version stays as observed). ``actor``: a person's import,
    audited with the counts, the hosts and ``audited`` (the file, the rows refused)."""
    if not visible(tenant_id, tenants):
        raise AssetStoreError(f"tenant {tenant_id!r} is not yours")
    added = updated = 0
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(select(IntelAsset).where(IntelAsset.tenant_id == tenant_id)))
        existing = {(a.host, a.vendor, a.product): a for a in rows}
        observed: dict[str, list[IntelAsset]] = {}  # by host_key: a large file stays linear
        for row in rows:
            if row.source == "observed":
                observed.setdefault(host_key(row.host), []).append(row)
        for asset in assets:
            key = (asset["host"], asset.get("vendor", ""), asset.get("product", ""))
            row = existing.get(key)
            kept: set[str] = set()
            candidates = observed.get(host_key(key[0]), []) if row is None else []
            if row is None and (row := _observed_match(candidates, existing, key)) is not None:
                candidates.remove(row)
                del existing[(row.host, row.vendor, row.product)]
                row.host, row.source = key[0], "csv"
                kept = {name for name in _OBSERVED_FILLS if not asset.get(name) and getattr(row, name)}
                existing[(row.host, key[1] or row.vendor, key[2] or row.product)] = row
                updated += 1
            elif row is None:
                row = existing[key] = IntelAsset(tenant_id=tenant_id, host=key[0], vendor=key[1],
                                                 product=key[2])
                session.add(row)
                added += 1
            else:
                updated += 1
            for name in ASSET_FIELDS:
                if name in asset and name not in kept:
                    setattr(row, name, asset[name])
            row.updated = now
        if actor is not None:
            hosts = sorted({a["host"] for a in assets})
            audit.record(session, actor, "intel.asset.import", "csv import", tenant_id,
                         {**(audited or {}), "added": added, "updated": updated, "hosts": hosts[:500],
                          "more_hosts": max(len(hosts) - 500, 0)})
    return added, updated


_OBSERVED_FILLS = ("ip", "vendor", "product", "version")


def host_key(name: str) -> str:
    """A host as the inventory and the event store are compared: lower case, a DNS name by its
    first label (``PACS01`` and ``pacs01.chu-a.local`` are one host), an address canonical. The
    same rule as Prepare's share of assets monitored (``prepare.assets.silent_assets``)."""
    text = name.strip().lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.split(".")[0]


def _observed_match(candidates: list[IntelAsset], existing: dict[tuple[str, str, str], IntelAsset],
                    key: tuple[str, str, str]) -> IntelAsset | None:
    """The observed asset an imported row (host, vendor, product) names, if exactly one of the
    ``candidates`` (the observed assets of its host key) fits: the same product, or one side
    says none, or the observed one's came from events only; never one whose new key another
    asset holds."""
    host, vendor, product = key
    fits = []
    for row in candidates:
        filled = (row.observed or {}).get("filled", {})
        ours = filled.get("vendor") == row.vendor and filled.get("product") == row.product
        if (row.vendor, row.product) == (vendor, product) or not (vendor or product) \
                or not (row.vendor or row.product) or ours:
            fits.append(row)
    if len(fits) != 1:
        return None
    new_key = (host, vendor or fits[0].vendor, product or fits[0].product)
    return fits[0] if existing.get(new_key, fits[0]) is fits[0] else None


@dataclass(slots=True)
class ObservedHost:
    """A host the pipeline saw (``intel.observed``): its name, when, and what its events said."""

    name: str
    first_seen: datetime
    last_seen: datetime
    ip: str = ""
    vendor: str = ""
    product: str = ""
    version: str = ""
    detail: dict[str, Any] = field(default_factory=dict)  # names, addresses, os, applications


@dataclass(slots=True)
class ObservedCounts:
    added: int = 0  # new assets, source observed
    seen: int = 0  # hosts already in the inventory (first/last seen updated)
    filled: int = 0  # fields filled or refreshed (address, vendor, product, version)


def record_observed(engine: Engine, tenant_id: str, hosts: Sequence[ObservedHost]) -> ObservedCounts:
    """Upsert the hosts ``tenant_id``'s events came from (a system task: the caller read that
    tenant's events only). A known host (``host_key``, or its address) gets its first and last
    seen times on every asset of it; its empty address, vendor, product and version are filled,
    and those an earlier observation filled are refreshed, never what a person or an import
    set. An unknown host becomes an asset with source ``observed``."""
    counts = ObservedCounts()
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(select(IntelAsset).where(IntelAsset.tenant_id == tenant_id)))
        index: dict[str, list[IntelAsset]] = {}
        for row in rows:
            _index(index, row)
        for host in hosts:
            matched = index.get(host_key(host.name), [])
            if not matched:
                row = IntelAsset(tenant_id=tenant_id, host=host.name[:255], ip=host.ip, vendor=host.vendor[:200],
                                 product=host.product[:200], version=host.version[:100], cpe="", criticality="support",
                                 exposed=False, owner="", zone="", updated=now, source="observed",
                                 first_seen=host.first_seen, last_seen=host.last_seen,
                                 observed={**host.detail, "filled": {n: getattr(host, n) for n in _OBSERVED_FILLS
                                                                     if getattr(host, n)}})
                session.add(row)
                rows.append(row)
                _index(index, row)
                counts.added += 1
                continue
            counts.seen += 1
            for row in matched:
                newest = row.last_seen is None or host.last_seen >= _aware(row.last_seen)
                row.first_seen = min(host.first_seen, _aware(row.first_seen or host.first_seen))
                row.last_seen = max(host.last_seen, _aware(row.last_seen or host.last_seen))
                filled = dict((row.observed or {}).get("filled", {}))
                if newest:
                    counts.filled += _fill(row, {"ip": host.ip}, filled, now)
                row.observed = {**(host.detail if newest else row.observed or {}), "filled": filled}
            target = _product_row(rows, matched, host)
            if target is not None:
                filled = dict((target.observed or {}).get("filled", {}))
                counts.filled += _fill(target, {"vendor": host.vendor[:200], "product": host.product[:200],
                                                "version": host.version[:100]}, filled, now)
                target.observed = {**(target.observed or {}), "filled": filled}
    return counts


def _index(index: dict[str, list[IntelAsset]], row: IntelAsset) -> None:
    for key in {host_key(row.host), row.ip} - {""}:
        if row not in index.setdefault(key, []):
            index[key].append(row)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)  # SQLite


def _fill(row: IntelAsset, values: dict[str, str], filled: dict[str, str], now: datetime) -> int:
    """Set each value on an empty column, or on one that still holds what observation put
    there (a person's change is never undone); ``filled`` records what observation set."""
    changed = 0
    for name, value in values.items():
        current = getattr(row, name) or ""
        if value and value != current and (not current or filled.get(name) == current):
            setattr(row, name, value)
            filled[name] = value
            row.updated = now
            changed += 1
    return changed


def _product_row(rows: list[IntelAsset], matched: list[IntelAsset], host: ObservedHost) -> IntelAsset | None:
    """Which asset of a known host the observed OS fills: the one with that vendor and product,
    else a bare one (no vendor, product, version or CPE) or one whose product observation set;
    None when the host's assets are other products a person named (the OS stays in
    ``observed``), or when the change would give another asset's (host, vendor, product)."""
    if not (host.vendor or host.product):
        return None
    same = [r for r in matched if (r.vendor, r.product) == (host.vendor, host.product)]
    if same:
        return same[0]
    for row in matched:
        filled = (row.observed or {}).get("filled", {})
        ours = row.vendor == filled.get("vendor", "") and row.product == filled.get("product", "") and not row.cpe
        if not (row.vendor or row.product or row.version or row.cpe) or (ours and (row.vendor or row.product)):
            taken = any(o is not row and (o.host, o.vendor, o.product) == (row.host, host.vendor, host.product)
                        for o in rows)
            return None if taken else row
    return None


def list_assets(engine: Engine, tenants: Tenants, tenant: str | None = None, q: str | None = None,
                criticality: str | None = None, exposed: bool | None = None, limit: int | None = None,
                offset: int = 0) -> list[IntelAsset]:
    """Assets among ``tenants``, filtered (``q``: host, address, vendor or product contains)."""
    with Session(engine) as session:
        query = scoped(select(IntelAsset), IntelAsset.tenant_id, tenants)
        if tenant is not None:
            query = query.where(IntelAsset.tenant_id == tenant)
        if q:
            like = f"%{q.lower()}%"
            query = query.where(or_(*(func.lower(c).like(like) for c in (
                IntelAsset.host, IntelAsset.ip, IntelAsset.vendor, IntelAsset.product))))
        if criticality is not None:
            query = query.where(IntelAsset.criticality == criticality)
        if exposed is not None:
            query = query.where(IntelAsset.exposed.is_(exposed))
        query = query.order_by(IntelAsset.tenant_id, IntelAsset.host, IntelAsset.id).offset(offset)
        return list(session.scalars(query.limit(limit) if limit is not None else query))


def get_asset(engine: Engine, tenants: Tenants, asset_id: int) -> IntelAsset | None:
    with Session(engine) as session:
        return session.scalar(scoped(select(IntelAsset).where(IntelAsset.id == asset_id),
                                     IntelAsset.tenant_id, tenants))


def update_asset(engine: Engine, tenants: Tenants, asset_id: int, changes: dict[str, Any],
                 actor: str) -> IntelAsset | None:
    """Change an asset's columns (``EDITABLE``, already checked by the caller); None when it is
    not among ``tenants``; ``AssetStoreError`` when another asset has the same host and product."""
    now = datetime.now(timezone.utc)
    try:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            row = session.scalar(scoped(select(IntelAsset).where(IntelAsset.id == asset_id),
                                        IntelAsset.tenant_id, tenants))
            if row is None:
                return None
            before = {name: getattr(row, name) for name in EDITABLE}
            for name, value in changes.items():
                if name in EDITABLE:
                    setattr(row, name, value)
            row.updated = now
            session.flush()
            changed = {name: [before[name], getattr(row, name)] for name in EDITABLE
                       if before[name] != getattr(row, name)}
            audit.record(session, actor, "intel.asset.update", f"asset:{row.id}", row.tenant_id, changed)
            return row
    except IntegrityError:
        raise AssetStoreError("another asset of this hospital has the same host, vendor and product") from None


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


def sync_warnings(engine: Engine, found: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """Make the stored warnings what the match ``found`` (every tenant, both kinds): new ones
    are added, known ones get the new rank and reason, a resolved one that applies again is
    reopened (and alerted again); open ones no longer found are resolved. Dismissed ones stay
    dismissed. Returns (new or reopened, resolved)."""
    added = resolved = 0
    now = datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        rows = {(w.kind, w.asset_id, w.cve_id, w.exposure_id): w for w in session.scalars(select(EarlyWarning))}
        wanted = set()
        for warning in found:
            key = (warning["kind"], warning["asset_id"], warning.get("cve_id"), warning.get("exposure_id"))
            wanted.add(key)
            row = rows.get(key)
            if row is None:
                row = rows[key] = EarlyWarning(tenant_id=warning["tenant_id"], asset_id=key[1], kind=key[0],
                                               cve_id=key[2], exposure_id=key[3], status="new", created=now, note="")
                session.add(row)
                added += 1
            elif row.status == "resolved":
                row.status, row.alert_id, row.updated, row.note = "new", None, now, "applies again"
                added += 1
            row.rank, row.level, row.reason = warning["rank"], warning["level"], warning["reason"][:500]
            row.detail = warning.get("detail") or {}
        for key, row in rows.items():
            if key not in wanted and row.status in OPEN:
                row.status, row.updated = "resolved", now
                row.note = "no longer applies (version outside the vulnerable ranges, asset changed or port closed)"
                resolved += 1
    return added, resolved


def pending_alerts(engine: Engine) -> list[tuple[EarlyWarning, IntelAsset, KevEntry | None]]:
    """New warnings not raised as alerts yet (the last step of a match, or of one interrupted)."""
    with Session(engine) as session:
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            select(EarlyWarning, IntelAsset, KevEntry).join(IntelAsset, IntelAsset.id == EarlyWarning.asset_id)
            .outerjoin(KevEntry, KevEntry.cve_id == EarlyWarning.cve_id)
            .where(EarlyWarning.status == "new", EarlyWarning.alert_id.is_(None)).order_by(EarlyWarning.id))]


def set_alert_ids(engine: Engine, alert_of: dict[int, int]) -> None:
    with Session(engine) as session, session.begin():
        for row in session.scalars(select(EarlyWarning).where(EarlyWarning.id.in_(sorted(alert_of)))):
            row.alert_id = alert_of[row.id]


def alert_ids_for_keys(engine: Engine, keys: Sequence[str]) -> dict[str, int]:
    """The alert each stored alert key went to (its own, or the open alert it joined)."""
    with Session(engine) as session:
        return {key: alert_id for key, alert_id in session.execute(
            select(AlertKey.key, AlertKey.alert_id).where(AlertKey.key.in_(list(keys))))}


def list_warnings(engine: Engine, tenants: Tenants, limit: int = 200, tenant: str | None = None,
                  status: str | None = None, kind: str | None = None, asset_id: int | None = None,
                  offset: int = 0) -> list[tuple[EarlyWarning, IntelAsset, KevEntry | None]]:
    """The early-warning queue, highest rank first (``status`` "open": new or acknowledged)."""
    with Session(engine) as session:
        query = scoped(select(EarlyWarning, IntelAsset, KevEntry)
                       .join(IntelAsset, IntelAsset.id == EarlyWarning.asset_id)
                       .outerjoin(KevEntry, KevEntry.cve_id == EarlyWarning.cve_id),
                       EarlyWarning.tenant_id, tenants)
        if tenant is not None:
            query = query.where(EarlyWarning.tenant_id == tenant)
        if status == "open":
            query = query.where(EarlyWarning.status.in_(OPEN))
        elif status is not None:
            query = query.where(EarlyWarning.status == status)
        if kind is not None:
            query = query.where(EarlyWarning.kind == kind)
        if asset_id is not None:
            query = query.where(EarlyWarning.asset_id == asset_id)
        return [tuple(r) for r in session.execute(  # type: ignore[misc]
            query.order_by(EarlyWarning.rank.desc(), EarlyWarning.id).offset(offset).limit(limit))]


def get_warning(engine: Engine, tenants: Tenants, warning_id: int
                ) -> tuple[EarlyWarning, IntelAsset, KevEntry | None] | None:
    with Session(engine) as session:
        row = session.execute(scoped(
            select(EarlyWarning, IntelAsset, KevEntry).join(IntelAsset, IntelAsset.id == EarlyWarning.asset_id)
            .outerjoin(KevEntry, KevEntry.cve_id == EarlyWarning.cve_id).where(EarlyWarning.id == warning_id),
            EarlyWarning.tenant_id, tenants)).first()
        return tuple(row) if row else None  # type: ignore[return-value]


def set_warning_status(engine: Engine, tenants: Tenants, warning_id: int, status: str, note: str,
                       actor: str) -> EarlyWarning | None:
    """A person's decision on a warning (acknowledged, resolved, dismissed as not applicable),
    audited; None when the warning is not among ``tenants``."""
    if status not in WARNING_STATUSES:
        raise AssetStoreError(f"status must be one of {', '.join(WARNING_STATUSES)}")
    with Session(engine, expire_on_commit=False) as session, session.begin():
        row = session.scalar(scoped(select(EarlyWarning).where(EarlyWarning.id == warning_id),
                                    EarlyWarning.tenant_id, tenants))
        if row is None:
            return None
        before = row.status
        row.status, row.note, row.updated = status, note[:500], datetime.now(timezone.utc)
        audit.record(session, actor, "intel.warning.status", f"warning:{row.id}", row.tenant_id,
                     {"from": before, "to": status, "note": note[:500]})
        return row
