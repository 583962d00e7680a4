"""Threat intelligence in the console: feeds with their last success, errors and counts (add,
edit, refresh now, disable, remove); indicators (search, add, expire); the caller's sightings;
warnings from other hospitals' sightings (anonymous unless they agreed to be named); assets
and the early-warning queue (KEV).

The forms do the same work as ``/api/v1/intel`` through its helpers. A refused entry shows the
page again with the reason next to its form and what was typed kept (a credential excepted:
it is never sent back to the browser)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import SecretStr, ValidationError

from hygie.core.moments import as_utc
from hygie.intel.indicators import TLPS, TYPES
from hygie.intel.manual import CREDENTIAL_KINDS, FEED_KINDS
from hygie.intel.refresh import is_refreshing
from hygie.store.state import intel_assets_store, intel_context, intel_store
from hygie.store.state.access import Principal
from hygie.web.api import intel as api
from hygie.web.api.intel_schemas import FeedIn, FeedUpdate
from hygie.web.api.schemas import PathId
from hygie.web.security import principal, visible_tenants
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
KINDS = TYPES
PAGE = 100


@router.get("/intel", response_class=HTMLResponse)
def intel(request: Request, q: str = Query("", max_length=200), kind: str = Query("", max_length=10),
          state: str = Query("", max_length=10), offset: int = Query(0, ge=0, le=1_000_000),
          who: Principal = Depends(principal)) -> Response:
    return _page(request, who, q=q, kind=kind, state=state, offset=offset)


def _page(request: Request, who: Principal, status_code: int = 200, q: str = "", kind: str = "",
          state: str = "", offset: int = 0, **extra: Any) -> Response:
    engine = request.app.state.context.engine
    hide_red = not api.reads_red(who)
    active = {"active": True, "expired": False}.get(state)
    indicators, total = intel_store.search_indicators(engine, who.tenants, q or None, kind if kind in KINDS else None,
                                                      PAGE, offset, active=active, hide_red=hide_red)
    feeds = [f for f in intel_store.list_feeds(engine, who.tenants)]
    sightings, _count = intel_context.sighting_page(engine, who.tenants, 50, hide_red=hide_red)
    return render(request, "intel.html", status_code=status_code, feeds=feeds, indicators=indicators,
                  total=total, q=q, kind=kind, state=state, offset=offset, page=PAGE, kinds=KINDS, tlps=TLPS,
                  feed_kinds=FEED_KINDS, credential_kinds=CREDENTIAL_KINDS, refreshing=is_refreshing,
                  shown=api.without_password,
                  tenants=visible_tenants(request, who), is_live=_live, sightings=sightings,
                  warnings=intel_store.shared_warnings(engine, who.tenants, limit=50, hide_red=hide_red),
                  assets=intel_assets_store.list_assets(engine, who.tenants),
                  early=intel_assets_store.list_warnings(engine, who.tenants, 100),
                  **{"indicator_form": {}, "feed_form": {}, "feed_edit": None, **extra})


def _live(row: Any) -> bool:
    return row.expires is None or as_utc(row.expires) > datetime.now(timezone.utc)


def _expiry(text: str) -> datetime | None:
    """A date (the indicator stops matching at its start, UTC) or a date and time."""
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HTTPException(400, f"expires: {text[:40]!r} is no date (YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _number(text: str, name: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        raise HTTPException(400, f"{name}: {text[:20]!r} is no whole number") from None


@router.post("/intel/indicators")
def add_indicator(request: Request, value: str = Form("", max_length=2048), type: str = Form("", max_length=10),
                  tenant: str = Form("", max_length=64), tlp: str = Form("clear", max_length=12),
                  confidence: str = Form("50", max_length=10), expires: str = Form("", max_length=40),
                  description: str = Form("", max_length=500), who: Principal = Depends(principal)) -> Response:
    """Add one indicator ("shared" is the empty tenant, for admins); back to the list."""
    owner = api.owner_for(request, who, tenant or None, not tenant and who.tenants is None)
    typed = {"value": value, "type": type, "tenant": tenant, "tlp": tlp, "confidence": confidence,
             "expires": expires, "description": description}
    try:
        certainty = _number(confidence, "confidence")
        found = api.add_indicator(request, who, owner, value, type or None, tlp,
                                  50 if certainty is None else certainty, _expiry(expires), description)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        return _page(request, who, 400, indicator_form=typed, indicator_error=str(exc.detail))
    return RedirectResponse(f"/intel?{urlencode({'q': found.value[:200]})}#indicators", status_code=303)


@router.post("/intel/indicators/{indicator_id:int}/expire")
def expire(request: Request, indicator_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Stop an indicator matching (a false positive, say); shared ones are the admins'."""
    api.expire_indicator(request, who, indicator_id)
    return RedirectResponse("/intel#indicators", status_code=303)


@router.post("/intel/feeds")
def add_feed(request: Request, name: str = Form("", max_length=200), kind: str = Form("", max_length=20),
             location: str = Form("", max_length=2000), tenant: str = Form("", max_length=64),
             schedule_minutes: str = Form("", max_length=10), tlp: str = Form("", max_length=12),
             confidence: str = Form("", max_length=10), expire_days: str = Form("", max_length=10),
             user: str = Form("", max_length=200), credential: str = Form("", max_length=4000),
             who: Principal = Depends(principal)) -> Response:
    """Add a feed; its credential (MISP key, TAXII password) is stored encrypted."""
    owner = api.owner_for(request, who, tenant or None, not tenant and who.tenants is None)
    typed = {"name": name, "kind": kind, "location": location, "tenant": tenant,
             "schedule_minutes": schedule_minutes, "tlp": tlp, "confidence": confidence,
             "expire_days": expire_days, "user": user}
    try:
        try:
            body = FeedIn(name=name, kind=kind, location=location, tenant=tenant or None,  # type: ignore[arg-type]
                          shared=not tenant and who.tenants is None,
                          schedule_minutes=_number(schedule_minutes, "schedule"), tlp=tlp or None,  # type: ignore[arg-type]
                          confidence=_number(confidence, "confidence"),
                          expire_days=_number(expire_days, "expire_days"), user=user,
                          credential=SecretStr(credential))
        except ValidationError as exc:
            raise HTTPException(400, _problems(exc)) from None
        api.add_feed(request, who, owner, body)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        return _page(request, who, 400, feed_form=typed, feed_error=str(exc.detail))
    return RedirectResponse("/intel#feeds", status_code=303)


@router.post("/intel/feeds/{feed_id:int}/edit")
def edit_feed(request: Request, feed_id: PathId, name: str = Form("", max_length=200),
              location: str = Form("", max_length=2000), schedule_minutes: str = Form("", max_length=10),
              tlp: str = Form("", max_length=12), confidence: str = Form("", max_length=10),
              expire_days: str = Form("", max_length=10), user: str = Form("", max_length=200),
              credential: str = Form("", max_length=4000), who: Principal = Depends(principal)) -> Response:
    """Change a feed as shown in its form (an empty field clears it); an empty credential keeps
    the stored one. A refusal shows the page again with that form open, the reason and what
    was typed, the credential excepted."""
    api.writable_feed(request, who, feed_id)
    typed = {"name": name, "location": location, "schedule_minutes": schedule_minutes, "tlp": tlp,
             "confidence": confidence, "expire_days": expire_days, "user": user}
    try:
        try:
            body = FeedUpdate(name=name, location=location, schedule_minutes=_number(schedule_minutes, "schedule"),
                              tlp=tlp or None, confidence=_number(confidence, "confidence"),  # type: ignore[arg-type]
                              expire_days=_number(expire_days, "expire_days"), user=user,
                              credential=SecretStr(credential) if credential else None)
        except ValidationError as exc:
            raise HTTPException(400, _problems(exc)) from None
        api.edit_feed(request, who, feed_id, body)
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        return _page(request, who, 400, feed_edit={"id": feed_id, "form": typed, "error": str(exc.detail)})
    return RedirectResponse("/intel#feeds", status_code=303)


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


@router.post("/intel/feeds/{feed_id:int}/refresh")
def refresh_feed(request: Request, feed_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Read the feed now, in the background; the page shows it running, then its outcome."""
    api.refresh(request, who, feed_id)
    return RedirectResponse("/intel#feeds", status_code=303)


@router.post("/intel/feeds/{feed_id:int}/enable")
def enable_feed(request: Request, feed_id: PathId, enabled: str = Form("true", max_length=5),
                who: Principal = Depends(principal)) -> Response:
    feed = api.writable_feed(request, who, feed_id)
    intel_store.set_feed_enabled(request.app.state.context.engine, who.tenants, feed.id, enabled == "true",
                                 who.actor)
    return RedirectResponse("/intel#feeds", status_code=303)


@router.post("/intel/feeds/{feed_id:int}/remove")
def remove_feed(request: Request, feed_id: PathId, who: Principal = Depends(principal)) -> Response:
    """The feed, its indicators and their sightings."""
    feed = api.writable_feed(request, who, feed_id)
    intel_store.remove_feed(request.app.state.context.engine, who.tenants, feed.id, who.actor)
    return RedirectResponse("/intel#feeds", status_code=303)
