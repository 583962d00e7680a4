"""``/api/v1/users`` (platform admins) and ``/api/v1/tokens`` (everyone, for their own API
tokens; admins for all). Non-admins get 404 for any user id: accounts are not theirs to know."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from hygie.store.state.access import AccessError, AccessStore, AccountAdmin, Principal, generate_password
from hygie.web.api.convert import utc
from hygie.web.api.schemas import ERROR_RESPONSES, Created, PathId
from hygie.web.security import principal, require

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)
Role = Literal["admin", "analyst", "hospital", "viewer"]


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    tenants: list[str]
    disabled: bool
    locked_until: datetime | None
    created: datetime


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.@-]+$")
    role: Role
    tenants: list[str] = Field(default_factory=list, max_length=200)


class UserUpdate(BaseModel):
    role: Role | None = None
    tenants: list[str] | None = Field(None, max_length=200)
    disabled: bool | None = None


class Password(BaseModel):
    password: str  # shown once


class TokenIn(BaseModel):
    role: Role
    tenant: str | None = Field(None, max_length=64)
    label: str = Field("", max_length=200)
    username: str | None = Field(None, max_length=100)  # admins: for another user


class TokenOut(BaseModel):
    id: int
    username: str
    label: str
    role: str
    tenant: str | None
    created: datetime
    revoked: datetime | None


class NewToken(BaseModel):
    id: int
    token: str  # shown once


def _admin_or_404(who: Principal) -> None:
    if who.role != "admin":
        raise HTTPException(404, "no such user")


def _access(request: Request) -> AccessStore:
    return request.app.state.context.access


@router.get("/users", response_model=list[UserOut])
def list_users(request: Request, who: Principal = Depends(principal)) -> list[UserOut]:
    require(who, "users.admin")
    return [UserOut(id=u.id, username=u.username, role=u.role, tenants=tenants, disabled=u.disabled,
                    locked_until=utc(u.locked_until), created=utc(u.created))
            for u, tenants in _access(request).users()]


@router.post("/users", response_model=Password, status_code=201)
def create_user(request: Request, body: UserIn, who: Principal = Depends(principal)) -> Password:
    """A new account with a generated password, returned once."""
    require(who, "users.admin")
    password = generate_password()
    try:
        _access(request).create_user(body.username, password, body.role, body.tenants, who.actor)
    except AccessError as exc:
        raise HTTPException(409, str(exc)) from None
    return Password(password=password)


@router.patch("/users/{user_id:int}", response_model=Created)
def update_user(request: Request, user_id: PathId, body: UserUpdate, who: Principal = Depends(principal)) -> Created:
    _admin_or_404(who)
    try:
        found = AccountAdmin(request.app.state.context.engine).update_user(
            user_id, who.actor, disabled=body.disabled, tenants=body.tenants, role=body.role)
    except AccessError as exc:
        raise HTTPException(409, str(exc)) from None
    if not found:
        raise HTTPException(404, "no such user")
    return Created(id=user_id)


@router.post("/users/{user_id:int}/password", response_model=Password)
def reset_password(request: Request, user_id: PathId, who: Principal = Depends(principal)) -> Password:
    _admin_or_404(who)
    password = AccountAdmin(request.app.state.context.engine).reset_password(user_id, who.actor)
    if password is None:
        raise HTTPException(404, "no such user")
    return Password(password=password)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(request: Request, who: Principal = Depends(principal)) -> list[TokenOut]:
    rows = AccountAdmin(request.app.state.context.engine).tokens(None if who.role == "admin" else who.user_id)
    return [TokenOut(id=t.id, username=name, label=t.label, role=t.role, tenant=t.tenant_id,
                     created=utc(t.created), revoked=utc(t.revoked)) for t, name in rows]


@router.post("/tokens", response_model=NewToken, status_code=201)
def create_token(request: Request, body: TokenIn, who: Principal = Depends(principal)) -> NewToken:
    """A token for oneself (admins: for anyone), never with more rights than its user."""
    if who.via != "session":
        raise HTTPException(403, "API tokens are made from a logged-in session, not with a token")
    if body.tenant is not None and not who.sees(body.tenant):
        raise HTTPException(404, "no such tenant")
    username = body.username if who.role == "admin" and body.username else who.username
    try:
        token = _access(request).create_token(username, body.role, body.tenant, body.label, who.actor)
    except AccessError as exc:
        raise HTTPException(409, str(exc)) from None
    token_id = AccountAdmin(request.app.state.context.engine).token_id(token)
    return NewToken(id=token_id or 0, token=token)


@router.delete("/tokens/{token_id:int}", response_model=Created)
def revoke_token(request: Request, token_id: PathId, who: Principal = Depends(principal)) -> Created:
    owner = None if who.role == "admin" else who.user_id
    if not AccountAdmin(request.app.state.context.engine).revoke_token(token_id, owner, who.actor):
        raise HTTPException(404, f"no token {token_id}")
    return Created(id=token_id)
