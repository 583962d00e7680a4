"""``/api/v1/prepare``: what the console's assessment pages do, for scripts: frameworks,
campaigns with their scores (and closing one), answers (with history), telemetry proposals to
confirm or override, evidence (files, links, notes), the roadmap as JSON, CSV or PDF, continuity
KPIs, the monthly report as PDF, and the regional view for analysts.

Objects are looked up among the caller's tenants (``PrepareStore.find``, scoped): another
hospital's id is "not found", before any role check."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from hygie.prepare import exports
from hygie.prepare.assessment import assess, store_proposals
from hygie.prepare.evidence import load_config, run_checks
from hygie.prepare.kpis import Stat, load_definitions
from hygie.prepare.roadmap import load_costs, to_csv
from hygie.prepare.scoring import Assessment, check_value
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.prepare.trends import month_span
from hygie.store.state.access import Principal
from hygie.store.state.prepare_metrics import asset_data
from hygie.store.state.prepare_store import MAX_EVIDENCE_BYTES, NotFound, PrepareStore
from hygie.web.api.prepare_schemas import (
    AnswerIn,
    AnswerOut,
    CampaignDetail,
    CampaignIn,
    CampaignOut,
    DecisionIn,
    EvidenceOut,
    FrameworkOut,
    KpisOut,
    LandscapeGroupOut,
    LandscapeSourceOut,
    ProposalOut,
    RegionNeedOut,
    RegionOut,
    RegionTenantOut,
    RoadmapItemOut,
    RoadmapOut,
    ScoreOut,
    SeriesOut,
    StatOut,
    TechniqueOut,
)
from hygie.prepare.loader import site_file
from hygie.web.api.schemas import ERROR_RESPONSES, Created, PathId
from hygie.web.security import check_tenant, principal, require, visible_tenants
from hygie.web.views.prepare_pages import (
    board_for,
    catalog_for,
    catalog_questions,
    evidence_file,
    pdf_response,
    region_view,
    report_bytes,
    roadmap_pdf_bytes,
)

router = APIRouter(tags=["prepare"], responses=ERROR_RESPONSES)
Lang = Literal["fr", "en"]


def _store(request: Request) -> PrepareStore:
    context = request.app.state.context
    return PrepareStore(context.engine, context.data_dir / "evidence")


def _find(request: Request, who: Principal, kind: str, row_id: int) -> Any:
    try:
        return _store(request).find(kind, who.tenants, row_id)
    except NotFound:
        raise HTTPException(404, f"no {kind} {row_id}") from None


def _scores(result: Assessment, domains: bool = False) -> list[ScoreOut]:
    items = result.domains.values() if domains else result.frameworks.values()
    return [ScoreOut(framework=s.framework, domain=s.domain, score=s.score, coverage=s.coverage,
                     questions=s.questions, answered=s.answered) for s in items if s.questions]


def _campaign_out(request: Request, campaign: Any) -> CampaignOut:
    result = assess(_store(request), catalog_for(request.app.state.context.data_dir), campaign.tenant_id, campaign)
    return CampaignOut(id=campaign.id, tenant=campaign.tenant_id, name=campaign.name, frameworks=campaign.frameworks,
                       size=campaign.size, beds=campaign.beds, sites=campaign.sites, it_staff=campaign.it_staff,
                       created_by=campaign.created_by, created=campaign.created, closed=campaign.closed,
                       scores=_scores(result))


def _answer_out(row: Any) -> AnswerOut:
    return AnswerOut(id=row.id, question_id=row.question_id, value=row.value, note=row.note,
                     answered_by=row.answered_by, answered=row.answered, origin=row.origin, proposal_id=row.proposal_id)


def _proposal_out(row: Any) -> ProposalOut:
    return ProposalOut(id=row.id, campaign_id=row.campaign_id, question_id=row.question_id, check=row.check,
                       value=row.value, proof=row.proof, observed=row.observed, status=row.status,
                       decided_by=row.decided_by, decided=row.decided, final_value=row.final_value, reason=row.reason)


def _evidence_out(row: Any) -> EvidenceOut:
    return EvidenceOut(id=row.id, campaign_id=row.campaign_id, question_id=row.question_id, kind=row.kind,
                       filename=row.filename, size=row.size, sha256=row.sha256, url=row.url, note=row.note,
                       added_by=row.added_by, added=row.added)


@router.get("/prepare/frameworks", response_model=list[FrameworkOut])
def frameworks(request: Request, who: Principal = Depends(principal)) -> list[FrameworkOut]:
    catalog = catalog_for(request.app.state.context.data_dir)
    return [FrameworkOut(id=f.id, version=f.version, title=f.title.model_dump(), domains=len(f.domains),
                         questions=len(f.questions)) for _id, f in sorted(catalog.frameworks.items())]


@router.get("/prepare/campaigns", response_model=list[CampaignOut])
def list_campaigns(request: Request, tenant: str | None = Query(None, max_length=64),
                   who: Principal = Depends(principal)) -> list[CampaignOut]:
    check_tenant(who, tenant)
    tenants = [tenant] if tenant else visible_tenants(request, who)
    return [_campaign_out(request, c) for t in tenants for c in _store(request).campaigns(t)]


@router.post("/prepare/campaigns", response_model=Created, status_code=201)
def create_campaign(request: Request, body: CampaignIn, who: Principal = Depends(principal)) -> Created:
    if body.tenant not in visible_tenants(request, who):
        raise HTTPException(404, "no such tenant")
    require(who, "assess")
    catalog = catalog_for(request.app.state.context.data_dir)
    unknown = [f for f in body.frameworks if f not in catalog.frameworks]
    if unknown:
        raise HTTPException(422, f"unknown framework(s) {unknown}; loaded: {sorted(catalog.frameworks)}")
    made = _store(request).create_campaign(body.tenant, list(dict.fromkeys(body.frameworks)), body.size,
                                           name=body.name, beds=body.beds, sites=body.sites,
                                           it_staff=body.it_staff, by=who.actor)
    return Created(id=made.id)


@router.get("/prepare/campaigns/{campaign_id:int}", response_model=CampaignDetail)
def get_campaign(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> CampaignDetail:
    campaign = _find(request, who, "campaign", campaign_id)
    store, tenant = _store(request), campaign.tenant_id
    result = assess(store, catalog_for(request.app.state.context.data_dir), tenant, campaign)
    previous = store.previous_campaign(tenant, campaign.id)
    return CampaignDetail(**_campaign_out(request, campaign).model_dump(), domains=_scores(result, True),
                          answers=[_answer_out(a) for a in store.latest_answers(tenant, campaign.id).values()],
                          previous_campaign=previous.id if previous else None,
                          pending_proposals=len(store.proposals(tenant, campaign.id, "pending")),
                          evidence=len(store.evidence(tenant, campaign.id)))


@router.get("/prepare/campaigns/{campaign_id:int}/answers", response_model=list[AnswerOut])
def answer_history(request: Request, campaign_id: PathId, question_id: str | None = Query(None, max_length=100),
                   who: Principal = Depends(principal)) -> list[AnswerOut]:
    """Every answer given, oldest first (the latest per question is in force)."""
    campaign = _find(request, who, "campaign", campaign_id)
    return [_answer_out(a) for a in _store(request).answer_history(campaign.tenant_id, campaign.id, question_id)]


@router.post("/prepare/campaigns/{campaign_id:int}/answers", response_model=AnswerOut, status_code=201)
def answer(request: Request, campaign_id: PathId, body: AnswerIn, who: Principal = Depends(principal)) -> AnswerOut:
    campaign = _find(request, who, "campaign", campaign_id)
    require(who, "assess")
    if body.question_id not in catalog_questions(request, campaign):
        raise HTTPException(422, f"{body.question_id} is not a question of this campaign's frameworks")
    try:
        value = check_value(catalog_for(request.app.state.context.data_dir), body.question_id, body.value)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        row = _store(request).record_answer(campaign.tenant_id, campaign.id, body.question_id, value, who.actor,
                                            note=body.note)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return _answer_out(row)


@router.get("/prepare/campaigns/{campaign_id:int}/proposals", response_model=list[ProposalOut])
def proposals(request: Request, campaign_id: PathId,
              status: Literal["pending", "confirmed", "overridden"] | None = None,
              who: Principal = Depends(principal)) -> list[ProposalOut]:
    campaign = _find(request, who, "campaign", campaign_id)
    return [_proposal_out(p) for p in _store(request).proposals(campaign.tenant_id, campaign.id, status)]


@router.post("/prepare/campaigns/{campaign_id:int}/telemetry", response_model=list[ProposalOut])
async def telemetry(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> list[ProposalOut]:
    """Run the telemetry and inventory checks; returns the new proposals (they wait for a person)."""
    campaign = await run_in_threadpool(_find, request, who, "campaign", campaign_id)
    require(who, "assess")
    if campaign.closed is not None:
        raise HTTPException(409, f"campaign {campaign.id} is closed: start a new one")
    context = request.app.state.context

    def run() -> list[Any]:
        source = EventStoreTelemetry(context.data_dir / "events")
        try:
            findings = run_checks(source, campaign.tenant_id, load_config(site_file(context.data_dir, "evidence.yml")),
                                  assets=asset_data(context.engine, campaign.tenant_id))
        finally:
            source.close()
        return store_proposals(_store(request), catalog_for(context.data_dir), campaign.tenant_id, campaign, findings)
    try:
        made = await run_in_threadpool(run)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return [_proposal_out(p) for p in made]


@router.post("/prepare/proposals/{proposal_id:int}/decision", response_model=AnswerOut)
def decide(request: Request, proposal_id: PathId, body: DecisionIn, who: Principal = Depends(principal)) -> AnswerOut:
    """Confirm (no value, or the same) or override (another value, with a reason)."""
    proposal = _find(request, who, "proposal", proposal_id)
    require(who, "assess")
    value = body.value
    try:
        if value is not None:
            value = check_value(catalog_for(request.app.state.context.data_dir), proposal.question_id, value)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    try:
        row = _store(request).decide(proposal.tenant_id, proposal_id, who.actor, value, body.reason)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return _answer_out(row)


@router.get("/prepare/campaigns/{campaign_id:int}/evidence", response_model=list[EvidenceOut])
def list_evidence(request: Request, campaign_id: PathId, question_id: str | None = Query(None, max_length=100),
                  who: Principal = Depends(principal)) -> list[EvidenceOut]:
    campaign = _find(request, who, "campaign", campaign_id)
    return [_evidence_out(e) for e in _store(request).evidence(campaign.tenant_id, campaign.id, question_id)]


@router.post("/prepare/campaigns/{campaign_id:int}/evidence", response_model=Created, status_code=201)
async def add_evidence(request: Request, campaign_id: PathId, question_id: str = Form("", max_length=100),
                       file: UploadFile | None = File(None), url: str = Form("", max_length=2000),
                       note: str = Form("", max_length=4000), who: Principal = Depends(principal)) -> Created:
    """One of: a file (multipart, size-limited), an http(s) link, or a note; for a question."""
    campaign = await run_in_threadpool(_find, request, who, "campaign", campaign_id)
    require(who, "assess")
    if question_id not in catalog_questions(request, campaign):
        raise HTTPException(422, "question_id must be a question of this campaign's frameworks")
    data = filename = None
    if file is not None and file.filename:
        data, filename = await file.read(MAX_EVIDENCE_BYTES + 1), file.filename
        if len(data) > MAX_EVIDENCE_BYTES:
            raise HTTPException(413, f"a file is limited to {MAX_EVIDENCE_BYTES // (1024 * 1024)} MiB")
    try:
        row = await run_in_threadpool(_store(request).add_evidence, campaign.tenant_id, campaign.id, question_id,
                                      who.actor, url=url or None, note=note, data=data, filename=filename)
    except ValueError as exc:
        raise HTTPException(409 if "closed" in str(exc) else 422, str(exc)) from None
    return Created(id=row.id)


@router.get("/prepare/evidence/{evidence_id:int}/file", response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}}, 410: {"description": "File missing"}})
def download_evidence(request: Request, evidence_id: PathId, who: Principal = Depends(principal)) -> FileResponse:
    return evidence_file(_store(request), _find(request, who, "evidence", evidence_id))


@router.delete("/prepare/evidence/{evidence_id:int}", status_code=204, response_class=Response)
def delete_evidence(request: Request, evidence_id: PathId, who: Principal = Depends(principal)) -> Response:
    row = _find(request, who, "evidence", evidence_id)
    require(who, "assess")
    try:
        _store(request).delete_evidence(row.tenant_id, evidence_id, who.actor)
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return Response(status_code=204)


def _roadmap(request: Request, who: Principal, campaign_id: int) -> Any:
    campaign = _find(request, who, "campaign", campaign_id)
    context = request.app.state.context
    try:
        costs = load_costs(site_file(context.data_dir, "costs.yml"))
    except ValueError as exc:
        raise HTTPException(409, str(exc)) from None
    return exports.campaign_roadmap(_store(request), catalog_for(context.data_dir), costs, campaign.tenant_id, campaign)


@router.get("/prepare/campaigns/{campaign_id:int}/roadmap", response_model=RoadmapOut)
def roadmap(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> RoadmapOut:
    made = _roadmap(request, who, campaign_id).roadmap
    return RoadmapOut(campaign_id=campaign_id, size=made.size, start=made.start, currency=made.currency, items=[
        RoadmapItemOut(rank=i.rank, remediation=i.remediation, title=i.title.model_dump(), risk=i.risk, gap=i.gap,
                       questions=i.questions, effort_days=i.effort_days, one_off=i.one_off, yearly=i.yearly,
                       owner=i.owner.model_dump(), due=i.due, first_90_days=i.first_90_days, costed=i.costed)
        for i in made.items])


@router.get("/prepare/campaigns/{campaign_id:int}/roadmap.csv", response_class=Response,
            responses={200: {"content": {"text/csv": {}}}})
def roadmap_csv(request: Request, campaign_id: PathId, lang: Lang = "en",
                who: Principal = Depends(principal)) -> Response:
    made = _roadmap(request, who, campaign_id).roadmap
    return Response(to_csv(made, lang).encode("utf-8"), media_type="text/csv", headers={
        "Content-Disposition": f'attachment; filename="hygie-roadmap-{campaign_id}-{lang}.csv"'})


def _stat(value: Stat) -> StatOut:
    return StatOut(mean_seconds=None if value.mean is None else value.mean.total_seconds(),
                   median_seconds=None if value.median is None else value.median.total_seconds(), count=value.count)


@router.get("/prepare/kpis", response_model=KpisOut)
def kpis(request: Request, tenant: str | None = Query(None, max_length=64),
         period: Literal["month", "week"] = "month", count: int = Query(12, ge=2, le=24),
         who: Principal = Depends(principal)) -> KpisOut:
    """Continuity KPIs of one hospital (default: the caller's first) over ``count`` periods."""
    chosen = _visible_tenant(request, who, tenant)
    board = board_for(request, chosen, period, count)
    names = load_definitions().series
    return KpisOut(
        tenant=chosen, unit=board.unit, periods=[p.label for p in board.periods],
        response={source: {m: _stat(s) for m, s in stats.items()} for source, stats in board.mttx.items()},
        series=[SeriesOut(key=s.key, name=names.get(s.key), unit=s.unit, points=s.points, latest=s.latest,
                          direction=s.direction, better=s.better) for s in board.series],
        assets=board.assets, assets_monitored=board.monitored, silent_assets=board.silent,
        open_early_warnings=board.open_warnings, open_critical_early_warnings=board.critical_warnings,
        tactic_coverage={t.tactic.id: t.rules for t in board.tactics},
        sector_techniques_covered=[t.id for t in board.sector.covered],
        sector_techniques_missing=[t.id for t in board.sector.missing],
        threat_landscape=[LandscapeGroupOut(
            id=g.group.id, title=g.group.title.model_dump(), sources=g.group.sources,
            covered=[TechniqueOut(id=t.id, name=t.name, rules=board.sector.rules.get(t.id, 0)) for t in g.covered],
            missing=[TechniqueOut(id=t.id, name=t.name, rules=0) for t in g.missing]) for g in board.sector.groups],
        landscape_sources=[LandscapeSourceOut(id=key, title=v.title, publisher=v.publisher, published=v.published,
                                              url=v.url)
                           for key, v in (board.landscape.sources.items() if board.landscape else ())])


def _visible_tenant(request: Request, who: Principal, tenant: str | None) -> str:
    """``tenant``, or the caller's first, among those it sees (another one is "not found")."""
    check_tenant(who, tenant)
    tenants = visible_tenants(request, who)
    chosen = tenant or (tenants[0] if tenants else None)
    if chosen is None or chosen not in tenants:
        raise HTTPException(404, "no such tenant")
    return chosen


PDF = {200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
             "description": "A PDF document (attachment)"}}


@router.get("/prepare/campaigns/{campaign_id:int}/roadmap.pdf", response_class=Response, responses=PDF)
def roadmap_pdf(request: Request, campaign_id: PathId, lang: Lang = "en",
                who: Principal = Depends(principal)) -> Response:
    """The roadmap as PDF (radar, scores, actions, costs, evidence), as the console's."""
    campaign = _find(request, who, "campaign", campaign_id)
    body = roadmap_pdf_bytes(request, campaign.tenant_id, campaign, lang)
    return pdf_response(body, f"hygie-roadmap-{campaign.tenant_id}-{campaign.id}-{lang}.pdf")


@router.get("/prepare/report.pdf", response_class=Response, responses=PDF)
def report_pdf(request: Request, tenant: str | None = Query(None, max_length=64),
               month: str | None = Query(None, pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default: last month"),
               lang: Lang = "en", who: Principal = Depends(principal)) -> Response:
    """The monthly management report of one hospital (default: the caller's first), as the
    console's: KPIs and trends, top risks, incidents, roadmap progress, coverage."""
    chosen = _visible_tenant(request, who, tenant)
    try:
        month_span(month)
    except ValueError as exc:  # as a validation error, the shape the schema gives a 422
        raise HTTPException(422, [{"loc": ["query", "month"], "msg": str(exc), "type": "value_error"}]) from None
    body = report_bytes(request, chosen, month, lang)
    return pdf_response(body, f"hygie-report-{chosen}-{month or 'last-month'}-{lang}.pdf")


@router.post("/prepare/campaigns/{campaign_id:int}/close", response_model=CampaignOut)
def close_campaign(request: Request, campaign_id: PathId, who: Principal = Depends(principal)) -> CampaignOut:
    """Close a campaign: answers and evidence are frozen, the next campaign compares with it
    (closing a closed campaign changes nothing)."""
    campaign = _find(request, who, "campaign", campaign_id)
    require(who, "assess")
    _store(request).close_campaign(campaign.tenant_id, campaign.id, by=who.actor)
    return _campaign_out(request, _store(request).campaign(campaign.tenant_id, campaign.id))


@router.get("/prepare/region", response_model=RegionOut)
def region(request: Request, who: Principal = Depends(principal)) -> RegionOut:
    """Latest campaign of every hospital the analyst sees, and the domains weakest on average."""
    require(who, "audit.read")
    latest, needs = region_view(request, who)
    return RegionOut(
        tenants=[RegionTenantOut(tenant=t, campaign_id=c.id, created=c.created, scores=_scores(r))
                 for t, (c, r) in latest.items()],
        common_needs=[RegionNeedOut(framework=key[0], domain=key[1], mean_score=mean, tenants=n)
                      for mean, key, n in needs])

