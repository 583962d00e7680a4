"""``/api/v1/intel/assets`` and ``/api/v1/intel/early-warnings``: the asset inventory (list,
detail with vulnerabilities, exposure and warnings, edit, CSV import) and the early-warning
queue (list, detail, status). Reads go through the stores' tenant scope: a foreign id is 404 before any
role check. Editing takes ``assets.write`` (analysts and admins, a hospital for its own
assets); an edit re-runs the early-warning match at once. The console pages call the helpers
here too."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from hygie.core.moments import as_utc as utc
from hygie.intel import early_warning, exposure, observed
from hygie.intel.assets import checked_fields
from hygie.store.state import intel_assets_store as assets_store
from hygie.store.state import intel_exposure_store as exposure_store
from hygie.store.state.access import Principal
from hygie.store.state.models_intel import EarlyWarning, IntelAsset, IntelExposure
from hygie.web.api.intel_assets_schemas import (AssetDetail, AssetOut, AssetPage, AssetUpdate, EarlyWarningOut,
                                                EarlyWarningPage, EarlyWarningUpdate, ExposureOut, VulnerabilityOut)
from hygie.web.api.intel_assets_import import OPENAPI_BODY, AssetImport, import_csv, small_enough, upload_of
from hygie.web.api.schemas import ERROR_RESPONSES, PathId, Problem
from hygie.web.security import check_tenant, chosen_tenant, principal, require

RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    409: {"model": Problem, "description": "Another asset of the hospital has the same host, vendor and product"}}
router = APIRouter(prefix="/intel", tags=["intel assets"], responses=RESPONSES)
MAX_PAGE = 500


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.context.engine


def _scope(who: Principal, tenant: str | None) -> frozenset[str] | None:
    check_tenant(who, tenant)
    return frozenset({tenant}) if tenant else who.tenants


def asset_out(asset: IntelAsset, counts: dict[int, tuple[int, int]], open_warnings: dict[int, int]) -> AssetOut:
    return AssetOut(id=asset.id, tenant=asset.tenant_id, host=asset.host, ip=asset.ip, vendor=asset.vendor,
                    product=asset.product, version=asset.version, cpe=asset.cpe, criticality=asset.criticality,
                    exposed=asset.exposed, owner=asset.owner, zone=asset.zone, source=asset.source,
                    updated=utc(asset.updated), exposure_seen=utc(asset.exposure_seen) if asset.exposure_seen else None,
                    open_warnings=open_warnings.get(asset.id, 0), open_services=counts.get(asset.id, (0, 0))[0],
                    first_seen=utc(asset.first_seen) if asset.first_seen else None,
                    last_seen=utc(asset.last_seen) if asset.last_seen else None,
                    silent=observed.silent(asset.last_seen),
                    observed={k: v for k, v in (asset.observed or {}).items() if k != "filled"})


def warning_out(warning: EarlyWarning, asset: IntelAsset) -> EarlyWarningOut:
    return EarlyWarningOut(id=warning.id, tenant=warning.tenant_id, asset_id=asset.id, asset_host=asset.host,
                           kind="exposure" if warning.kind == "exposure" else "kev", cve_id=warning.cve_id,
                           exposure_id=warning.exposure_id, rank=warning.rank, level=warning.level,
                           status=warning.status, reason=warning.reason, note=warning.note or "",
                           created=utc(warning.created), updated=utc(warning.updated) if warning.updated else None,
                           alert_id=warning.alert_id, detail=warning.detail or {})


def exposure_out(row: IntelExposure) -> ExposureOut:
    return ExposureOut(id=row.id, ip=row.ip, port=row.port, transport=row.transport, service=row.service,
                       product=row.product, version=row.version, cpe=row.cpe, risk=row.risk, severity=row.severity,
                       cves=list(row.cves or []), source=row.source, open=row.open,
                       first_seen=utc(row.first_seen), last_seen=utc(row.last_seen))


def open_warning_counts(engine: Any, tenants: frozenset[str] | None) -> dict[int, int]:
    counts: dict[int, int] = {}
    for warning, _asset, _entry in assets_store.list_warnings(engine, tenants, limit=100_000, status="open"):
        counts[warning.asset_id] = counts.get(warning.asset_id, 0) + 1
    return counts


def detail(engine: Any, who: Principal, asset_id: int) -> AssetDetail:
    """An asset with what the console's asset page shows (404 when not the caller's)."""
    asset = assets_store.get_asset(engine, who.tenants, asset_id)
    if asset is None:
        raise HTTPException(404, f"no asset {asset_id}")
    scope = frozenset({asset.tenant_id})
    warnings = assets_store.list_warnings(engine, scope, limit=1000, asset_id=asset.id)
    return AssetDetail(
        **asset_out(asset, exposure_store.exposed_counts(engine, scope),
                    open_warning_counts(engine, scope)).model_dump(),
        vulnerabilities=[VulnerabilityOut(**v) for v in early_warning.vulnerabilities(engine, asset)],
        exposures=[exposure_out(r) for r in exposure_store.list_exposures(engine, scope, asset_id=asset.id)],
        warnings=[warning_out(w, a) for w, a, _e in warnings])


def edit(engine: Any, who: Principal, asset_id: int, body: AssetUpdate) -> None:
    """Change an asset (and the services it exposes), then re-run the early-warning match."""
    if assets_store.get_asset(engine, who.tenants, asset_id) is None:
        raise HTTPException(404, f"no asset {asset_id}")
    require(who, "assets.write")
    given = body.model_dump(exclude_unset=True, exclude={"services"})
    try:
        changes = checked_fields({k: v for k, v in given.items() if v is not None})
        assets_store.update_asset(engine, who.tenants, asset_id, changes, who.actor)
        if body.services is not None:
            exposure_store.declare(engine, who.tenants, asset_id, exposure.parse_declared(body.services), who.actor)
    except assets_store.AssetStoreError as exc:
        raise HTTPException(409, str(exc)) from None
    except ValueError as exc:  # checked by the schema already; a form may still send one
        raise HTTPException(422, [{"loc": ["body"], "msg": str(exc), "type": "value_error"}]) from None
    early_warning.run_early_warning(engine)


def set_status(engine: Any, who: Principal, warning_id: int, body: EarlyWarningUpdate) -> EarlyWarningOut:
    found = assets_store.get_warning(engine, who.tenants, warning_id)
    if found is None:
        raise HTTPException(404, f"no early warning {warning_id}")
    require(who, "assets.write")
    assets_store.set_warning_status(engine, who.tenants, warning_id, body.status, body.note, who.actor)
    warning, asset, _entry = assets_store.get_warning(engine, who.tenants, warning_id) or found
    return warning_out(warning, asset)


@router.get("/assets", response_model=AssetPage)
def list_assets(request: Request, tenant: str | None = Query(None, max_length=64),
                q: str | None = Query(None, max_length=200), criticality: Literal["vital", "important", "support"]
                | None = None, exposed: bool | None = None, limit: int = Query(100, ge=1, le=MAX_PAGE),
                offset: int = Query(0, ge=0, le=1_000_000), who: Principal = Depends(principal)) -> AssetPage:
    engine = _engine(request)
    scope = _scope(who, tenant)
    rows = assets_store.list_assets(engine, scope, q=q, criticality=criticality, exposed=exposed)
    counts, warned = exposure_store.exposed_counts(engine, scope), open_warning_counts(engine, scope)
    return AssetPage(total=len(rows), limit=limit, offset=offset,
                     items=[asset_out(a, counts, warned) for a in rows[offset:offset + limit]])


@router.get("/assets/{asset_id:int}", response_model=AssetDetail)
def get_asset(request: Request, asset_id: PathId, who: Principal = Depends(principal)) -> AssetDetail:
    return detail(_engine(request), who, asset_id)


@router.patch("/assets/{asset_id:int}", response_model=AssetDetail)
def update_asset(request: Request, asset_id: PathId, body: AssetUpdate,
                 who: Principal = Depends(principal)) -> AssetDetail:
    edit(_engine(request), who, asset_id, body)
    return detail(_engine(request), who, asset_id)


@router.post("/assets/import", response_model=AssetImport, openapi_extra=OPENAPI_BODY, responses={
    400: {"model": Problem, "description": "No file, or a header that names no 'host' column"},
    413: {"model": Problem, "description": "A file over 5 MiB"},
    415: {"model": Problem, "description": "A body neither text/csv nor multipart/form-data"}})
async def import_assets(request: Request, tenant: str | None = Query(None, max_length=64),
                        _small: None = Depends(small_enough), who: Principal = Depends(principal)) -> AssetImport:
    """Add or update the hospital's assets from CSV (the columns of 'hygie intel assets import');
    rows refused are listed with their line, the others imported; the same file again updates,
    never duplicates. The early-warning match runs after it. ``tenant``: default the caller's first."""
    chosen = await run_in_threadpool(chosen_tenant, request, who, tenant or "")
    require(who, "assets.write")
    data, name = await upload_of(request)
    return await run_in_threadpool(import_csv, _engine(request), who, chosen, data, name)


@router.get("/early-warnings", response_model=EarlyWarningPage)
def list_early_warnings(request: Request, tenant: str | None = Query(None, max_length=64),
                        status: Literal["open", "new", "acknowledged", "resolved", "dismissed"] | None = None,
                        kind: Literal["kev", "exposure"] | None = None,
                        asset_id: int | None = Query(None, ge=1, le=2**53),
                        limit: int = Query(100, ge=1, le=MAX_PAGE), offset: int = Query(0, ge=0, le=1_000_000),
                        who: Principal = Depends(principal)) -> EarlyWarningPage:
    engine = _engine(request)
    rows = assets_store.list_warnings(engine, _scope(who, tenant), limit=100_000, status=status, kind=kind,
                                      asset_id=asset_id)
    return EarlyWarningPage(total=len(rows), limit=limit, offset=offset,
                            items=[warning_out(w, a) for w, a, _e in rows[offset:offset + limit]])


@router.get("/early-warnings/{warning_id:int}", response_model=EarlyWarningOut)
def get_early_warning(request: Request, warning_id: PathId, who: Principal = Depends(principal)) -> EarlyWarningOut:
    found = assets_store.get_warning(_engine(request), who.tenants, warning_id)
    if found is None:
        raise HTTPException(404, f"no early warning {warning_id}")
    return warning_out(found[0], found[1])


@router.patch("/early-warnings/{warning_id:int}", response_model=EarlyWarningOut)
def update_early_warning(request: Request, warning_id: PathId, body: EarlyWarningUpdate,
                         who: Principal = Depends(principal)) -> EarlyWarningOut:
    return set_status(_engine(request), who, warning_id, body)
