"""``/api/v1/search``: the event store, queried in the language of ``hygie search``, over the
caller's tenants; exports (audited) and saved searches, which may run as scheduled hunts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from hygie.core.moments import parse_moment
from hygie.store.events import QueryError
from hygie.store.events.query import compile_query
from hygie.store.state import audit, saved_searches
from hygie.store.state.access import Principal
from hygie.store.state.store import StateStore
from hygie.web.api.convert import utc
from hygie.web.api.schemas import ERROR_RESPONSES, Created, PathId
from hygie.web.security import visible_tenants, check_tenant, principal, require

router = APIRouter(tags=["search"], responses=ERROR_RESPONSES)
EXPORT_LIMIT = 100_000
Level = Literal["informational", "low", "medium", "high", "critical"]


class EventOut(BaseModel):
    tenant: str
    record_key: str
    received: str
    time: str | None
    host: str | None
    source: str
    kind: str
    event_id: int | str | None
    channel: str | None
    fields: dict[str, Any]
    raw: str | None
    raw_encoding: str


class SearchOut(BaseModel):
    query: str
    count: int
    items: list[EventOut]


class SavedSearchIn(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    query: str = Field(min_length=1, max_length=10_000)
    since: str = Field("24h", max_length=40)
    every_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    level: Level = "medium"


class SavedSearchOut(SavedSearchIn):
    id: int
    created_by: str
    created: datetime
    last_run: datetime | None


def tenants_in_scope(request: Request, who: Principal, tenant: str | None) -> list[str]:
    check_tenant(who, tenant)
    if tenant:
        return [tenant]
    return visible_tenants(request, who)


def _window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    try:
        return (parse_moment(since) if since else None, parse_moment(until) if until else None)
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None


def run_search(request: Request, who: Principal, q: str, since: str | None, until: str | None,
               tenant: str | None, limit: int, with_count: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Rows and total of a search in the caller's scope; a bad query is a 400 that says where."""
    check_tenant(who, tenant)
    require(who, "search")
    events = request.app.state.context.events
    if events is None:
        raise HTTPException(409, "this console has no event store")
    tenants = tenants_in_scope(request, who, tenant)
    start, end = _window(since, until)
    if not tenants:
        return [], 0
    try:
        if with_count:
            rows, total = events.search_count(tenants, q, start, end, limit)
        else:
            rows = events.search(tenants, q, start, end, limit)
            total = len(rows)
    except QueryError as exc:
        raise HTTPException(400, f"{exc}: {exc.pointer(q)}") from None
    return rows, total


@router.get("/search", response_model=SearchOut)
def search(request: Request, q: str = Query("*", max_length=10_000), since: str | None = Query("24h", max_length=40),
           until: str | None = Query(None, max_length=40), tenant: str | None = None,
           limit: int = Query(100, ge=1, le=1000), who: Principal = Depends(principal)) -> SearchOut:
    rows, total = run_search(request, who, q, since, until, tenant, limit)
    return SearchOut(query=q, count=total, items=[EventOut(**row) for row in rows])


@router.get("/search/export", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export(request: Request, q: str = Query("*", max_length=10_000), since: str | None = Query("24h", max_length=40),
           until: str | None = Query(None, max_length=40), tenant: str | None = None,
           format: Literal["csv", "jsonl"] = "csv", limit: int = Query(10_000, ge=1, le=EXPORT_LIMIT),
           who: Principal = Depends(principal)) -> StreamingResponse:
    """The events as a download (CSV or JSON lines); every export is in the audit log."""
    check_tenant(who, tenant)  # 404 before 403
    require(who, "export")
    rows, _total = run_search(request, who, q, since, until, tenant, limit, with_count=False)
    with Session(request.app.state.context.engine) as session, session.begin():
        audit.record(session, who.actor, "search.export", q[:300], tenant,
                     {"format": format, "events": len(rows), "since": since, "until": until})
    body = _csv(rows) if format == "csv" else (orjson.dumps(r) + b"\n" for r in rows)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="hygie-events.{format}"'})


def _csv(rows: list[dict[str, Any]]) -> Iterator[bytes]:
    columns = ("time", "received", "tenant", "host", "source", "kind", "event_id", "channel", "record_key", "fields")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([orjson.dumps(row["fields"]).decode() if c == "fields" else row.get(c) for c in columns])
        if buffer.tell() > 65536:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


@router.get("/saved-searches", response_model=list[SavedSearchOut])
def list_saved(request: Request, who: Principal = Depends(principal)) -> list[SavedSearchOut]:
    rows = saved_searches.listed(request.app.state.context.engine, who.tenants)
    return [SavedSearchOut(id=r.id, tenant=r.tenant_id, name=r.name, query=r.query, since=r.since,
                           every_minutes=r.every_minutes, level=r.level, created_by=r.created_by,  # type: ignore[arg-type]
                           created=utc(r.created), last_run=utc(r.last_run)) for r in rows]


@router.post("/saved-searches", response_model=Created, status_code=201)
def save(request: Request, body: SavedSearchIn, who: Principal = Depends(principal)) -> Created:
    """Keep a search; with ``every_minutes`` it runs as a scheduled hunt raising alerts."""
    engine = request.app.state.context.engine
    if not who.sees(body.tenant) or body.tenant not in StateStore(engine).tenants():
        raise HTTPException(404, "no such tenant")
    require(who, "case.write")
    try:
        parse_moment(body.since)
        compile_query(body.query)  # a query that cannot be read is refused now, not at each run
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from None
    except QueryError as exc:
        raise HTTPException(400, f"{exc}: {exc.pointer(body.query)}") from None
    return Created(id=saved_searches.save(engine, body.tenant, body.name, body.query, body.since,
                                          body.every_minutes, body.level, who.actor))


@router.delete("/saved-searches/{search_id:int}", response_model=Created)
def delete_saved(request: Request, search_id: PathId, who: Principal = Depends(principal)) -> Created:
    engine = request.app.state.context.engine
    if search_id not in {r.id for r in saved_searches.listed(engine, who.tenants)}:
        raise HTTPException(404, f"no saved search {search_id}")
    require(who, "case.write")
    saved_searches.remove(engine, who.tenants, search_id, who.actor)
    return Created(id=search_id)
