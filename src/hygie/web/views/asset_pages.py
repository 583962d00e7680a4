"""Assets and early warnings in the console: the inventory with its open warnings and exposed
services (filters by hospital, criticality, exposure, text), its import from CSV, the
early-warning queue, and an asset's page (vulnerabilities with the NVD ranges that matched,
internet exposure, warnings, and the edit form). The forms call the REST API's helpers
(``web.api.intel_assets``), so the page and the API check and record the same way; a refused
edit shows the page again with the reason and what was typed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hygie.intel import exposure, observed
from hygie.intel.assets import CRITICALITIES
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state import intel_exposure_store as exposure_store
from hygie.store.state.access import Principal
from hygie.web.api import intel_assets as api
from hygie.web.api.intel_assets_import import MAX_IMPORT_BYTES, import_csv, small_enough, upload_of
from hygie.web.api.intel_assets_schemas import AssetUpdate, EarlyWarningUpdate
from hygie.web.api.schemas import PathId
from hygie.web.security import check_tenant, chosen_tenant, principal, require, visible_tenants
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
PAGE = 200
EDITORS = ("admin", "analyst", "hospital")


@router.get("/intel/assets", response_class=HTMLResponse)
def assets(request: Request, tenant: str = Query("", max_length=64), q: str = Query("", max_length=200),
           criticality: str = Query("", max_length=12), exposed: str = Query("", max_length=3),
           status: str = Query("open", max_length=12), seen: str = Query("", max_length=6),
           who: Principal = Depends(principal)) -> Response:
    return _list_page(request, who, tenant, q, criticality, exposed, status, seen)


def _list_page(request: Request, who: Principal, tenant: str = "", q: str = "", criticality: str = "",
               exposed: str = "", status: str = "open", seen: str = "", status_code: int = 200,
               **extra: Any) -> Response:
    engine = request.app.state.context.engine
    check_tenant(who, tenant or None)
    scope = frozenset({tenant}) if tenant else who.tenants
    rows = assets_store.list_assets(engine, scope, q=q or None,
                                    criticality=criticality if criticality in CRITICALITIES else None,
                                    exposed={"yes": True, "no": False}.get(exposed))
    silent = {a.id for a in rows if observed.silent(a.last_seen)}
    if seen in ("silent", "seen"):  # no event for observed.DAYS days (Prepare's asset coverage), or some
        rows = [a for a in rows if (a.id in silent) == (seen == "silent")]
    status = status if status in ("open", "new", "acknowledged", "resolved", "dismissed", "all") else "open"
    warnings = assets_store.list_warnings(engine, scope, limit=PAGE, status=None if status == "all" else status)
    return render(request, "assets.html", status_code=status_code, assets=rows[:PAGE], total=len(rows),
                  counts=exposure_store.exposed_counts(engine, scope), warned=api.open_warning_counts(engine, scope),
                  warnings=warnings, tenant=tenant, q=q, criticality=criticality, exposed=exposed, status=status,
                  tenants=visible_tenants(request, who), silent=silent, seen=seen, silent_days=observed.DAYS,
                  can_edit=who.role in EDITORS, max_mib=MAX_IMPORT_BYTES // (1024 * 1024),
                  **{"imported": None, "import_error": "", "import_tenant": tenant, **extra})


@router.post("/intel/assets/import")
async def import_assets(request: Request, _small: None = Depends(small_enough),
                        who: Principal = Depends(principal)) -> Response:
    """The import form (multipart: tenant, file): the assets page again with the counts and each
    row refused (line, reason), or with why nothing was imported."""
    form = await request.form()
    tenant = str(form.get("tenant") or "")[:64]
    chosen = await run_in_threadpool(chosen_tenant, request, who, tenant)
    require(who, "assets.write")
    try:
        data, name = await upload_of(request)
        result = await run_in_threadpool(import_csv, request.app.state.context.engine, who, chosen, data, name)
    except HTTPException as exc:
        if exc.status_code not in (400, 409, 413, 415):
            raise
        return await run_in_threadpool(_list_page, request, who, status_code=exc.status_code,
                                       import_error=str(exc.detail), import_tenant=chosen)
    return await run_in_threadpool(_list_page, request, who, imported=result, import_tenant=chosen)


@router.get("/intel/assets/{asset_id:int}", response_class=HTMLResponse)
def asset(request: Request, asset_id: PathId, who: Principal = Depends(principal)) -> Response:
    return _asset_page(request, who, asset_id)


def _asset_page(request: Request, who: Principal, asset_id: int, status_code: int = 200, error: str = "",
                form: dict[str, Any] | None = None) -> Response:
    view = api.detail(request.app.state.context.engine, who, asset_id)
    declared = ", ".join(f"{e.port}/{e.transport}" + (f" {e.service}" if e.service else "")
                         for e in view.exposures if e.open and e.source == "console")
    return render(request, "asset.html", status_code=status_code, a=view, error=error, declared=declared,
                  form=form or {}, can_edit=who.role in EDITORS, rule=exposure.rule)


@router.post("/intel/assets/{asset_id:int}")
def edit_asset(request: Request, asset_id: PathId, host: str = Form(""), ip: str = Form(""),
               vendor: str = Form(""), product: str = Form(""), version: str = Form(""), cpe: str = Form(""),
               criticality: str = Form(""), exposed: str = Form(""), owner: str = Form(""), zone: str = Form(""),
               services: str = Form(""), who: Principal = Depends(principal)) -> Response:
    """The edit form: every field is sent, so each one is set as shown (empty clears)."""
    engine = request.app.state.context.engine
    if assets_store.get_asset(engine, who.tenants, asset_id) is None:
        raise HTTPException(404, f"no asset {asset_id}")
    form = {"host": host, "ip": ip, "vendor": vendor, "product": product, "version": version, "cpe": cpe,
            "criticality": criticality or None, "exposed": exposed == "yes", "owner": owner, "zone": zone,
            "services": services}
    try:
        body = AssetUpdate(**form)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        require(who, "assets.write")
        return _asset_page(request, who, asset_id, 422, problems, form)
    try:
        api.edit(engine, who, asset_id, body)
    except HTTPException as exc:
        if exc.status_code not in (409, 422):
            raise
        return _asset_page(request, who, asset_id, exc.status_code, str(exc.detail), form)
    return RedirectResponse(f"/intel/assets/{asset_id}", status_code=303)


@router.post("/intel/early-warnings/{warning_id:int}")
def warning_status(request: Request, warning_id: PathId, status: str = Form(""), note: str = Form(""),
                   back: str = Form(""), who: Principal = Depends(principal)) -> Response:
    engine = request.app.state.context.engine
    found = assets_store.get_warning(engine, who.tenants, warning_id)
    if found is None:
        raise HTTPException(404, f"no early warning {warning_id}")
    try:
        body = EarlyWarningUpdate(status=status, note=note[:500])  # type: ignore[arg-type]
    except ValidationError:
        raise HTTPException(422, "status must be new, acknowledged, resolved or dismissed") from None
    api.set_status(engine, who, warning_id, body)
    target = f"/intel/assets/{found[1].id}" if back == "asset" else "/intel/assets"
    return RedirectResponse(f"{target}#warnings", status_code=303)
