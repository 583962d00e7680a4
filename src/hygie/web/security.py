"""Authentication, roles, CSRF and login throttling, injected once as dependencies so that
no route can forget them (FastAPI's "dependencies for auth and tenant scope" habit).

- Browsers log in with a password and get a session cookie (HttpOnly, SameSite=Strict,
  Secure when served over HTTPS); every state-changing request from a session must carry the
  session's CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
- Scripts use API tokens (``Authorization: Bearer hyg_api_...``): no cookie, so no CSRF.
- What a role may do is in ``PERMISSIONS``; objects of tenants a principal does not see are
  answered 404 by the stores' scoping before any role check (never 403: it would confirm that
  the object exists)."""

from __future__ import annotations

import hmac
import time
from collections import deque
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from hygie.store.state.access import Principal
from hygie.store.state.store import StateStore

SESSION_COOKIE = "hygie_session"
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PERMISSIONS: dict[str, set[str]] = {
    "alert.triage": {"admin", "analyst"},  # any status, assignment, bulk
    "alert.acknowledge": {"admin", "analyst", "hospital"},
    "comment": {"admin", "analyst", "hospital"},
    "case.write": {"admin", "analyst"},
    "rules.write": {"admin", "analyst"},
    "search": {"admin", "analyst", "hospital", "viewer"},
    "export": {"admin", "analyst", "hospital"},
    "audit.read": {"admin", "analyst"},
    "users.admin": {"admin"},
    "assess": {"admin", "analyst", "hospital"},  # a hospital answers its own assessment
    "assets.write": {"admin", "analyst", "hospital"},  # a hospital keeps its own inventory right
}


@dataclass(slots=True)
class Caller:
    principal: Principal
    csrf: str | None  # None for API tokens


class LoginThrottle:
    """At most ``limit`` login attempts per client address per ``window_s`` (bounded memory:
    the oldest addresses are forgotten past ``max_clients``)."""

    def __init__(self, limit: int = 10, window_s: float = 60.0, max_clients: int = 10_000) -> None:
        self.limit, self.window_s, self.max_clients = limit, window_s, max_clients
        self._attempts: dict[str, deque[float]] = {}

    def allow(self, client: str) -> bool:
        now = time.monotonic()
        attempts = self._attempts.pop(client, deque())
        while attempts and attempts[0] <= now - self.window_s:
            attempts.popleft()
        allowed = len(attempts) < self.limit
        if allowed:
            attempts.append(now)
        self._attempts[client] = attempts  # re-inserted last: most recently used
        while len(self._attempts) > self.max_clients:
            self._attempts.pop(next(iter(self._attempts)))
        return allowed


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def optional_caller(request: Request) -> Caller | None:
    access = request.app.state.context.access
    token = _bearer(request)
    if token is not None:
        principal = access.token_principal(token)
        return Caller(principal, None) if principal else None
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        found = access.session(secret)
        if found:
            return Caller(found[0], found[1])
    return None


async def caller(request: Request) -> Caller:
    """The authenticated caller, CSRF-checked for state changes made with a session."""
    found = await run_in_threadpool(optional_caller, request)  # the database is blocking
    if found is None:
        raise HTTPException(401, "log in or send 'Authorization: Bearer <API token>'",
                            headers={"WWW-Authenticate": "Bearer"})
    if found.csrf is not None and request.method in UNSAFE_METHODS:
        sent = request.headers.get("x-csrf-token")
        if sent is None and request.headers.get("content-type", "").startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")):
            sent = str((await request.form()).get("csrf_token") or "")
        if not sent or not hmac.compare_digest(sent.encode(), found.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF token: reload the page")
    request.state.caller = found  # for the templates (user menu, CSRF field)
    return found


def principal(found: Caller = Depends(caller)) -> Principal:
    return found.principal


def require(principal: Principal, permission: str) -> None:
    if principal.role not in PERMISSIONS[permission]:
        raise HTTPException(403, f"the {principal.role} role may not do this ({permission})")


def check_tenant(principal: Principal, tenant: str | None) -> None:
    """A tenant named in a filter must be one the caller sees (404: it does not exist for them)."""
    if tenant is not None and not principal.sees(tenant):
        raise HTTPException(404, "no such tenant")


def visible_tenants(request: Request, who: Principal) -> list[str]:
    """The tenants the caller sees, in order (for tenant pickers and searches over all)."""
    return [t for t in StateStore(request.app.state.context.engine).tenants() if who.sees(t)]


def chosen_tenant(request: Request, who: Principal, tenant: str) -> str:
    """The named tenant, or the caller's first; 404 when it is not one the caller sees."""
    tenants = visible_tenants(request, who)
    chosen = tenant or (tenants[0] if tenants else "")
    if not chosen or chosen not in tenants:
        raise HTTPException(404, "no such tenant")
    return chosen
