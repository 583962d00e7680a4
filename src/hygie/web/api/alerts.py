"""``/api/v1/alerts``: the queue, an alert's detail, triage (status, assignment, comments,
bulk). Reads and writes go through ``store.state.triage``, which scopes them by tenant."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from hygie.respond.cases import cases_of_alert
from hygie.store.state import triage
from hygie.store.state.access import Principal
from hygie.web.api.convert import alert_out, utc
from hygie.web.api.schemas import (ERROR_RESPONSES, PathId, AlertDetail, AlertPage, Assignment, BulkAction, Changed,
                                   CommentIn, CommentOut, StatusChange)
from hygie.web.security import check_tenant, principal, require

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=ERROR_RESPONSES)
TECHNIQUE = re.compile(r"^attack\.(t\d{4})(?:\.(\d{3}))?$", re.IGNORECASE)
Level = Literal["informational", "low", "medium", "high", "critical"]


def alert_filter(tenant: str | None = None, level: list[Level] = Query([]),
                 status: Literal["new", "acknowledged", "in_progress", "closed", "open"] | None = None,
                 rule: str | None = Query(None, max_length=300), host: str | None = Query(None, max_length=255),
                 since: datetime | None = None, until: datetime | None = None,
                 sort: Literal["last_seen", "first_seen", "count", "rule", "host", "tenant", "level"] = "last_seen",
                 order: Literal["asc", "desc"] = "desc", limit: int = Query(50, ge=1, le=500),
                 offset: int = Query(0, ge=0, le=1_000_000)) -> triage.AlertFilter:
    return triage.AlertFilter(tenant=tenant, levels=list(level), status=status, rule=rule, host=host,
                              since=since, until=until, sort=sort, descending=order == "desc",
                              limit=limit, offset=offset)


@router.get("", response_model=AlertPage)
def list_alerts(request: Request, flt: triage.AlertFilter = Depends(alert_filter),
                who: Principal = Depends(principal)) -> AlertPage:
    check_tenant(who, flt.tenant)
    rows, total = triage.list_alerts(request.app.state.context.engine, who.tenants, flt)
    return AlertPage(total=total, limit=flt.limit, offset=flt.offset, items=[alert_out(r) for r in rows])


STREAM_POLL_S = 2.0
STREAM_MAX_S = 3600.0  # then the browser's EventSource reconnects (bounded server loop)


@router.get("/stream", include_in_schema=False)
async def stream(request: Request, who: Principal = Depends(principal)) -> StreamingResponse:
    """Server-sent events: ``alerts`` whenever the caller's queue changes (new alerts, repeats,
    triage), so the page refreshes its rows without polling the whole page."""
    engine = request.app.state.context.engine

    async def events() -> AsyncIterator[bytes]:
        last = None
        started = time.monotonic()
        yield b"retry: 5000\n\n"
        while time.monotonic() - started < STREAM_MAX_S and not await request.is_disconnected():
            mark = await run_in_threadpool(triage.change_mark, engine, who.tenants)
            if mark != last:
                if last is not None:
                    yield b"event: alerts\ndata: " + orjson.dumps(mark) + b"\n\n"
                last = mark
            else:
                yield b": keep-alive\n\n"
            await asyncio.sleep(STREAM_POLL_S)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# before the "/{alert_id}" routes, so that "/alerts/bulk" is never read as an alert id
@router.post("/bulk", response_model=Changed)
def bulk(request: Request, body: BulkAction, who: Principal = Depends(principal)) -> Changed:
    _visible_or_404(request, who, body.ids)
    if body.action == "status":
        if body.status is None:
            raise HTTPException(409, "give the new status")
        return Changed(changed=_change_status(request, who, body.ids, body.status, body.reason))
    require(who, "alert.triage")
    return Changed(changed=triage.assign(request.app.state.context.engine, who.tenants, body.ids,
                                         body.assignee, who.actor))


def attack_links(tags: list[str]) -> list[dict[str, str]]:
    links = []
    for tag in tags:
        found = TECHNIQUE.match(tag)
        if found:
            technique, sub = found.group(1).upper(), found.group(2)
            url = f"https://attack.mitre.org/techniques/{technique}/" + (f"{sub}/" if sub else "")
            links.append({"id": technique + (f".{sub}" if sub else ""), "url": url})
    return links


@router.get("/{alert_id:int}", response_model=AlertDetail)
def get_alert(request: Request, alert_id: PathId, who: Principal = Depends(principal)) -> AlertDetail:
    engine = request.app.state.context.engine
    row = triage.get_alert(engine, who.tenants, alert_id)
    if row is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return AlertDetail(
        **alert_out(row).model_dump(), matched=row.matched or {}, event=row.event or {},
        comments=[CommentOut(id=c.id, author=c.author, created=utc(c.created), text=c.text)
                  for c in triage.comments(engine, who.tenants, alert_id)],
        related=[alert_out(r) for r in triage.related_alerts(engine, who.tenants, row)],
        cases=[c.id for c in cases_of_alert(engine, who.tenants, alert_id)],
        attack=attack_links(list(row.tags or [])))


def _change_status(request: Request, who: Principal, ids: list[int], status: str,
                   reason: str | None) -> list[int]:
    engine = request.app.state.context.engine
    require(who, "alert.acknowledge" if status == "acknowledged" else "alert.triage")
    try:
        return triage.change_status(engine, who.tenants, ids, status, who.actor, reason)
    except triage.TriageError as exc:
        raise HTTPException(409, str(exc)) from None


def _visible_or_404(request: Request, who: Principal, ids: list[int]) -> None:
    missing = sorted(set(ids) - triage.visible_ids(request.app.state.context.engine, who.tenants, ids))
    if missing:
        raise HTTPException(404, f"no alert {missing[0]}")


@router.post("/{alert_id:int}/status", response_model=Changed)
def set_status(request: Request, alert_id: PathId, body: StatusChange,
               who: Principal = Depends(principal)) -> Changed:
    _visible_or_404(request, who, [alert_id])
    return Changed(changed=_change_status(request, who, [alert_id], body.status, body.reason))


@router.post("/{alert_id:int}/assign", response_model=Changed)
def set_assignee(request: Request, alert_id: PathId, body: Assignment,
                 who: Principal = Depends(principal)) -> Changed:
    _visible_or_404(request, who, [alert_id])
    require(who, "alert.triage")
    return Changed(changed=triage.assign(request.app.state.context.engine, who.tenants, [alert_id],
                                         body.assignee, who.actor))


@router.post("/{alert_id:int}/comments", response_model=CommentOut, status_code=201)
def comment(request: Request, alert_id: PathId, body: CommentIn,
            who: Principal = Depends(principal)) -> CommentOut:
    _visible_or_404(request, who, [alert_id])
    require(who, "comment")
    try:
        made = triage.add_comment(request.app.state.context.engine, who.tenants, alert_id, body.text, who.actor)
    except triage.TriageError as exc:
        raise HTTPException(409, str(exc)) from None
    if made is None:
        raise HTTPException(404, f"no alert {alert_id}")
    return CommentOut(id=made.id, author=made.author, created=utc(made.created), text=made.text)
