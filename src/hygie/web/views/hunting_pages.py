"""The search page (events, exports, saved searches and scheduled hunts) and the rules page
(loaded rules, load errors, per-tenant switches, hits)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hygie.store.state import saved_searches
from hygie.store.state.access import Principal
from hygie.store.state.rule_settings import rule_hits, set_enabled, settings_for
from hygie.web.api.schemas import PathId
from hygie.web.api.search import SavedSearchIn, delete_saved, run_search, save
from hygie.web.security import visible_tenants as _tenants, principal, require
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
LEVELS = ("informational", "low", "medium", "high", "critical")


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = Query("", max_length=10_000), since: str = Query("24h", max_length=40),
                until: str = Query("", max_length=40), tenant: str = Query("", max_length=64),
                who: Principal = Depends(principal)) -> Response:
    rows, total, error = [], 0, ""
    if q:
        try:
            rows, total = run_search(request, who, q, since or None, until or None, tenant or None, 100)
        except HTTPException as exc:
            if exc.status_code != 400:
                raise
            error = str(exc.detail)
    return render(request, "search.html", q=q, since=since, until=until, tenant=tenant, rows=rows, total=total,
                  error=error, tenants=_tenants(request, who), levels=LEVELS,
                  saved=saved_searches.listed(request.app.state.context.engine, who.tenants),
                  query_string=request.url.query)


@router.post("/search/save")
def save_search(request: Request, tenant: str = Form(..., max_length=64), name: str = Form(..., max_length=200),
                q: str = Form(..., max_length=10_000), since: str = Form("24h", max_length=40),
                every_minutes: str = Form(""), level: str = Form("medium"),
                who: Principal = Depends(principal)) -> Response:
    try:
        body = SavedSearchIn(tenant=tenant, name=name, query=q, since=since, level=level,  # type: ignore[arg-type]
                             every_minutes=int(every_minutes) if every_minutes.strip() else None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    save(request, body, who)
    return RedirectResponse("/search", status_code=303)


@router.post("/search/{search_id:int}/delete")
def delete_search(request: Request, search_id: PathId, who: Principal = Depends(principal)) -> Response:
    delete_saved(request, search_id, who)
    return RedirectResponse("/search", status_code=303)


@router.get("/rules", response_class=HTMLResponse)
def rules_page(request: Request, tenant: str = Query("", max_length=64), errors: bool = False,
               who: Principal = Depends(principal)) -> Response:
    tenants = _tenants(request, who)
    chosen = tenant or (tenants[0] if tenants else "")
    if chosen and chosen not in tenants:
        raise HTTPException(404, "no such tenant")
    context = request.app.state.context
    loaded, load_errors = context.rules()
    switches = settings_for(context.engine, chosen) if chosen else None
    hits = rule_hits(context.engine, frozenset({chosen}) if chosen else who.tenants)
    packs = sorted({r.pack for r in loaded})
    return render(request, "rules.html", rules=sorted(loaded, key=lambda r: (r.pack, r.title)), packs=packs,
                  load_errors=load_errors, switches=switches, hits=hits, tenant=chosen, tenants=tenants,
                  show_errors=errors)


@router.post("/rules/switch")
def switch(request: Request, tenant: str = Form(..., max_length=64), scope: str = Form(...),
           target: str = Form(..., max_length=200), enabled: bool = Form(...),
           who: Principal = Depends(principal)) -> Response:
    if tenant not in _tenants(request, who):
        raise HTTPException(404, "no such tenant")
    require(who, "rules.write")
    if scope not in ("rule", "pack"):
        raise HTTPException(422, "scope is 'rule' or 'pack'")
    set_enabled(request.app.state.context.engine, tenant, scope, target, enabled, who.actor)
    return RedirectResponse(f"/rules?tenant={tenant}", status_code=303)
