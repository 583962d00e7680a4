"""Prepare, in the console: assessment campaigns (wizard by domain, telemetry proposals to
confirm or override, scores with a radar chart per framework and the change since the previous
campaign, roadmap as CSV or PDF), the regional view for analysts, and the continuity KPIs.

The work is done by ``hygie.prepare`` (the same functions as ``hygie assess``); this module
only reads forms and renders pages, for tenants the caller sees."""

from __future__ import annotations

import functools
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hygie.prepare import exports
from hygie.prepare.assessment import assess, previous_assessment, score_trend, store_proposals
from hygie.prepare.evidence import load_config, run_checks
from hygie.prepare.kpis import format_duration, load_definitions, response_times, sector_coverage, tactic_coverage
from hygie.prepare.loader import Catalog, framework_dirs, load_catalog
from hygie.prepare.roadmap import load_costs, to_csv
from hygie.prepare.scoring import check_value
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.store.state.access import Principal
from hygie.store.state.prepare_store import NotFound, PrepareStore
from hygie.web.api.schemas import PathId
from hygie.web.security import chosen_tenant as _tenant, visible_tenants as _visible, principal, require
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)
SIZES = ("small", "medium", "large")


@functools.cache
def _catalog(data_dir: Path) -> Catalog:
    return load_catalog(framework_dirs(data_dir=data_dir))


def _store(request: Request) -> PrepareStore:
    context = request.app.state.context
    return PrepareStore(context.engine, context.data_dir / "evidence")


def _campaign(request: Request, tenant: str, campaign_id: int):  # type: ignore[no-untyped-def]
    try:
        return _store(request).campaign(tenant, campaign_id)
    except NotFound:
        raise HTTPException(404, f"no campaign {campaign_id}") from None


def radar(domains: list[tuple[str, float | None, float | None]], size: int = 260) -> dict[str, Any]:
    """SVG geometry of a radar chart: one axis per domain, scores 0-100 (now and before)."""
    centre, radius = size / 2, size / 2 - 40
    count = max(len(domains), 3)

    def point(index: int, value: float) -> tuple[float, float]:
        angle = -math.pi / 2 + 2 * math.pi * index / count
        return (round(centre + radius * value / 100 * math.cos(angle), 1),
                round(centre + radius * value / 100 * math.sin(angle), 1))

    axes = [{"end": point(i, 100), "label": label, "at": point(i, 118)} for i, (label, _n, _b) in enumerate(domains)]
    now = " ".join(f"{x},{y}" for x, y in (point(i, v or 0) for i, (_l, v, _b) in enumerate(domains)))
    before = " ".join(f"{x},{y}" for x, y in (point(i, b or 0) for i, (_l, _v, b) in enumerate(domains)))
    rings = [" ".join(f"{x},{y}" for x, y in (point(i, level) for i in range(len(domains)))) for level in (25, 50, 75, 100)]
    return {"size": size, "centre": centre, "axes": axes, "now": now, "rings": rings,
            "before": before if any(b is not None for _l, _v, b in domains) else ""}


@router.get("/prepare", response_class=HTMLResponse)
def campaigns(request: Request, tenant: str = Query("", max_length=64), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    catalog = _catalog(request.app.state.context.data_dir)
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
    catalog = _catalog(request.app.state.context.data_dir)
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
    catalog = _catalog(request.app.state.context.data_dir)
    store = _store(request)
    result = assess(store, catalog, chosen, campaign)
    previous = previous_assessment(store, catalog, chosen, campaign)
    current_framework = framework if framework in campaign.frameworks else campaign.frameworks[0]
    spec = catalog.frameworks[current_framework]
    current_domain = domain if any(d.id == domain for d in spec.domains) else spec.domains[0].id
    charts = {}
    for framework_id in campaign.frameworks:
        if framework_id not in catalog.frameworks:
            continue
        f = catalog.frameworks[framework_id]
        charts[framework_id] = radar([
            (d.title.get(_lang(request, lang)), result.domains[(framework_id, d.id)].score,
             previous[1].domains[(framework_id, d.id)].score if previous and (framework_id, d.id) in previous[1].domains else None)
            for d in f.domains if result.domains[(framework_id, d.id)].questions])
    questions = [q for q in spec.questions if q.domain == current_domain]
    return render(request, "campaign.html", tenant=chosen, c=campaign, result=result, previous=previous,
                  catalog=catalog, spec=spec, framework=current_framework, domain=current_domain,
                  questions=questions, answers=store.latest_answers(chosen, campaign.id), charts=charts,
                  proposals=store.proposals(chosen, campaign.id, "pending"), lg=_lang(request, lang))


def _lang(request: Request, lang: str) -> str:
    from hygie.web.i18n import language_of
    return lang if lang in ("fr", "en") else language_of(request)


@router.post("/prepare/campaigns/{campaign_id:int}/answers")
async def answer(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Record each answer of the wizard's page that changed (answers are history: never
    overwritten, the latest counts)."""
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    campaign = _campaign(request, chosen, campaign_id)
    require(who, "assess")
    catalog = _catalog(request.app.state.context.data_dir)
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
        await run_in_threadpool(store.record_answer, chosen, campaign.id, question_id, checked, who.actor, note=note)
    framework, domain = str(form.get("framework", "")), str(form.get("domain", ""))
    return RedirectResponse(f"/prepare/campaigns/{campaign.id}?tenant={chosen}&framework={framework}&domain={domain}",
                            status_code=303)


@router.post("/prepare/campaigns/{campaign_id:int}/telemetry")
async def telemetry(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> Response:
    """Run the telemetry checks over the event store; their answers wait for a person."""
    form = await request.form()
    chosen = _tenant(request, who, str(form.get("tenant", "")))
    campaign = _campaign(request, chosen, campaign_id)
    require(who, "assess")
    context = request.app.state.context

    def run() -> None:
        source = EventStoreTelemetry(context.data_dir / "events")
        try:
            findings = run_checks(source, chosen, load_config())
        finally:
            source.close()
        store_proposals(_store(request), _catalog(context.data_dir), chosen, campaign, findings)
    await run_in_threadpool(run)
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


@router.get("/prepare/campaigns/{campaign_id:int}/roadmap.{fmt}")
def roadmap(request: Request, campaign_id: PathId, fmt: str, tenant: str = Query("", max_length=64),
            lang: str = Query("", max_length=2), who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    campaign = _campaign(request, chosen, campaign_id)
    if fmt not in ("csv", "pdf"):
        raise HTTPException(404, "roadmap.csv or roadmap.pdf")
    catalog = _catalog(request.app.state.context.data_dir)
    export = exports.campaign_roadmap(_store(request), catalog, load_costs(), chosen, campaign)
    language = _lang(request, lang)
    name = f"hygie-roadmap-{chosen}-{campaign.id}-{language}.{fmt}"
    if fmt == "csv":
        body, media = to_csv(export.roadmap, language).encode("utf-8"), "text/csv"
    else:
        body, media = exports.roadmap_pdf(catalog, chosen, export, language), "application/pdf"
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/prepare/region", response_class=HTMLResponse)
def region(request: Request, who: Principal = Depends(principal)) -> Response:
    """Maturity of every hospital the analyst sees, side by side, and the needs they share
    (the domains weakest on average: what to pool)."""
    require(who, "audit.read")  # analysts and admins: a regional view
    catalog = _catalog(request.app.state.context.data_dir)
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
    frameworks = sorted({f for _c, r in latest.values() for f in r.frameworks})
    needs = sorted(((sum(v) / len(v), key, len(v)) for key, v in domain_scores.items()), key=lambda x: x[0])[:10]
    return render(request, "region.html", latest=latest, frameworks=frameworks, needs=needs, catalog=catalog)


@router.get("/kpis", response_class=HTMLResponse)
def kpis(request: Request, tenant: str = Query("", max_length=64), days: int = Query(30, ge=1, le=365),
         who: Principal = Depends(principal)) -> Response:
    chosen = _tenant(request, who, tenant)
    context = request.app.state.context
    until = datetime.now(timezone.utc)
    store = _store(request)
    times = response_times(store.alert_timings(chosen, until - timedelta(days=days), until))
    rules, _errors = context.rules()
    definitions = load_definitions()
    tags = [r.tags for r in rules]
    catalog = _catalog(context.data_dir)
    return render(request, "kpis.html", tenant=chosen, tenants=_visible(request, who), days=days, times=times,
                  fmt=format_duration, tactics=tactic_coverage(tags, definitions),
                  sector=sector_coverage(tags, definitions), trend=score_trend(store, catalog, chosen),
                  lg=_lang(request, ""))
