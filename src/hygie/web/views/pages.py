"""Log in and out, the overview, the language switch, error pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hygie.store.state import triage
from hygie.store.state.access import SESSION_LIFETIME, Principal
from hygie.web.i18n import LANGUAGES
from hygie.web.security import SESSION_COOKIE, check_tenant, client_address, optional_caller, principal
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status, status=status, message=message)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> Response:
    if optional_caller(request) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return render(request, "login.html", next=_safe_next(next), error="")


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, username: str = Form(..., max_length=100),
                password: str = Form(..., max_length=1000), next: str = Form("/")) -> Response:
    """No CSRF token before a session exists: SameSite=Strict cookies and the Origin check
    below keep other sites from logging a browser in."""
    origin = request.headers.get("origin")
    if origin and urlsplit(origin).netloc != request.url.netloc:
        return error_page(request, 403, "cross-site login refused")
    client = client_address(request)
    if not request.app.state.login_throttle.allow(client):
        return render(request, "login.html", status_code=429, next=_safe_next(next),
                      error="Too many attempts: wait a minute.")
    access = request.app.state.context.access
    found, _reason = await run_in_threadpool(access.check_login, username, password, client)
    if found is None:  # the same answer whatever the reason (unknown user, locked, bad password)
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      error="Wrong user name or password, or the account is locked.")
    secret, _csrf = await run_in_threadpool(access.open_session, found.user_id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="strict", secure=request.app.state.context.secure_cookies,
                        path="/")
    return response


@router.post("/logout")
def logout(request: Request, who: Principal = Depends(principal)) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        request.app.state.context.access.close_session(secret, who.actor)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{language}")
def choose_language(request: Request, language: str, next: str = "/") -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie("lang", language, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, days: int = Query(7, ge=1, le=365), tenant: str | None = None,
             who: Principal = Depends(principal)) -> Response:
    check_tenant(who, tenant)
    context = request.app.state.context
    figures = triage.overview(context.engine, who.tenants, days, tenant)
    ingest = {source: data for source, data in context.ingest_health().items()
              if who.sees(str(data.get("tenant", "")))}
    peak = max([n for _d, n in figures.by_day] + [1])
    tactic_peak = max([n for days_ in figures.tactics.values() for n in days_.values()] + [1])
    return render(request, "overview.html", o=figures, days=days, tenant=tenant, ingest=ingest,
                  peak=peak, tactic_peak=tactic_peak, levels=list(reversed(triage.LEVELS)),
                  day_list=[d for d, _n in figures.by_day])
