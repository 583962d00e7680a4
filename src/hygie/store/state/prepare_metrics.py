"""Read-only queries the continuity KPIs and the monthly report need from other stages' tables:
case timings (from the cases, their alerts and their timeline), the month's incidents and NIS 2
reports, and the asset inventory with its open early warnings.

Kept in the store layer so that Prepare reads the data without importing Respond or Intel.
Every query takes one tenant; nothing here writes. The intel tables are read through
``intel_assets_store`` and the exposure table the intel stage fills from scans."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc
from hygie.store.state import intel_assets_store
from hygie.store.state.models import AlertRow
from hygie.store.state.models_cases import Case, CaseAlert, CaseEntry
from hygie.store.state.models_intel import EarlyWarning, IntelExposure, KevEntry
from hygie.store.state.models_respond import Nis2Incident, Nis2Report

# early-warning statuses that mean "dealt with" (anything else is open)
CLOSED_WARNING = frozenset({"closed", "resolved", "patched", "fixed", "dismissed", "false_positive",
                            "not_applicable", "done"})


@dataclass(frozen=True, slots=True)
class CaseTiming:
    """What the KPIs need of one case: when it was opened, first acted on, closed, and the
    earliest alert and event time among its alerts."""

    case_id: int
    title: str
    severity: str
    status: str
    created: datetime
    closed: datetime | None  # None while not closed
    first_alert: datetime | None  # earliest first_seen of its alerts
    event_times: tuple[str, ...]  # event times of its alerts, as stored
    alerts_acknowledged: datetime | None  # earliest acknowledgement of its alerts
    first_status_change: datetime | None  # first status line of its timeline


def case_timings(engine: Engine, tenant: str, since: datetime | None = None,
                 until: datetime | None = None, *, closed_in: bool = False) -> list[CaseTiming]:
    """Cases of ``tenant`` opened (``closed_in``: closed) in [since, until), oldest first."""
    column = Case.closed if closed_in else Case.created
    query = select(Case).where(Case.tenant_id == tenant)
    if closed_in:
        query = query.where(Case.status == "closed")
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    with Session(engine) as session:
        rows = list(session.scalars(query.order_by(Case.created, Case.id)))
        ids = [c.id for c in rows]
        alerts: dict[int, list[Any]] = {}
        changes: dict[int, datetime] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for case_id, first_seen, event_time, acknowledged in session.execute(
                    select(CaseAlert.case_id, AlertRow.first_seen, AlertRow.event_time, AlertRow.acknowledged)
                    .join(AlertRow, AlertRow.id == CaseAlert.alert_id)
                    .where(CaseAlert.case_id.in_(chunk), CaseAlert.tenant_id == tenant)):
                alerts.setdefault(case_id, []).append((as_utc(first_seen), event_time, as_utc(acknowledged)))
            for case_id, first in session.execute(
                    select(CaseEntry.case_id, func.min(CaseEntry.created))
                    .where(CaseEntry.case_id.in_(chunk), CaseEntry.kind == "status", CaseEntry.tenant_id == tenant)
                    .group_by(CaseEntry.case_id)):
                changes[case_id] = as_utc(first)
    out = []
    for case in rows:
        linked = alerts.get(case.id, [])
        acks = [a for _f, _e, a in linked if a is not None]
        out.append(CaseTiming(
            case.id, case.title, case.severity, case.status, as_utc(case.created),
            as_utc(case.closed) if case.status == "closed" and case.closed else None,
            min((f for f, _e, _a in linked), default=None),
            tuple(e for _f, e, _a in linked if e), min(acks, default=None), changes.get(case.id)))
    return out


@dataclass(frozen=True, slots=True)
class Nis2Line:
    case_id: int
    kind: str
    due: datetime
    submitted: datetime | None


def nis2_reports(engine: Engine, tenant: str, since: datetime, until: datetime) -> list[Nis2Line]:
    """NIS 2 reports of ``tenant`` due, or of incidents the hospital became aware of, in
    [since, until)."""
    with Session(engine) as session:
        rows = session.execute(
            select(Nis2Report.case_id, Nis2Report.kind, Nis2Report.due, Nis2Report.submitted)
            .join(Nis2Incident, Nis2Incident.case_id == Nis2Report.case_id)
            .where(Nis2Report.tenant_id == tenant,
                   ((Nis2Report.due >= since) & (Nis2Report.due < until))
                   | ((Nis2Incident.aware_at >= since) & (Nis2Incident.aware_at < until)))
            .order_by(Nis2Report.due, Nis2Report.id))
        return [Nis2Line(c, k, as_utc(d), as_utc(s) if s else None) for c, k, d, s in rows]


@dataclass(frozen=True, slots=True)
class AssetInfo:
    host: str
    ip: str
    exposed: bool
    criticality: str
    services: tuple[str, ...] | None  # None: no scan of this tenant was imported


@dataclass(frozen=True, slots=True)
class WarningInfo:
    cve_id: str
    name: str
    host: str
    status: str
    rank: int
    created: datetime
    date_added: str
    ransomware: bool
    exposed: bool
    criticality: str
    level: str = ""  # the intel stage's own level of the warning, where it has one


@dataclass(frozen=True, slots=True)
class AssetData:
    """A tenant's asset inventory, its open early warnings, and the size of the KEV catalog."""

    assets: list[AssetInfo]
    open_warnings: list[WarningInfo]
    kev_entries: int


def _exposures(session: Session, tenant: str) -> dict[int, list[str]]:
    """Open internet exposures per asset id (nmap / internet-scan imports of the intel stage):
    ``port/transport``, the service name, and ``risk:<name>`` when the intel stage matched a
    risky-service entry of ``intel/exposure.yml``."""
    query = select(IntelExposure).where(IntelExposure.tenant_id == tenant, IntelExposure.open.is_(True))
    out: dict[int, list[str]] = {}
    for row in session.scalars(query):
        names = [f"{row.port}/{row.transport or 'tcp'}"]
        names += [row.service.lower()] if row.service else []
        names += [f"risk:{row.risk}"] if row.risk else []
        out.setdefault(row.asset_id, []).extend(names)
    return out


def asset_data(engine: Engine, tenant: str) -> AssetData:
    """Assets of ``tenant`` with their known exposed services, open KEV early warnings, and the
    size of the KEV catalog. Exposure-only warnings (no CVE) are left to the exposure check."""
    only = frozenset({tenant})
    with Session(engine) as session:
        exposures = _exposures(session, tenant)
        kev = session.scalar(select(func.count()).select_from(KevEntry)) or 0
    assets = []
    for a in intel_assets_store.list_assets(engine, only):
        # no scan imported for this tenant: the services are unknown (None), not "none open"
        services = tuple(exposures.get(a.id, ())) if exposures else None
        assets.append(AssetInfo(a.host, a.ip or "", bool(a.exposed) or a.id in exposures,
                                a.criticality or "support", services))
    warnings = [WarningInfo(k.cve_id, k.name or "", a.host, w.status, w.rank, as_utc(w.created), k.date_added or "",
                            (k.ransomware or "").lower() == "known", bool(a.exposed), a.criticality or "support",
                            w.level or "")
                for w, a, k in intel_assets_store.list_warnings(engine, only, limit=10_000)
                if k is not None and (w.status or "new").lower() not in CLOSED_WARNING]
    return AssetData(assets, warnings, int(kev))


@dataclass(frozen=True, slots=True)
class WarningSpan:
    """When a KEV early warning was open, as far as the warnings table tells: from ``created``
    to ``closed`` (None: still open). The table keeps no closing date: a warning resolved or
    dismissed counts as closed at its ``updated`` moment (at ``created`` when it has none), so a
    later edit of a closed warning moves its closing later, and a reopened one counts as open
    since its creation. Rank and level are today's."""

    created: datetime
    closed: datetime | None
    rank: int
    level: str


def warning_spans(engine: Engine, tenant: str) -> list[WarningSpan]:
    """Every KEV early warning of ``tenant`` (exposure-only ones are left to the exposure
    check, as in ``asset_data``), open or not."""
    with Session(engine) as session:
        rows = session.execute(select(EarlyWarning.created, EarlyWarning.updated, EarlyWarning.status,
                                      EarlyWarning.rank, EarlyWarning.level)
                               .where(EarlyWarning.tenant_id == tenant, EarlyWarning.cve_id.is_not(None)))
        out = []
        for created, updated, status, rank, level in rows:
            closed = (status or "new").lower() in CLOSED_WARNING
            out.append(WarningSpan(as_utc(created), as_utc(updated or created) if closed else None,
                                   int(rank or 0), level or ""))
        return out
