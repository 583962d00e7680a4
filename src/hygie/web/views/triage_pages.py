"""The alert queue, an alert's page, cases: pages and their forms. Forms post here and are
answered with a redirect (so a reload never posts twice); the work is done by the same store
functions as the REST API, scoped by the caller's tenants."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from hygie.respond import cases
from hygie.store.state import intel_context, triage
from hygie.store.state.access import Principal
from hygie.store.state.intel_context import IndicatorContext
from hygie.store.state.models import AlertRow
from hygie.web.api.alerts import alert_filter, attack_links
from hygie.web.api.intel import reads_red
from hygie.web.api.schemas import Id, PathId
from hygie.web.security import visible_tenants, principal, require
from hygie.web.i18n import language_of
from hygie.web.views.render import render
from hygie.web.views.respond_pages import case_response

router = APIRouter(include_in_schema=False)


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.context.engine


def _back(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


@router.get("/alerts", response_class=HTMLResponse)
def alert_queue(request: Request, flt: triage.AlertFilter = Depends(alert_filter),
                who: Principal = Depends(principal)) -> Response:
    if flt.tenant and not who.sees(flt.tenant):
        raise HTTPException(404, "no such tenant")
    rows, total = triage.list_alerts(_engine(request), who.tenants, flt)
    tenants = visible_tenants(request, who)
    query = request.url.query
    return render(request, "alerts.html", rows=rows, total=total, flt=flt, tenants=tenants,
                  levels=triage.LEVELS, statuses=triage.STATUSES, reasons=triage.CLOSE_REASONS,
                  query=query)


@router.get("/alerts/rows", response_class=HTMLResponse)
def alert_rows(request: Request, flt: triage.AlertFilter = Depends(alert_filter),
               who: Principal = Depends(principal)) -> Response:
    """The queue's rows alone: htmx refreshes them when the live stream says alerts changed."""
    if flt.tenant and not who.sees(flt.tenant):
        raise HTTPException(404, "no such tenant")
    rows, total = triage.list_alerts(_engine(request), who.tenants, flt)
    return render(request, "alert_rows.html", rows=rows, total=total)


@router.get("/alerts/{alert_id:int}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: PathId, who: Principal = Depends(principal)) -> Response:
    engine = _engine(request)
    row = triage.get_alert(engine, who.tenants, alert_id)
    if row is None:
        raise HTTPException(404, f"no alert {alert_id}")
    rule_text = request.app.state.context.rule_text(row.rule_id)
    return render(request, "alert.html", a=row, comments=triage.comments(engine, who.tenants, alert_id),
                  intel=indicator_context(engine, who, row), intel_red=reads_red(who),
                  related=triage.related_alerts(engine, who.tenants, row),
                  cases=cases.cases_of_alert(engine, who.tenants, alert_id),
                  attack=attack_links(list(row.tags or [])), rule_text=rule_text,
                  statuses=triage.STATUSES, reasons=triage.CLOSE_REASONS,
                  allowed=sorted(triage.TRANSITIONS[row.status]))


def indicator_context(engine: Engine, who: Principal, row: AlertRow) -> list[IndicatorContext] | None:
    """An IOC alert's indicator with its context (feed, sightings here and elsewhere); None
    for other alerts. TLP:RED details are left to the template (``reads_red``)."""
    recorded = (row.matched or {}).get("indicator") if row.kind == "ioc" else None
    if not isinstance(recorded, dict) or not isinstance(recorded.get("id"), int):
        return None
    return intel_context.indicator_context(engine, who.tenants, [recorded["id"]], home=row.tenant_id)


def _status(request: Request, who: Principal, ids: list[int], status: str, reason: str | None) -> None:
    missing = set(ids) - triage.visible_ids(_engine(request), who.tenants, ids)
    if missing:
        raise HTTPException(404, f"no alert {min(missing)}")
    require(who, "alert.acknowledge" if status == "acknowledged" else "alert.triage")
    try:
        triage.change_status(_engine(request), who.tenants, ids, status, who.actor, reason or None)
    except triage.TriageError as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/alerts/{alert_id:int}/status")
def alert_status(request: Request, alert_id: PathId, status: str = Form(...), reason: str = Form(""),
                 who: Principal = Depends(principal)) -> Response:
    _status(request, who, [alert_id], status, reason)
    return _back(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id:int}/assign")
def alert_assign(request: Request, alert_id: PathId, assignee: str = Form("", max_length=100),
                 who: Principal = Depends(principal)) -> Response:
    if not triage.visible_ids(_engine(request), who.tenants, [alert_id]):
        raise HTTPException(404, f"no alert {alert_id}")
    require(who, "alert.triage")
    triage.assign(_engine(request), who.tenants, [alert_id], assignee.strip() or None, who.actor)
    return _back(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id:int}/comment")
def alert_comment(request: Request, alert_id: PathId, text: str = Form(..., max_length=10_000),
                  who: Principal = Depends(principal)) -> Response:
    if not triage.visible_ids(_engine(request), who.tenants, [alert_id]):
        raise HTTPException(404, f"no alert {alert_id}")
    require(who, "comment")
    try:
        triage.add_comment(_engine(request), who.tenants, alert_id, text, who.actor)
    except triage.TriageError as exc:
        raise HTTPException(422, str(exc)) from None
    return _back(f"/alerts/{alert_id}")


@router.post("/alerts/bulk")
def alert_bulk(request: Request, ids: list[Id] = Form(...), action: str = Form(...),
               reason: str = Form(""), back: str = Form("/alerts"),
               who: Principal = Depends(principal)) -> Response:
    """``action`` is a status name, ``assign-me`` or ``case`` (a new case from the alerts)."""
    if action == "case":
        return _new_case(request, who, ids, "")
    if action == "assign-me":
        if set(ids) - triage.visible_ids(_engine(request), who.tenants, ids):
            raise HTTPException(404, "one of the alerts does not exist")
        require(who, "alert.triage")
        triage.assign(_engine(request), who.tenants, ids, who.username, who.actor)
    else:
        _status(request, who, ids, action, reason)
    return _back(back if back.startswith("/alerts") else "/alerts")


def _new_case(request: Request, who: Principal, ids: list[int], title: str) -> Response:
    if set(ids) - triage.visible_ids(_engine(request), who.tenants, ids):
        raise HTTPException(404, "one of the alerts does not exist")  # before any role check
    require(who, "case.write")
    try:
        case_id = cases.create_case(_engine(request), who.tenants, ids, who.actor, title)
    except cases.CaseError as exc:
        raise HTTPException(422, str(exc)) from None
    if case_id is None:
        raise HTTPException(404, "one of the alerts does not exist")
    return _back(f"/cases/{case_id}")


@router.post("/cases")
def case_create(request: Request, alert_ids: list[Id] = Form(...), title: str = Form("", max_length=300),
                who: Principal = Depends(principal)) -> Response:
    return _new_case(request, who, alert_ids, title)


@router.get("/cases", response_class=HTMLResponse)
def case_list(request: Request, status: str | None = None, who: Principal = Depends(principal)) -> Response:
    rows, total = cases.list_cases(_engine(request), who.tenants, status if status in
                                   ("open", "in_progress", "closed") else None, None, 200)
    return render(request, "cases.html", rows=rows, total=total, status=status)


@router.get("/cases/{case_id:int}", response_class=HTMLResponse)
def case_page(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> Response:
    view = cases.get_case(_engine(request), who.tenants, case_id)
    if view is None:
        raise HTTPException(404, f"no case {case_id}")
    return render(request, "case.html", v=view, c=view.case, severities=cases.SEVERITIES,
                  statuses=cases.CASE_STATUSES, reasons=cases.CLOSE_REASONS,
                  r=case_response(request, who, case_id, language_of(request)))


def _case_or_404(request: Request, who: Principal, case_id: int, permission: str) -> None:
    if cases.get_case(_engine(request), who.tenants, case_id) is None:
        raise HTTPException(404, f"no case {case_id}")
    require(who, permission)


@router.post("/cases/{case_id:int}/note")
def case_note(request: Request, case_id: PathId, text: str = Form(..., max_length=20_000),
              who: Principal = Depends(principal)) -> Response:
    _case_or_404(request, who, case_id, "comment")
    try:
        cases.add_note(_engine(request), who.tenants, case_id, text, who.actor)
    except cases.CaseError as exc:
        raise HTTPException(422, str(exc)) from None
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id:int}/update")
def case_update(request: Request, case_id: PathId, status: str = Form(""), close_reason: str = Form(""),
                severity: str = Form(""), care_impact: str = Form("", max_length=2000),
                assignee: str = Form("", max_length=100), who: Principal = Depends(principal)) -> Response:
    _case_or_404(request, who, case_id, "case.write")
    try:
        cases.update_case(_engine(request), who.tenants, case_id, who.actor, status=status or None,
                          close_reason=close_reason or None, severity=severity or None,
                          care_impact=[s for s in care_impact.split(",")], assignee=assignee)
    except cases.CaseError as exc:
        raise HTTPException(422, str(exc)) from None
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id:int}/task")
def case_task(request: Request, case_id: PathId, title: str = Form(..., max_length=300),
              who: Principal = Depends(principal)) -> Response:
    _case_or_404(request, who, case_id, "case.write")
    try:
        cases.add_task(_engine(request), who.tenants, case_id, title, who.actor)
    except cases.CaseError as exc:
        raise HTTPException(422, str(exc)) from None
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id:int}/tasks/{task_id:int}")
def case_task_done(request: Request, case_id: PathId, task_id: PathId, done: bool = Form(...),
                   who: Principal = Depends(principal)) -> Response:
    _case_or_404(request, who, case_id, "case.write")
    if not cases.set_task_done(_engine(request), who.tenants, case_id, task_id, done, who.actor):
        raise HTTPException(404, f"no task {task_id}")
    return _back(f"/cases/{case_id}")


@router.post("/cases/{case_id:int}/attach")
async def case_attach(request: Request, case_id: PathId, file: UploadFile,
                      who: Principal = Depends(principal)) -> Response:
    data = await file.read(cases.MAX_ATTACHMENT + 1)
    context = request.app.state.context

    def store() -> None:
        _case_or_404(request, who, case_id, "case.write")
        cases.attach_file(context.engine, who.tenants, case_id, file.filename or "attachment",
                          file.content_type or "", data, context.attachments_dir, who.actor)
    try:
        await run_in_threadpool(store)
    except cases.CaseError as exc:
        raise HTTPException(413, str(exc)) from None
    return _back(f"/cases/{case_id}")
