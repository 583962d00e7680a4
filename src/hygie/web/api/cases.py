"""``/api/v1/cases``: incidents made from alerts, their timeline, notes, tasks, attachments."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from hygie.respond import cases
from hygie.store.state import triage
from hygie.store.state.access import Principal
from hygie.web.api.convert import case_detail, case_out
from hygie.web.api.schemas import (ERROR_RESPONSES, PathId, AlertIds, CaseDetail, CaseIn, CasePage, CaseUpdate, Created, NoteIn,
                                   TaskIn, TaskUpdate)
from hygie.web.security import check_tenant, principal, require

router = APIRouter(tags=["cases"], responses=ERROR_RESPONSES)


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.context.engine


def _found(ok: object, case_id: int) -> None:
    if not ok:
        raise HTTPException(404, f"no case {case_id}")


@router.get("/cases", response_model=CasePage)
def list_cases(request: Request, status: Literal["open", "in_progress", "closed"] | None = None,
               tenant: str | None = None, limit: int = Query(50, ge=1, le=500),
               offset: int = Query(0, ge=0, le=1_000_000), who: Principal = Depends(principal)) -> CasePage:
    check_tenant(who, tenant)
    rows, total = cases.list_cases(_engine(request), who.tenants, status, tenant, limit, offset)
    return CasePage(total=total, items=[case_out(c) for c in rows])


@router.post("/cases", response_model=Created, status_code=201)
def create_case(request: Request, body: CaseIn, who: Principal = Depends(principal)) -> Created:
    if set(body.alert_ids) - triage.visible_ids(_engine(request), who.tenants, body.alert_ids):
        raise HTTPException(404, "one of the alerts does not exist")  # before any role check
    require(who, "case.write")
    try:
        case_id = cases.create_case(_engine(request), who.tenants, body.alert_ids, who.actor,
                                    body.title, body.severity, body.description)
    except cases.CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    if case_id is None:
        raise HTTPException(404, "one of the alerts does not exist")
    return Created(id=case_id)


@router.get("/cases/{case_id:int}", response_model=CaseDetail)
def get_case(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> CaseDetail:
    view = cases.get_case(_engine(request), who.tenants, case_id)
    _found(view, case_id)
    return case_detail(view)  # type: ignore[arg-type]


def _writable(request: Request, who: Principal, case_id: int, permission: str = "case.write") -> None:
    _found(cases.get_case(_engine(request), who.tenants, case_id), case_id)  # 404 before 403
    require(who, permission)


@router.patch("/cases/{case_id:int}", response_model=CaseDetail)
def update_case(request: Request, case_id: PathId, body: CaseUpdate, who: Principal = Depends(principal)) -> CaseDetail:
    _writable(request, who, case_id)
    try:
        cases.update_case(_engine(request), who.tenants, case_id, who.actor, **body.model_dump(exclude_unset=True))
    except cases.CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return get_case(request, case_id, who)


@router.post("/cases/{case_id:int}/notes", response_model=Created, status_code=201)
def add_note(request: Request, case_id: PathId, body: NoteIn, who: Principal = Depends(principal)) -> Created:
    _writable(request, who, case_id, "comment")
    try:
        _found(cases.add_note(_engine(request), who.tenants, case_id, body.text, who.actor), case_id)
    except cases.CaseError as exc:
        raise HTTPException(409, str(exc)) from None
    return Created(id=case_id)


@router.post("/cases/{case_id:int}/alerts", response_model=Created)
def add_alerts(request: Request, case_id: PathId, body: AlertIds, who: Principal = Depends(principal)) -> Created:
    _writable(request, who, case_id)
    if not cases.add_alerts(_engine(request), who.tenants, case_id, body.alert_ids, who.actor):
        raise HTTPException(404, "one of the alerts does not exist in this case's hospital")
    return Created(id=case_id)


@router.post("/cases/{case_id:int}/tasks", response_model=Created, status_code=201)
def add_task(request: Request, case_id: PathId, body: TaskIn, who: Principal = Depends(principal)) -> Created:
    _writable(request, who, case_id)
    task_id = cases.add_task(_engine(request), who.tenants, case_id, body.title, who.actor, body.assignee)
    _found(task_id, case_id)
    return Created(id=task_id)  # type: ignore[arg-type]


@router.patch("/cases/{case_id:int}/tasks/{task_id:int}", response_model=Created)
def update_task(request: Request, case_id: PathId, task_id: PathId, body: TaskUpdate,
                who: Principal = Depends(principal)) -> Created:
    _writable(request, who, case_id)
    if not cases.set_task_done(_engine(request), who.tenants, case_id, task_id, body.done, who.actor):
        raise HTTPException(404, f"no task {task_id} in case {case_id}")
    return Created(id=task_id)


@router.post("/cases/{case_id:int}/attachments", response_model=Created, status_code=201)
async def attach(request: Request, case_id: PathId, file: UploadFile, who: Principal = Depends(principal)) -> Created:
    data = await file.read(cases.MAX_ATTACHMENT + 1)
    context = request.app.state.context

    def store() -> int | None:
        _writable(request, who, case_id)
        return cases.attach_file(context.engine, who.tenants, case_id, file.filename or "attachment",
                                 file.content_type or "", data, context.attachments_dir, who.actor)
    try:
        attachment_id = await run_in_threadpool(store)
    except cases.CaseError as exc:
        raise HTTPException(413, str(exc)) from None
    _found(attachment_id, case_id)
    return Created(id=attachment_id)  # type: ignore[arg-type]


@router.get("/attachments/{attachment_id:int}", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}})
def download(request: Request, attachment_id: PathId, who: Principal = Depends(principal)) -> FileResponse:
    context = request.app.state.context
    row = cases.attachment(context.engine, who.tenants, attachment_id)
    if row is None:
        raise HTTPException(404, f"no attachment {attachment_id}")
    path = context.attachments_dir / row.tenant_id / row.sha256
    if not path.is_file():
        raise HTTPException(410, "the attachment's file is missing from the data folder")
    # served as a download, never rendered: an attachment may be hostile
    return FileResponse(path, media_type="application/octet-stream", filename=row.filename)
