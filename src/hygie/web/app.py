"""The console's ASGI application: REST API under ``/api/v1``, server-rendered pages (Jinja2 +
htmx, no front-end build), static files, security headers, and 4xx answers for bad requests."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from hygie.web.api import accounts, alerts, cases, platform, search
from hygie.web.api import prepare as prepare_api
from hygie.web.api import intel as intel_api
from hygie.web.api import respond as respond_api
from hygie.web.api import respond_policy as respond_policy_api
from hygie.web.api import intel_assets as intel_assets_api
from hygie.web.context import ConsoleContext
from hygie.web.security import LoginThrottle
from hygie.web.views import asset_pages
from hygie.web.views import (account_pages, hunting_pages, intel_pages, pages, prepare_pages, respond_pages,
                             triage_pages)

STATIC = Path(__file__).with_name("static")
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "frame-ancestors 'none'; form-action 'self'; base-uri 'none'")


def console_app(context: ConsoleContext) -> FastAPI:
    app = FastAPI(title="Hygie console API", version="1", docs_url="/api/docs",
                  openapi_url="/api/v1/openapi.json", redoc_url=None)
    app.state.context = context
    app.state.login_throttle = LoginThrottle()
    for router in (alerts.router, cases.router, platform.router, search.router, accounts.router,
                   intel_api.router):
        app.include_router(router, prefix="/api/v1")
    app.include_router(prepare_api.router, prefix="/api/v1")
    app.include_router(intel_assets_api.router, prefix="/api/v1")
    app.include_router(respond_api.router, prefix="/api/v1")
    app.include_router(respond_policy_api.router, prefix="/api/v1")
    app.include_router(pages.router)
    app.include_router(triage_pages.router)
    app.include_router(hunting_pages.router)
    app.include_router(account_pages.router)
    app.include_router(prepare_pages.router)
    app.include_router(respond_pages.router)
    app.include_router(intel_pages.router)
    app.include_router(asset_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):  # type: ignore[no-untyped-def]
        response: Response = await call_next(request)
        if not request.url.path.startswith("/api/docs"):
            response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):  # type: ignore[no-untyped-def]
        wants_page = not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")
        if wants_page and exc.status_code == 401:
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        if wants_page:
            return pages.error_page(request, exc.status_code, str(exc.detail))
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):  # type: ignore[no-untyped-def]
        problems = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                    for e in exc.errors()]
        if not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", ""):
            return pages.error_page(request, 422, "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}"
                                                            for p in problems))
        return JSONResponse({"detail": problems}, status_code=422)

    return app
