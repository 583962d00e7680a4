"""Cases (incidents): created from alerts, with a timeline of everything that happens to them
(alerts added, notes, tasks, status changes, attachments), observables taken from the alerts,
severity and impact on care. Every operation takes the principal's tenants and is audited."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hygie.respond.observables import extract
from hygie.store.state import audit
from hygie.store.state.models import AlertRow
from hygie.store.state.models_cases import (Attachment, Case, CaseAlert, CaseEntry, CaseTask,
                                            Observable)
from hygie.store.state.scope import Tenants, scoped

SEVERITIES = ("low", "medium", "high", "critical")
CASE_STATUSES = ("open", "in_progress", "closed")
CLOSE_REASONS = ("true_positive", "false_positive", "benign")
MAX_ATTACHMENT = 20 * 1024 * 1024


class CaseError(ValueError):
    """A request the case workflow refuses (answered with a 4xx)."""


@dataclass(slots=True)
class CaseView:
    case: Case
    alerts: list[AlertRow]
    timeline: list[CaseEntry]
    observables: list[Observable]
    tasks: list[CaseTask]
    attachments: list[Attachment]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _visible_case(session: Session, tenants: Tenants, case_id: int) -> Case | None:
    return session.scalar(scoped(select(Case).where(Case.id == case_id), Case.tenant_id, tenants))


def create_case(engine: Engine, tenants: Tenants, alert_ids: list[int], actor: str, title: str = "",
                severity: str | None = None, description: str = "") -> int | None:
    """A case from one or more alerts of one tenant; ``None`` if an alert is not visible."""
    if not alert_ids:
        raise CaseError("a case starts from at least one alert")
    with Session(engine) as session, session.begin():
        alerts = list(session.scalars(scoped(select(AlertRow).where(AlertRow.id.in_(alert_ids)),
                                             AlertRow.tenant_id, tenants).order_by(AlertRow.id)))
        if len(alerts) != len(set(alert_ids)):
            return None
        tenant_ids = {a.tenant_id for a in alerts}
        if len(tenant_ids) != 1:
            raise CaseError("the alerts of a case must belong to one hospital")
        if severity is not None and severity not in SEVERITIES:
            raise CaseError(f"severity must be one of {', '.join(SEVERITIES)}")
        tenant = tenant_ids.pop()
        now = _now()
        case = Case(tenant_id=tenant, title=(title.strip() or alerts[0].title)[:300],
                    description=description, severity=severity or _severity_of(alerts),
                    status="open", care_impact=[], created_by=actor, created=now, updated=now)
        session.add(case)
        session.flush()
        _entry(session, case, actor, "created", f"Case opened from {len(alerts)} alert(s)")
        _attach_alerts(session, case, alerts, actor)
        audit.record(session, actor, "case.create", f"case:{case.id}", tenant, {"alerts": alert_ids})
        return case.id


def _severity_of(alerts: list[AlertRow]) -> str:
    ranks = {"informational": 0, "low": 0, "medium": 1, "high": 2, "critical": 3}
    return SEVERITIES[max(ranks.get(a.level, 1) for a in alerts)]


def _attach_alerts(session: Session, case: Case, alerts: list[AlertRow], actor: str) -> None:
    known = {(o.kind, o.value) for o in session.scalars(select(Observable).where(Observable.case_id == case.id))}
    linked = set(session.scalars(select(CaseAlert.alert_id).where(CaseAlert.case_id == case.id)))
    for alert in alerts:
        if alert.id in linked:
            continue
        session.add(CaseAlert(case_id=case.id, alert_id=alert.id, tenant_id=case.tenant_id))
        _entry(session, case, actor, "alert", alert.title, {"alert_id": alert.id, "level": alert.level})
        pairs = list(extract(alert.event or {}))
        if alert.host:
            pairs.append(("host", alert.host))
        for kind, value in pairs:
            if (kind, value) not in known:
                known.add((kind, value))
                session.add(Observable(case_id=case.id, tenant_id=case.tenant_id, kind=kind,
                                       value=value, first_alert_id=alert.id))
    case.updated = _now()


def add_alerts(engine: Engine, tenants: Tenants, case_id: int, alert_ids: list[int], actor: str) -> bool:
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return False
        alerts = list(session.scalars(select(AlertRow).where(AlertRow.id.in_(alert_ids),
                                                             AlertRow.tenant_id == case.tenant_id)))
        if len(alerts) != len(set(alert_ids)):
            return False
        _attach_alerts(session, case, alerts, actor)
        audit.record(session, actor, "case.alerts", f"case:{case_id}", case.tenant_id, {"alerts": alert_ids})
        return True


def _entry(session: Session, case: Case, actor: str, kind: str, text: str,
           data: dict[str, Any] | None = None) -> None:
    session.add(CaseEntry(case_id=case.id, tenant_id=case.tenant_id, created=_now(), author=actor,
                          kind=kind, text=text, data=data or {}))


def add_note(engine: Engine, tenants: Tenants, case_id: int, text: str, actor: str) -> bool:
    text = text.strip()
    if not text:
        raise CaseError("a note cannot be empty")
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return False
        _entry(session, case, actor, "note", text[:20_000])
        case.updated = _now()
        audit.record(session, actor, "case.note", f"case:{case_id}", case.tenant_id)
        return True


def update_case(engine: Engine, tenants: Tenants, case_id: int, actor: str, *,
                status: str | None = None, close_reason: str | None = None,
                severity: str | None = None, care_impact: list[str] | None = None,
                assignee: str | None = None, title: str | None = None) -> bool:
    """Change what is given; each change is a timeline line and an audit entry."""
    if status is not None and status not in CASE_STATUSES:
        raise CaseError(f"status must be one of {', '.join(CASE_STATUSES)}")
    if status == "closed" and close_reason not in CLOSE_REASONS:
        raise CaseError(f"closing needs a reason: {', '.join(CLOSE_REASONS)}")
    if severity is not None and severity not in SEVERITIES:
        raise CaseError(f"severity must be one of {', '.join(SEVERITIES)}")
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return False
        changes: dict[str, Any] = {}
        if status is not None and status != case.status:
            changes["status"] = [case.status, status]
            case.status = status
            case.closed, case.close_reason = (_now(), close_reason) if status == "closed" else (None, None)
        if severity is not None and severity != case.severity:
            changes["severity"] = [case.severity, severity]
            case.severity = severity
        if care_impact is not None:
            cleaned = sorted({s.strip()[:100] for s in care_impact if s.strip()})
            if cleaned != case.care_impact:
                changes["care_impact"] = cleaned
                case.care_impact = cleaned
        if assignee is not None and (assignee or None) != case.assignee:
            changes["assignee"] = assignee or None
            case.assignee = assignee or None
        if title is not None and title.strip() and title.strip() != case.title:
            changes["title"] = title.strip()[:300]
            case.title = title.strip()[:300]
        if changes:
            text = ", ".join(f"{k}: {' -> '.join(map(str, v)) if isinstance(v, list) and k in ('status', 'severity') else v}"
                             for k, v in changes.items())
            _entry(session, case, actor, "status" if "status" in changes else "update", text, changes)
            case.updated = _now()
            audit.record(session, actor, "case.update", f"case:{case_id}", case.tenant_id, changes)
        return True


def add_task(engine: Engine, tenants: Tenants, case_id: int, title: str, actor: str,
             assignee: str | None = None) -> int | None:
    if not title.strip():
        raise CaseError("a task needs a title")
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return None
        task = CaseTask(case_id=case_id, tenant_id=case.tenant_id, title=title.strip()[:300],
                        assignee=assignee, done=False, created=_now())
        session.add(task)
        session.flush()
        _entry(session, case, actor, "task", f"Task added: {task.title}", {"task_id": task.id})
        audit.record(session, actor, "case.task", f"case:{case_id}", case.tenant_id, {"task": task.title})
        return task.id


def set_task_done(engine: Engine, tenants: Tenants, case_id: int, task_id: int, done: bool, actor: str) -> bool:
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        task = session.get(CaseTask, task_id) if case else None
        if case is None or task is None or task.case_id != case_id:
            return False
        if task.done != done:
            task.done, task.done_at = done, _now() if done else None
            _entry(session, case, actor, "task", f"Task {'done' if done else 'reopened'}: {task.title}",
                   {"task_id": task_id})
            audit.record(session, actor, "case.task", f"case:{case_id}", case.tenant_id,
                         {"task_id": task_id, "done": done})
        return True


def attach_file(engine: Engine, tenants: Tenants, case_id: int, filename: str, content_type: str,
                data: bytes, folder: Path, actor: str) -> int | None:
    """Keep a file on a case; its bytes are written under ``folder`` by content hash."""
    if len(data) > MAX_ATTACHMENT:
        raise CaseError(f"an attachment is limited to {MAX_ATTACHMENT // (1024 * 1024)} MiB")
    name = Path(filename or "attachment").name[:255] or "attachment"
    digest = hashlib.sha256(data).hexdigest()
    with Session(engine) as session, session.begin():
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return None
        target = folder / case.tenant_id / digest
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(target)
        row = Attachment(case_id=case_id, tenant_id=case.tenant_id, filename=name,
                         content_type=(content_type or "application/octet-stream")[:100],
                         size=len(data), sha256=digest, author=actor, created=_now())
        session.add(row)
        session.flush()
        _entry(session, case, actor, "attachment", f"File attached: {name}", {"attachment_id": row.id})
        audit.record(session, actor, "case.attachment", f"case:{case_id}", case.tenant_id,
                     {"file": name, "sha256": digest})
        return row.id


def attachment(engine: Engine, tenants: Tenants, attachment_id: int) -> Attachment | None:
    with Session(engine) as session:
        return session.scalar(scoped(select(Attachment).where(Attachment.id == attachment_id),
                                     Attachment.tenant_id, tenants))


def get_case(engine: Engine, tenants: Tenants, case_id: int) -> CaseView | None:
    with Session(engine) as session:
        case = _visible_case(session, tenants, case_id)
        if case is None:
            return None
        alerts = list(session.scalars(select(AlertRow).join(CaseAlert, CaseAlert.alert_id == AlertRow.id)
                                      .where(CaseAlert.case_id == case_id).order_by(AlertRow.id)))
        timeline = list(session.scalars(select(CaseEntry).where(CaseEntry.case_id == case_id)
                                        .order_by(CaseEntry.id)))
        observables = list(session.scalars(select(Observable).where(Observable.case_id == case_id)
                                           .order_by(Observable.kind, Observable.value)))
        tasks = list(session.scalars(select(CaseTask).where(CaseTask.case_id == case_id).order_by(CaseTask.id)))
        files = list(session.scalars(select(Attachment).where(Attachment.case_id == case_id)
                                     .order_by(Attachment.id)))
        return CaseView(case, alerts, timeline, observables, tasks, files)


def list_cases(engine: Engine, tenants: Tenants, status: str | None = None, tenant: str | None = None,
               limit: int = 50, offset: int = 0) -> tuple[list[Case], int]:
    query = scoped(select(Case), Case.tenant_id, tenants)
    if status == "open":
        query = query.where(Case.status != "closed")
    elif status:
        query = query.where(Case.status == status)
    if tenant:
        query = query.where(Case.tenant_id == tenant)
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(session.scalars(query.order_by(Case.updated.desc()).limit(limit).offset(offset)))
    return rows, total


def cases_of_alert(engine: Engine, tenants: Tenants, alert_id: int) -> list[Case]:
    with Session(engine) as session:
        return list(session.scalars(scoped(select(Case).join(CaseAlert, CaseAlert.case_id == Case.id)
                                           .where(CaseAlert.alert_id == alert_id), Case.tenant_id, tenants)))
