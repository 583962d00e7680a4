"""Threat intelligence in the console: feeds with their last success, errors and counts;
indicators (search, expire); the caller's sightings; warnings from other hospitals' sightings
(anonymous unless they agreed to be named); assets and the early-warning queue (KEV)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hygie.store.state import intel_assets_store, intel_store
from hygie.store.state.access import Principal
from hygie.web.api.schemas import PathId
from hygie.web.security import principal, require
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
KINDS = ("ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3")


@router.get("/intel", response_class=HTMLResponse)
def intel(request: Request, q: str = Query("", max_length=200), kind: str = Query("", max_length=10),
          who: Principal = Depends(principal)) -> Response:
    engine = request.app.state.context.engine
    indicators, total = intel_store.search_indicators(engine, who.tenants, q or None, kind or None, 100)
    return render(request, "intel.html", feeds=intel_store.list_feeds(engine, who.tenants), indicators=indicators,
                  total=total, q=q, kind=kind, kinds=KINDS, sightings=intel_store.sightings(engine, who.tenants, 50),
                  warnings=intel_store.shared_warnings(engine, who.tenants, limit=50),
                  assets=intel_assets_store.list_assets(engine, who.tenants),
                  early=intel_assets_store.list_warnings(engine, who.tenants, 100))


@router.post("/intel/indicators/{indicator_id:int}/expire")
def expire(request: Request, indicator_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Stop an indicator matching (a false positive, say); shared ones are the admins'."""
    engine = request.app.state.context.engine
    if not intel_store.get_indicators(engine, who.tenants, [indicator_id]):
        raise HTTPException(404, f"no indicator {indicator_id}")
    require(who, "rules.write")
    if not intel_store.expire_indicator(engine, who.tenants, indicator_id):
        raise HTTPException(403, "a shared indicator is expired by a platform admin")
    return RedirectResponse("/intel#indicators", status_code=303)
