"""Rows of the state store to API models."""

from __future__ import annotations


from hygie.core.moments import as_utc as utc
from hygie.respond.cases import CaseView
from hygie.store.state.models import AlertRow
from hygie.store.state.models_cases import Case
from hygie.web.api.schemas import (AlertOut, AttachmentOut, CaseDetail, CaseOut, EntryOut,
                                   ObservableOut, TaskOut)


def alert_out(row: AlertRow) -> AlertOut:
    return AlertOut(id=row.id, tenant=row.tenant_id, rule_id=row.rule_id, title=row.title,
                    level=row.level, kind=row.kind, pack=row.pack, tags=list(row.tags or []),
                    host=row.host, source=row.source, event_time=row.event_time,
                    first_seen=utc(row.first_seen), last_seen=utc(row.last_seen), count=row.count,
                    status=row.status, assignee=row.assignee, close_reason=row.close_reason)


def case_out(case: Case) -> CaseOut:
    return CaseOut(id=case.id, tenant=case.tenant_id, title=case.title, severity=case.severity,
                   status=case.status, care_impact=list(case.care_impact or []), assignee=case.assignee,
                   created_by=case.created_by, created=utc(case.created), updated=utc(case.updated),
                   close_reason=case.close_reason)


def case_detail(view: CaseView) -> CaseDetail:
    return CaseDetail(
        **case_out(view.case).model_dump(), description=view.case.description,
        alerts=[alert_out(a) for a in view.alerts],
        timeline=[EntryOut(id=e.id, created=utc(e.created), author=e.author, kind=e.kind, text=e.text,
                           data=e.data or {}) for e in view.timeline],
        observables=[ObservableOut(kind=o.kind, value=o.value, first_alert_id=o.first_alert_id)
                     for o in view.observables],
        tasks=[TaskOut(id=t.id, title=t.title, assignee=t.assignee, done=t.done) for t in view.tasks],
        attachments=[AttachmentOut(id=a.id, filename=a.filename, content_type=a.content_type, size=a.size,
                                   sha256=a.sha256, author=a.author, created=utc(a.created))
                     for a in view.attachments])
