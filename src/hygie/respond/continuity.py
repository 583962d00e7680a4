"""Continuity of care during a case: each affected care service's status (up, degraded,
down) over time, so that the time to recover is measured, not remembered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _utc
from hygie.respond import timeline
from hygie.store.state import audit
from hygie.store.state.models_cases import Case
from hygie.store.state.models_respond import CareServiceStatus
from hygie.store.state.scope import Tenants, scoped

STATUSES = ("up", "degraded", "down")


class ContinuityError(ValueError):
    """A status change that is refused."""


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    service: str
    current: str
    since: datetime
    first_impact: datetime | None  # first time it was not up
    recovered: datetime | None  # back up after its last outage (None: not yet)
    recovery_seconds: float | None  # first_impact -> recovered
    down_seconds: float
    degraded_seconds: float


def set_status(engine: Engine, tenants: Tenants, case_id: int, service: str, status: str, actor: str,
               at: datetime | None = None, note: str = "") -> bool:
    """Record that ``service`` is ``status`` from ``at`` (now by default) on."""
    service = service.strip()[:100]
    if status not in STATUSES:
        raise ContinuityError(f"status must be one of {', '.join(STATUSES)}")
    if not service:
        raise ContinuityError("a care service needs a name")
    moment = _utc(at) if at else datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        case = session.scalar(scoped(select(Case).where(Case.id == case_id), Case.tenant_id, tenants))
        if case is None:
            return False
        session.add(CareServiceStatus(case_id=case_id, tenant_id=case.tenant_id, service=service, status=status,
                                      at=moment, author=actor, note=note[:2000]))
        if service not in case.care_impact:
            case.care_impact = sorted({*case.care_impact, service})
        timeline.add(session, case_id, case.tenant_id, actor, "continuity", "continuity.status",
                     {"service": service, "status": timeline.word(status), "note": f" ({note})" if note else ""},
                     {"service": service, "status": status, "at": moment.isoformat()})
        audit.record(session, actor, "case.continuity", f"case:{case_id}", case.tenant_id,
                     {"service": service, "status": status, "at": moment.isoformat()})
        return True


def history(engine: Engine, tenants: Tenants, case_id: int) -> dict[str, list[tuple[datetime, str, str]]]:
    """Per service, its statuses in time order: (from, status, note)."""
    found: dict[str, list[tuple[datetime, str, str]]] = {}
    with Session(engine) as session:
        rows = session.scalars(scoped(select(CareServiceStatus).where(CareServiceStatus.case_id == case_id),
                                      CareServiceStatus.tenant_id, tenants)
                               .order_by(CareServiceStatus.at, CareServiceStatus.id))
        for row in rows:
            found.setdefault(row.service, []).append((_utc(row.at), row.status, row.note))
    return found


def summarise(changes: list[tuple[datetime, str, str]], now: datetime | None = None) -> tuple[
        str, datetime, datetime | None, datetime | None, float, float]:
    """(current, since, first_impact, recovered, down_seconds, degraded_seconds) of one service."""
    end = _utc(now) if now else datetime.now(timezone.utc)
    totals = {"up": 0.0, "degraded": 0.0, "down": 0.0}
    first_impact = recovered = None
    for index, (moment, status, _) in enumerate(changes):
        until = changes[index + 1][0] if index + 1 < len(changes) else end
        totals[status] += max(0.0, (until - moment).total_seconds())
        if status != "up" and first_impact is None:
            first_impact = moment
        if status == "up" and first_impact is not None:
            recovered = moment
        elif status != "up":
            recovered = None
    return changes[-1][1], changes[-1][0], first_impact, recovered, totals["down"], totals["degraded"]


def summary(engine: Engine, tenants: Tenants, case_id: int, now: datetime | None = None) -> list[ServiceSummary]:
    result = []
    for service, changes in sorted(history(engine, tenants, case_id).items()):
        current, since, first, recovered, down, degraded = summarise(changes, now)
        recovery = (recovered - first).total_seconds() if first and recovered else None
        result.append(ServiceSummary(service, current, since, first, recovered, recovery, down, degraded))
    return result
