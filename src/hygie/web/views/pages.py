"""Log in and out, the overview, the language switch, error pages."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hygie.respond import nis2
from hygie.store.state import triage
from hygie.store.state.access import SESSION_LIFETIME, Principal
from hygie.web.i18n import LANGUAGES
from hygie.web.oidc import OidcError
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
    return render(request, "login.html", next=_safe_next(next), error="",
                  sso=request.app.state.context.oidc is not None)


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
                      error="Too many attempts: wait a minute.", sso=request.app.state.context.oidc is not None)
    access = request.app.state.context.access
    found, _reason = await run_in_threadpool(access.check_login, username, password, client)
    if found is None:  # the same answer whatever the reason (unknown user, locked, bad password)
        return render(request, "login.html", status_code=401, next=_safe_next(next),
                      error="Wrong user name or password, or the account is locked.",
                      sso=request.app.state.context.oidc is not None)
    secret, _csrf = await run_in_threadpool(access.open_session, found.user_id)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="strict", secure=request.app.state.context.secure_cookies,
                        path="/")
    return response


def _redirect_uri(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _open_session(request: Request, user_id: int, next_path: str) -> Response:
    secret, _csrf = request.app.state.context.access.open_session(user_id)
    response = RedirectResponse(_safe_next(next_path), status_code=303)
    response.set_cookie(SESSION_COOKIE, secret, max_age=int(SESSION_LIFETIME.total_seconds()),
                        httponly=True, samesite="lax", secure=request.app.state.context.secure_cookies, path="/")
    return response


@router.get("/login/oidc")
async def oidc_login(request: Request, next: str = "/") -> Response:
    oidc = request.app.state.context.oidc
    if oidc is None:
        return error_page(request, 404, "single sign-on is not configured")
    try:
        return RedirectResponse(await oidc.start(_redirect_uri(request), _safe_next(next)), status_code=303)
    except (OidcError, httpx.HTTPError) as exc:
        return error_page(request, 502, f"the identity provider cannot be reached: {exc}")


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request, code: str = "", state: str = "", error: str = "") -> Response:
    """The provider sends the browser back here; the session cookie is SameSite=Lax for this
    one login (a Strict cookie set on a cross-site redirect chain would not be sent back)."""
    oidc = request.app.state.context.oidc
    if oidc is None:
        return error_page(request, 404, "single sign-on is not configured")
    access = request.app.state.context.access
    client = client_address(request)
    try:
        if error or not code:
            raise OidcError(f"the provider answered {error or 'without a code'}")
        username, next_path = await oidc.finish(_redirect_uri(request), code, state)
    except (OidcError, httpx.HTTPError) as exc:
        await run_in_threadpool(access.check_sso, "(unknown)", client, f"oidc: {exc}")
        return render(request, "login.html", status_code=401, next="/", error="Single sign-on failed.",
                      sso=True)
    found, _reason = await run_in_threadpool(access.check_sso, username, client, "oidc")
    if found is None:
        return render(request, "login.html", status_code=401, next="/", sso=True,
                      error="Wrong user name or password, or the account is locked.")
    return await run_in_threadpool(_open_session, request, found.user_id, next_path)


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
    deadlines = nis2.open_deadlines(context.engine, who.tenants)
    return render(request, "overview.html", o=figures, days=days, tenant=tenant, ingest=ingest, deadlines=deadlines,
                  peak=peak, tactic_peak=tactic_peak, levels=list(reversed(triage.LEVELS)),
                  day_list=[d for d, _n in figures.by_day])
