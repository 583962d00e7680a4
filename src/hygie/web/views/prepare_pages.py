"""Prepare, in the console: assessment campaigns (wizard by domain, telemetry proposals to
confirm or override, scores with a radar chart per framework and the change since the previous
campaign, roadmap as CSV or PDF), the regional view for analysts, and the continuity KPIs.

The work is done by ``hygie.prepare`` (the same functions as ``hygie assess``); this module
only reads forms and renders pages, for tenants the caller sees."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUpload

from hygie.prepare import exports
from hygie.prepare.assessment import assess, previous_assessment, score_trend, store_proposals
from hygie.prepare.board import Board, build_board
from hygie.prepare.charts import trend_svg
from hygie.prepare.evidence import EvidenceConfig, load_config, run_checks
from hygie.prepare.kpis import KpiDefinitions, format_duration, load_definitions
from hygie.prepare.loader import Catalog, framework_dirs, load_catalog, site_file
from hygie.prepare.roadmap import CostModel, load_costs, to_csv
from hygie.prepare.scoring import check_value
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.prepare.trends import Series, Unit, month_span
from hygie.store.state.access import Principal
from hygie.store.state.prepare_metrics import asset_data
from hygie.store.state.prepare_store import MAX_EVIDENCE_BYTES, NotFound, PrepareStore
from hygie.store.state.rule_settings import settings_for
from hygie.web.api.schemas import PathId
from hygie.web.security import chosen_tenant as _tenant
from hygie.web.security import principal, require
from hygie.web.security import visible_tenants as _visible
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
SIZES = ("small", "medium", "large")


@functools.cache
def catalog_for(data_dir: Path) -> Catalog:
    return load_catalog(framework_dirs(data_dir=data_dir))


def _store(request: Request) -> PrepareStore:
    context = request.app.state.context
    return PrepareStore(context.engine, context.data_dir / "evidence")


def _campaign(request: Request, tenant: str, campaign_id: int):  # type: ignore[no-untyped-def]
    try:
        return _store(request).campaign(tenant, campaign_id)
    except NotFound:
        raise HTTPException(404, f"no campaign {campaign_id}") from None


@router.get("/prepare", response_class=HTMLResponse)
def campaigns(request: Request, tenant: str = Query("", max_length=64), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    catalog = catalog_for(request.app.state.context.data_dir)
    store = _store(request)
    rows = [(c, assess(store, catalog, chosen, c)) for c in store.campaigns(chosen)]
    return render(request, "prepare.html", tenant=chosen, tenants=_visible(request, who), rows=rows,
                  catalog=catalog, sizes=SIZES, trend=score_trend(store, catalog, chosen))


@router.post("/prepare/campaigns")
async def start(request: Request, who: Principal = Depends(principal)) -> Response:
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    require(who, "assess")
    frameworks = [str(f) for f in form.getlist("frameworks")]
    catalog = catalog_for(request.app.state.context.data_dir)
    if not frameworks or any(f not in catalog.frameworks for f in frameworks):
        raise HTTPException(422, "choose one or more of the loaded frameworks")

    def number(name: str) -> int | None:
        text = str(form.get(name, "")).strip()
        if not text:
            return None
        if not text.isdigit() or len(text) > 7:
            raise HTTPException(422, f"{name} must be a whole number")
        return int(text)
    try:
        made = await run_in_threadpool(_store(request).create_campaign, chosen, frameworks, str(form.get("size", "")),
                                       name=str(form.get("name", ""))[:200], beds=number("beds"),
                                       sites=number("sites"), it_staff=number("it_staff"), by=who.actor)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return RedirectResponse(f"/prepare/campaigns/{made.id}?tenant={chosen}", status_code=303)


@router.get("/prepare/campaigns/{campaign_id:int}", response_class=HTMLResponse)
def campaign_page(request: Request, campaign_id: PathId, tenant: str = Query("", max_length=64),
                  framework: str = Query("", max_length=40), domain: str = Query("", max_length=80),
                  lang: str = Query("", max_length=2), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    campaign = _campaign(request, chosen, campaign_id)
    catalog = catalog_for(request.app.state.context.data_dir)
    store = _store(request)
    result = assess(store, catalog, chosen, campaign)
    previous = previous_assessment(store, catalog, chosen, campaign)
    current_framework = framework if framework in campaign.frameworks else campaign.frameworks[0]
    spec = catalog.frameworks[current_framework]
    current_domain = domain if any(d.id == domain for d in spec.domains) else spec.domains[0].id
    charts = exports.campaign_radars(catalog, campaign, result, previous, _lang(request, lang))
    questions = [q for q in spec.questions if q.domain == current_domain]
    evidence: dict[str, list[Any]] = {}
    for row in store.evidence(chosen, campaign.id):
        evidence.setdefault(row.question_id, []).append(row)
    return render(request, "campaign.html", tenant=chosen, c=campaign, result=result, previous=previous,
                  catalog=catalog, spec=spec, framework=current_framework, domain=current_domain,
                  questions=questions, answers=store.latest_answers(chosen, campaign.id), charts=charts,
                  proposals=store.proposals(chosen, campaign.id, "pending"), lg=_lang(request, lang),
                  evidence=evidence, max_mib=MAX_EVIDENCE_BYTES // (1024 * 1024))


def _lang(request: Request, lang: str) -> str:
    from hygie.web.i18n import language_of
    return lang if lang in ("fr", "en") else language_of(request)


async def _campaign_form(request: Request, who: Principal, campaign_id: int):  # type: ignore[no-untyped-def]
    """A form posted to one of the caller's campaigns: (form, tenant, campaign); another
    hospital's campaign is a 404 before the role is checked (``assess``)."""
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    campaign = _campaign(request, chosen, campaign_id)
    require(who, "assess")
    return form, chosen, campaign


@router.post("/prepare/campaigns/{campaign_id:int}/answers")
async def answer(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Record each answer of the wizard's page that changed (answers are history: never
    overwritten, the latest counts)."""
    form, chosen, campaign = await _campaign_form(request, who, campaign_id)
    catalog = catalog_for(request.app.state.context.data_dir)
    store = _store(request)
    known = store.latest_answers(chosen, campaign.id)
    for name, value in form.multi_items():
        if not name.startswith("answer:") or not str(value):
            continue
        question_id = name.removeprefix("answer:")
        note = str(form.get(f"note:{question_id}", ""))[:2000]
        if question_id not in catalog.questions:
            raise HTTPException(422, f"unknown question {question_id}")
        try:
            checked = check_value(catalog, question_id, str(value))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        before = known.get(question_id)
        if before is not None and before.value == checked and (before.note or "") == note:
            continue
        try:
            await run_in_threadpool(store.record_answer, chosen, campaign.id, question_id, checked, who.actor,
                                    note=note)
        except ValueError as exc:  # a closed campaign
            raise HTTPException(409, str(exc)) from None
    framework, domain = str(form.get("framework", "")), str(form.get("domain", ""))
    return RedirectResponse(f"/prepare/campaigns/{campaign.id}?tenant={chosen}&framework={framework}&domain={domain}",
                            status_code=303)


@router.post("/prepare/campaigns/{campaign_id:int}/telemetry")
async def telemetry(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Run the telemetry checks over the event store; their answers wait for a person."""
    form, chosen, campaign = await _campaign_form(request, who, campaign_id)
    if campaign.closed is not None:
        raise HTTPException(409, f"campaign {campaign.id} is closed: start a new one")
    context = request.app.state.context

    def run() -> None:
        source = EventStoreTelemetry(context.data_dir / "events")
        try:
            findings = run_checks(source, chosen, load_config(site_file(context.data_dir, "evidence.yml")),
                                  assets=asset_data(context.engine, chosen))
        finally:
            source.close()
        store_proposals(_store(request), catalog_for(context.data_dir), chosen, campaign, findings)
    try:
        await run_in_threadpool(run)
    except ValueError as exc:  # a closed campaign, or a site's evidence.yml that does not load
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/prepare/campaigns/{campaign.id}?tenant={chosen}#proposals", status_code=303)


@router.post("/prepare/proposals/{proposal_id:int}")
async def decide(request: Request, proposal_id: PathId, who: Principal = Depends(principal)) -> Response:
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    try:
        _store(request).proposal(chosen, proposal_id)  # 404 before any role check
    except NotFound:
        raise HTTPException(404, f"no proposal {proposal_id}") from None
    require(who, "assess")
    value = str(form.get("value", "")) or None
    try:
        made = await run_in_threadpool(_store(request).decide, chosen, proposal_id, who.actor, value,
                                       str(form.get("reason", ""))[:2000])
    except NotFound:
        raise HTTPException(404, f"no proposal {proposal_id}") from None
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/prepare/campaigns/{made.campaign_id}?tenant={chosen}#proposals", status_code=303)


@router.post("/prepare/campaigns/{campaign_id:int}/evidence")
async def add_evidence(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Attach a file (size-limited, kept by content hash), an http(s) link or a note to a question."""
    form, chosen, campaign = await _campaign_form(request, who, campaign_id)
    question = str(form.get("question", ""))
    if question not in catalog_questions(request, campaign):
        raise HTTPException(422, "choose a question of this campaign")
    upload, link = form.get("file"), str(form.get("url", "")).strip()
    data = filename = None
    if isinstance(upload, StarletteUpload) and upload.filename:
        data = await upload.read(MAX_EVIDENCE_BYTES + 1)
        filename = upload.filename
        if len(data) > MAX_EVIDENCE_BYTES:
            raise HTTPException(413, f"a file is limited to {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
    try:
        await run_in_threadpool(_store(request).add_evidence, chosen, campaign.id, question, who.actor,
                                url=link or None, note=str(form.get("note", ""))[:4000], data=data,
                                filename=filename)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    back = (f"/prepare/campaigns/{campaign.id}?tenant={chosen}&framework={form.get('framework', '')}"
            f"&domain={form.get('domain', '')}#evidence")
    return RedirectResponse(back, status_code=303)


def catalog_questions(request: Request, campaign: Any) -> set[str]:
    """Ids of the questions of the campaign's frameworks (evidence must back one of them)."""
    catalog = catalog_for(request.app.state.context.data_dir)
    return {q.id for f in campaign.frameworks if f in catalog.frameworks for q in catalog.frameworks[f].questions}


def _evidence(request: Request, tenant: str, evidence_id: int) -> Any:
    try:
        return _store(request).evidence_item(tenant, evidence_id)
    except NotFound:
        raise HTTPException(404, f"no evidence {evidence_id}") from None


def evidence_file(store: PrepareStore, row: Any) -> FileResponse:
    """A file as a download, never rendered inline: evidence may be hostile."""
    if row.kind != "file" or not row.sha256:
        raise HTTPException(404, f"evidence {row.id} is not a file")
    path = store.evidence_path(row.sha256)
    if not path.is_file():
        raise HTTPException(410, "the evidence file is missing from the data folder")
    return FileResponse(path, media_type="application/octet-stream", filename=row.filename or "evidence")


@router.get("/prepare/evidence/{evidence_id:int}/file")
def download_evidence(request: Request, evidence_id: PathId, tenant: str = Query("", max_length=64),
                      who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    return evidence_file(_store(request), _evidence(request, chosen, evidence_id))


@router.post("/prepare/evidence/{evidence_id:int}/delete")
async def delete_evidence(request: Request, evidence_id: PathId, who: Principal = Depends(principal)) -> Response:
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    row = _evidence(request, chosen, evidence_id)  # 404 before any role check
    require(who, "assess")
    try:
        await run_in_threadpool(_store(request).delete_evidence, chosen, evidence_id, who.actor)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/prepare/campaigns/{row.campaign_id}?tenant={chosen}#evidence", status_code=303)


@router.get("/prepare/campaigns/{campaign_id:int}/roadmap.{fmt}")
def roadmap(request: Request, campaign_id: PathId, fmt: str, tenant: str = Query("", max_length=64),
            lang: str = Query("", max_length=2), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    campaign = _campaign(request, chosen, campaign_id)
    if fmt not in ("csv", "pdf"):
        raise HTTPException(404, "roadmap.csv or roadmap.pdf")
    language = _lang(request, lang)
    name = f"hygie-roadmap-{chosen}-{campaign.id}-{language}.{fmt}"
    if fmt == "pdf":
        return pdf_response(roadmap_pdf_bytes(request, chosen, campaign, language), name)
    catalog = catalog_for(request.app.state.context.data_dir)
    export = exports.campaign_roadmap(_store(request), catalog, site_costs(request.app.state.context.data_dir),
                                      chosen, campaign)
    return Response(to_csv(export.roadmap, language).encode("utf-8"), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def region_view(request: Request, who: Principal) -> tuple[dict[str, Any], list[tuple[float, tuple[str, str], int]]]:
    """The latest campaign and its assessment per tenant the caller sees, and the ten domains
    weakest on average across them: (mean score, (framework, domain), number of hospitals)."""
    catalog = catalog_for(request.app.state.context.data_dir)
    store = _store(request)
    latest: dict[str, Any] = {}
    domain_scores: dict[tuple[str, str], list[float]] = {}
    for tenant in _visible(request, who):
        found = store.campaigns(tenant)
        if not found:
            continue
        result = assess(store, catalog, tenant, found[0])
        latest[tenant] = (found[0], result)
        for key, score in result.domains.items():
            if score.score is not None:
                domain_scores.setdefault(key, []).append(score.score)
    needs = sorted(((sum(v) / len(v), key, len(v)) for key, v in domain_scores.items()), key=lambda x: x[0])[:10]
    return latest, needs


@router.get("/prepare/region", response_class=HTMLResponse)
def region(request: Request, who: Principal = Depends(principal)) -> Response:
    """Maturity of every hospital the analyst sees, side by side, and the needs they share
    (the domains weakest on average: what to pool)."""
    require(who, "audit.read")  # analysts and admins: a regional view
    latest, needs = region_view(request, who)
    catalog = catalog_for(request.app.state.context.data_dir)
    frameworks = sorted({f for _c, r in latest.values() for f in r.frameworks})
    return render(request, "region.html", latest=latest, frameworks=frameworks, needs=needs, catalog=catalog)


def enabled_rule_tags(request: Request, tenant: str) -> list[list[str]]:
    """The tags of the running service's rules that ``tenant`` has not switched off."""
    context = request.app.state.context
    rules, _errors = context.rules()
    switches = settings_for(context.engine, tenant)
    return [list(r.tags) for r in rules if switches.enabled(r.rule_id, r.pack)]


def site_settings(data_dir: Path) -> tuple[KpiDefinitions, EvidenceConfig]:
    """The KPI definitions (with the site's ``threat_landscape.yml`` if any) and telemetry
    queries (the site's ``evidence.yml``); a bad site file is a 409 naming it."""
    try:
        return (load_definitions(landscape=site_file(data_dir, "threat_landscape.yml")),
                load_config(site_file(data_dir, "evidence.yml")))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


def board_for(request: Request, tenant: str, unit: Unit, count: int) -> Board:
    """The KPI board of ``tenant`` now (tags of the rules enabled for it in the running service,
    telemetry KPIs from its event store)."""
    context = request.app.state.context
    definitions, settings = site_settings(context.data_dir)
    tags = enabled_rule_tags(request, tenant)
    telemetry = EventStoreTelemetry(context.data_dir / "events")
    try:
        return build_board(_store(request), catalog_for(context.data_dir), definitions, tenant,
                           datetime.now(timezone.utc), count=count, unit=unit, rule_tags=tags,
                           telemetry=telemetry, settings=settings)
    finally:
        telemetry.close()


def series_value(series: Series, value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    if series.unit == "h":
        return format_duration(timedelta(hours=value), lang)
    return f"{value:.0f} %" if series.unit == "%" else f"{value:.0f}"


@router.get("/kpis", response_class=HTMLResponse)
def kpis(request: Request, tenant: str = Query("", max_length=64), period: Unit = Query("month"),
         count: int = Query(12, ge=2, le=24), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    lang = _lang(request, "")
    board = board_for(request, chosen, period, count)
    names = load_definitions().series
    charts = {s.key: trend_svg(s.points, fmt=functools.partial(series_value, s, lang=lang),
                               title=names.get(s.key, {}).get(lang, s.key)) for s in board.series}
    scores: dict[str, list[tuple[str, float | None]]] = {}
    for point in board.scores:
        scores.setdefault(point.framework, []).append((f"{point.created:%Y-%m-%d}", point.score))
    score_charts = {f: trend_svg(points, fmt=lambda v: f"{v:.0f} %", title=f) for f, points in scores.items()}
    return render(request, "kpis.html", tenant=chosen, tenants=_visible(request, who), board=board, period=period,
                  count=count, charts=charts, names=names, score_charts=score_charts, lg=lang,
                  fmt=format_duration, value=series_value)


def report_bytes(request: Request, tenant: str, month: str | None, lang: str) -> bytes:
    """The monthly report PDF of ``tenant`` (422 on a malformed month)."""
    context = request.app.state.context
    try:
        since, until = month_span(month or None)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    definitions, settings = site_settings(context.data_dir)
    costs = site_costs(context.data_dir)
    return exports.monthly_report(_store(request), catalog_for(context.data_dir), costs, definitions, settings,
                                  context.data_dir / "events", tenant, since, until,
                                  enabled_rule_tags(request, tenant), lang)


def site_costs(data_dir: Path) -> CostModel:
    """The cost model with the site's ``costs.yml``; a bad site file is a 409 naming it."""
    try:
        return load_costs(site_file(data_dir, "costs.yml"))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None


def roadmap_pdf_bytes(request: Request, tenant: str, campaign: Any, lang: str) -> bytes:
    """The roadmap PDF of a campaign, as the console and the API serve it."""
    catalog = catalog_for(request.app.state.context.data_dir)
    export = exports.campaign_roadmap(_store(request), catalog, site_costs(request.app.state.context.data_dir),
                                      tenant, campaign)
    return exports.roadmap_pdf(catalog, tenant, export, lang)


def pdf_response(body: bytes, name: str) -> Response:
    return Response(body, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/prepare/report.pdf")
def report(request: Request, tenant: str = Query("", max_length=64), month: str = Query("", max_length=7),
           lang: str = Query("", max_length=2), who: Principal = Depends(principal)) -> Response:
    """The monthly management report (PDF) of a hospital: KPIs and trends, top risks,
    incidents, roadmap progress. Default month: the previous one."""
    chosen = _tenant(request, who, tenant)
    language = _lang(request, lang)
    body = report_bytes(request, chosen, month, language)
    return pdf_response(body, f"hygie-report-{chosen}-{month or 'last-month'}-{language}.pdf")


@router.post("/prepare/campaigns/{campaign_id:int}/close")
async def close(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Close a campaign: its answers and evidence are frozen, the next campaign compares with it."""
    form, chosen, campaign = await _campaign_form(request, who, campaign_id)
    await run_in_threadpool(_store(request).close_campaign, chosen, campaign.id, by=who.actor)
    return RedirectResponse(f"/prepare/campaigns/{campaign.id}?tenant={chosen}", status_code=303)
