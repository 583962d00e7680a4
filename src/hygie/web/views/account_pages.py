"""``/account`` (one's own API tokens) and ``/admin/users`` (platform admins: accounts).
Secrets made here (a token, a generated password) are shown once, on the page that made them."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from hygie.store.state.access import ROLES, Principal
from hygie.store.state.store import StateStore
from hygie.web.api import accounts
from hygie.web.api.schemas import PathId
from hygie.web.security import visible_tenants, principal, require
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)


def _account(request: Request, who: Principal, secret: str = "", error: str = "", status: int = 200) -> Response:
    tenants = visible_tenants(request, who)
    return render(request, "account.html", status_code=status, tokens=accounts.list_tokens(request, who),
                  tenants=tenants, roles=ROLES[ROLES.index(who.role):], secret=secret, error=error)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, who: Principal = Depends(principal)) -> Response:
    return _account(request, who)


@router.post("/account/tokens", response_class=HTMLResponse)
def new_token(request: Request, role: str = Form(...), tenant: str = Form("", max_length=64),
              label: str = Form("", max_length=200), who: Principal = Depends(principal)) -> Response:
    try:
        made = accounts.create_token(request, accounts.TokenIn(role=role, tenant=tenant or None, label=label), who)  # type: ignore[arg-type]
    except HTTPException as exc:
        return _account(request, who, error=str(exc.detail), status=exc.status_code)
    except ValueError as exc:
        return _account(request, who, error=str(exc), status=422)
    return _account(request, who, secret=made.token)


@router.post("/account/tokens/{token_id:int}/revoke", response_class=HTMLResponse)
def revoke(request: Request, token_id: PathId, who: Principal = Depends(principal)) -> Response:
    accounts.revoke_token(request, token_id, who)
    return _account(request, who)


def _users(request: Request, who: Principal, secret: str = "", error: str = "", status: int = 200) -> Response:
    require(who, "users.admin")
    return render(request, "users.html", status_code=status, users=accounts.list_users(request, who), roles=ROLES,
                  tenants=StateStore(request.app.state.context.engine).tenants(), secret=secret, error=error)


@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, who: Principal = Depends(principal)) -> Response:
    return _users(request, who)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(request: Request, username: str = Form(..., max_length=100), role: str = Form(...),
             tenants: list[str] = Form([]), who: Principal = Depends(principal)) -> Response:
    require(who, "users.admin")
    try:
        made = accounts.create_user(request, accounts.UserIn(username=username, role=role, tenants=tenants), who)  # type: ignore[arg-type]
    except HTTPException as exc:
        return _users(request, who, error=str(exc.detail), status=exc.status_code)
    except ValueError as exc:
        return _users(request, who, error=str(exc), status=422)
    return _users(request, who, secret=f"{username}: {made.password}")


@router.post("/admin/users/{user_id:int}", response_class=HTMLResponse)
def change_user(request: Request, user_id: PathId, action: str = Form(...), tenants: list[str] = Form([]),
                who: Principal = Depends(principal)) -> Response:
    """``action``: disable, enable, password (a new generated one) or tenants."""
    accounts._admin_or_404(who)
    try:
        if action == "password":
            made = accounts.reset_password(request, user_id, who)
            return _users(request, who, secret=made.password)
        update = {"disable": accounts.UserUpdate(disabled=True), "enable": accounts.UserUpdate(disabled=False),
                  "tenants": accounts.UserUpdate(tenants=tenants)}.get(action)
        if update is None:
            raise HTTPException(422, "unknown action")
        accounts.update_user(request, user_id, update, who)
    except HTTPException as exc:
        if exc.status_code == 404:
            raise
        return _users(request, who, error=str(exc.detail), status=exc.status_code)
    return _users(request, who)
