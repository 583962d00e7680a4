"""``/api/v1`` for response: the playbooks, runs on a case (dry run, approval or rejection of
a waiting step, rollback, cancel), the approvals waiting, NIS 2 (flag, details, deadlines,
reports sent, drafts as JSON) and the status of care services. The same functions as the
console's pages (``hygie.respond``); every object is looked up among the caller's tenants
first (another hospital's is a 404), then the role is checked (403)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse

from hygie.core.moments import as_utc as utc
from hygie.respond import cases, continuity, nis2, nis2_report, runs
from hygie.respond.actions import Toolkit
from hygie.respond.connectors import texts
from hygie.respond.control import names
from hygie.respond.playbooks.loader import load_library
from hygie.respond.secrets import SecretStore, load_key
from hygie.respond.settings import load_settings
from hygie.store.state.access import Principal
from hygie.store.state.models_respond import PlaybookRun, RunStep
from hygie.web.api.respond_schemas import (
    ApprovalOut,
    CommandOut,
    DeadlineOut,
    DecisionIn,
    IntermediateIn,
    Lang,
    Nis2Flag,
    Nis2Out,
    Nis2Update,
    OutcomeOut,
    PlaybookOut,
    ReportDueOut,
    ReportKind,
    RollbackIn,
    RollbackOut,
    RunDetail,
    RunIn,
    RunOut,
    RunStepOut,
    SentIn,
    ServiceIn,
    ServiceOut,
)
from hygie.web.api.schemas import ERROR_RESPONSES, Created, PathId
from hygie.web.security import principal, require

router = APIRouter(tags=["response"], responses=ERROR_RESPONSES)


def toolkit(request: Request) -> Toolkit:
    """Playbooks (Hygie's and ``DATA_DIR/playbooks``), connector settings and secrets, read
    once per console (shared by the API and the pages)."""
    found = getattr(request.app.state, "toolkit", None)
    if found is None:
        context = request.app.state.context
        found = Toolkit(load_library([context.data_dir / "playbooks"]),
                        load_settings(context.data_dir / "connectors.json"),
                        SecretStore(context.engine, load_key(context.data_dir)))
        request.app.state.toolkit = found
    return found


def _engine(request: Request):  # type: ignore[no-untyped-def]
    return request.app.state.context.engine


def _case(request: Request, who: Principal, case_id: int) -> None:
    if cases.get_case(_engine(request), who.tenants, case_id) is None:
        raise HTTPException(404, f"no case {case_id}")


def _run(request: Request, who: Principal, run_id: int) -> runs.RunView:
    view = runs.get_run(_engine(request), who.tenants, run_id)
    if view is None:
        raise HTTPException(404, f"no run {run_id}")
    return view


@router.get("/playbooks", response_model=list[PlaybookOut])
def list_playbooks(request: Request, lang: Lang = "en", who: Principal = Depends(principal)) -> list[PlaybookOut]:
    library = toolkit(request).library
    files = {playbook_id: name for name, playbook_id in library.aliases.items()}
    return [PlaybookOut(id=p.id, file=files.get(p.id), name=p.text(lang)[0], description=p.text(lang)[1],
                        types=list(p.data.get("playbook_types", [])), steps=len(p.data["workflow"]))
            for p in sorted(library.playbooks.values(), key=lambda p: p.text(lang)[0])]


def step_name(kit: Toolkit, row: RunStep, lang: str) -> str:
    """A run step's name in ``lang`` (as recorded when its playbook is no longer loaded)."""
    playbook_id, _, step_id = row.step_ref.partition("#")
    playbook = kit.library.get(playbook_id)
    if playbook is None or step_id not in playbook.data["workflow"]:
        return row.name
    return names(playbook.step(step_id), row.name)[lang]


def _run_out(run: PlaybookRun) -> RunOut:
    return RunOut(id=run.id, tenant=run.tenant_id, case_id=run.case_id, playbook_id=run.playbook_id,
                  playbook_name=run.playbook_name, status=run.status, dry_run=run.dry_run, trigger=run.trigger,
                  started_by=run.started_by, started=utc(run.started),
                  finished=utc(run.finished) if run.finished else None, error=run.error)


def playbook_name(kit: Toolkit, run: PlaybookRun, lang: str) -> str:
    playbook = kit.library.get(run.playbook_id)
    return playbook.text(lang)[0] if playbook is not None else run.playbook_name


def _run_detail(request: Request, view: runs.RunView, lang: str) -> RunDetail:
    kit = toolkit(request)
    out = {**_run_out(view.run).model_dump(), "playbook_name": playbook_name(kit, view.run, lang)}
    steps = [RunStepOut(id=s.id, step_ref=s.step_ref, step_type=s.step_type, name=step_name(kit, s, lang),
                        status=s.status, decided_by=s.decided_by, decided=utc(s.decided) if s.decided else None,
                        started=utc(s.started), finished=utc(s.finished) if s.finished else None,
                        rolled_back=utc(s.rolled_back) if s.rolled_back else None,
                        result=texts.localized(s.result or {}, lang),
                        commands=[CommandOut(type=c["type"], action=c["action"], args=c["args"],
                                             text=c.get("text_fr") or c["text"] if lang == "fr" else c["text"])
                                  for c in s.commands])
             for s in view.steps]
    return RunDetail(**out, variables=dict(view.run.variables or {}), steps=steps)


@router.post("/cases/{case_id:int}/runs", response_model=RunDetail, status_code=201)
def start_run(request: Request, case_id: PathId, body: RunIn, lang: Lang = "en",
              who: Principal = Depends(principal)) -> RunDetail:
    """Start a playbook on the case; it runs until it ends or waits for an analyst."""
    _case(request, who, case_id)
    require(who, "case.write")
    try:
        run_id = runs.start_run(_engine(request), who.tenants, toolkit(request), body.playbook, who.actor,
                                case_id=case_id, dry_run=body.dry_run, variables=body.variables)
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return _run_detail(request, _run(request, who, run_id), lang)


@router.get("/cases/{case_id:int}/runs", response_model=list[RunOut])
def case_runs(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> list[RunOut]:
    _case(request, who, case_id)
    return [_run_out(r) for r in runs.list_runs(_engine(request), who.tenants, case_id)]


@router.get("/runs/{run_id:int}", response_model=RunDetail)
def get_run(request: Request, run_id: PathId, lang: Lang = "en", who: Principal = Depends(principal)) -> RunDetail:
    return _run_detail(request, _run(request, who, run_id), lang)


@router.post("/runs/{run_id:int}/steps/{step_id:int}/decision", response_model=RunDetail)
def decide(request: Request, run_id: PathId, step_id: PathId, body: DecisionIn, lang: Lang = "en",
           who: Principal = Depends(principal)) -> RunDetail:
    """Approve (the action runs now) or reject (skipped, the workflow goes on) a waiting step."""
    view = _run(request, who, run_id)
    if not any(s.id == step_id for s in view.steps):
        raise HTTPException(404, f"no step {step_id} in run {run_id}")
    require(who, "case.write")
    try:
        runs.decide(_engine(request), who.tenants, toolkit(request), run_id, step_id, who.actor,
                    body.decision == "approve")
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return _run_detail(request, _run(request, who, run_id), lang)


@router.post("/runs/{run_id:int}/rollback", response_model=RollbackOut)
def rollback(request: Request, run_id: PathId, body: RollbackIn | None = None, lang: Lang = "en",
             who: Principal = Depends(principal)) -> RollbackOut:
    """Undo the run's done actions (or one step's), newest first."""
    body = body or RollbackIn()
    view = _run(request, who, run_id)
    if body.step_id is not None and not any(s.id == body.step_id for s in view.steps):
        raise HTTPException(404, f"no step {body.step_id} in run {run_id}")
    require(who, "case.write")
    try:
        outcomes = runs.rollback(_engine(request), who.tenants, toolkit(request), run_id, who.actor, body.step_id)
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return RollbackOut(outcomes=[OutcomeOut(ok=o.ok, summary=texts.render(o.msg, o.args or {}, lang)
                                            if o.msg and o.msg in texts.catalog() else o.summary)
                                 for o in outcomes])


@router.post("/runs/{run_id:int}/cancel", response_model=RunDetail)
def cancel(request: Request, run_id: PathId, lang: Lang = "en", who: Principal = Depends(principal)) -> RunDetail:
    _run(request, who, run_id)
    require(who, "case.write")
    if not runs.cancel(_engine(request), who.tenants, run_id, who.actor, toolkit(request)):
        raise HTTPException(409, f"run {run_id} is already finished")
    return _run_detail(request, _run(request, who, run_id), lang)


@router.get("/approvals", response_model=list[ApprovalOut])
def approvals(request: Request, lang: Lang = "en", who: Principal = Depends(principal)) -> list[ApprovalOut]:
    """Steps waiting for an analyst across the caller's hospitals, oldest first."""
    kit = toolkit(request)
    return [ApprovalOut(run_id=run.id, step_id=step.id, case_id=run.case_id, tenant=run.tenant_id,
                        playbook_name=run.playbook_name, name=step_name(kit, step, lang),
                        commands=[c.get("text_fr") or c["text"] if lang == "fr" else c["text"] for c in step.commands],
                        waiting_since=utc(step.started))
            for run, step in runs.pending_approvals(_engine(request), who.tenants)]


def _due_out(report: nis2.ReportDue) -> dict[str, Any]:
    return {"kind": report.kind, "due": report.due, "due_local": report.due_local.strftime("%Y-%m-%d %H:%M %Z"),
            "submitted": report.submitted, "remaining_seconds": report.remaining_seconds,
            "overdue": report.overdue, "countdown": report.countdown}


def _nis2_out(request: Request, who: Principal, case_id: int) -> Nis2Out:
    state = nis2.status(_engine(request), who.tenants, case_id)
    if state is None:
        raise HTTPException(404, f"case {case_id} is not flagged as a significant incident")
    return Nis2Out(case_id=state.case_id, tenant=state.tenant_id, aware_at=state.aware_at, timezone=state.timezone,
                   suspected_malicious=state.suspected_malicious, cross_border=state.cross_border,
                   cross_border_detail=state.cross_border_detail, summary=state.summary, details=state.details,
                   reports=[ReportDueOut(**_due_out(r)) for r in state.reports])


@router.get("/cases/{case_id:int}/nis2", response_model=Nis2Out)
def nis2_status(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> Nis2Out:
    """The significant incident's reports and their countdowns (404: not flagged)."""
    _case(request, who, case_id)
    return _nis2_out(request, who, case_id)


def _details(body: Any) -> dict[str, str] | None:
    if body is None:
        return None
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in body.model_dump(exclude_none=True).items()}


@router.post("/cases/{case_id:int}/nis2", response_model=Nis2Out, status_code=201)
def nis2_flag(request: Request, case_id: PathId, body: Nis2Flag, who: Principal = Depends(principal)) -> Nis2Out:
    """Flag the case as a significant incident: the 24 h, 72 h and one-month deadlines start."""
    _case(request, who, case_id)
    require(who, "case.write")
    try:
        aware = body.aware_at or datetime.now(timezone.utc)
        if aware.tzinfo is None:
            aware = aware.replace(tzinfo=nis2.zone(body.timezone))
        nis2.flag(_engine(request), who.tenants, case_id, who.actor, aware, tz=body.timezone,
                  suspected_malicious=body.suspected_malicious, cross_border=body.cross_border,
                  cross_border_detail=body.cross_border_detail, summary=body.summary, details=_details(body.details))
    except nis2.Nis2Error as exc:
        raise HTTPException(409, str(exc)) from None
    return _nis2_out(request, who, case_id)


@router.patch("/cases/{case_id:int}/nis2", response_model=Nis2Out)
def nis2_update(request: Request, case_id: PathId, body: Nis2Update, who: Principal = Depends(principal)) -> Nis2Out:
    """Change the incident's facts and the analyst's details (an empty detail removes it)."""
    _case(request, who, case_id)
    _nis2_out(request, who, case_id)
    require(who, "case.write")
    try:
        nis2.update(_engine(request), who.tenants, case_id, who.actor, suspected_malicious=body.suspected_malicious,
                    cross_border=body.cross_border, cross_border_detail=body.cross_border_detail,
                    summary=body.summary, details=_details(body.details))
    except nis2.Nis2Error as exc:
        raise HTTPException(409, str(exc)) from None
    return _nis2_out(request, who, case_id)


@router.post("/cases/{case_id:int}/nis2/reports/{kind}/sent", response_model=Nis2Out)
def nis2_sent(request: Request, case_id: PathId, kind: ReportKind, body: SentIn | None = None,
              who: Principal = Depends(principal)) -> Nis2Out:
    """A report was sent to the authority (the notification moves the final report's deadline)."""
    _case(request, who, case_id)
    _nis2_out(request, who, case_id)
    require(who, "case.write")
    try:
        nis2.mark_submitted(_engine(request), who.tenants, case_id, kind, who.actor, body.at if body else None)
    except nis2.Nis2Error as exc:
        raise HTTPException(409, str(exc)) from None
    return _nis2_out(request, who, case_id)


@router.post("/cases/{case_id:int}/nis2/intermediate", response_model=Created, status_code=201)
def nis2_intermediate(request: Request, case_id: PathId, body: IntermediateIn,
                      who: Principal = Depends(principal)) -> Created:
    """The authority asked for an intermediate report by ``due``."""
    _case(request, who, case_id)
    _nis2_out(request, who, case_id)
    require(who, "case.write")
    try:
        report_id = nis2.request_intermediate(_engine(request), who.tenants, case_id, body.due, who.actor)
    except nis2.Nis2Error as exc:
        raise HTTPException(409, str(exc)) from None
    return Created(id=report_id)


@router.get("/cases/{case_id:int}/nis2/reports/{kind}", response_model=dict[str, Any])
def nis2_draft(request: Request, case_id: PathId, kind: ReportKind, lang: Lang = "fr",
               who: Principal = Depends(principal)) -> JSONResponse:
    """The drafted report as JSON (each field labelled, with its basis; gaps listed in
    ``missing``), for the analyst to review and send."""
    _case(request, who, case_id)
    _nis2_out(request, who, case_id)
    require(who, "export")
    try:
        report = nis2_report.draft(_engine(request), who.tenants, case_id, kind, lang)
    except (nis2_report.ReportError, nis2.Nis2Error) as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse(nis2_report.json_ready(report), headers={
        "Content-Disposition": f'attachment; filename="nis2-{kind}-case{case_id}-{lang}.json"'})


@router.get("/nis2/deadlines", response_model=list[DeadlineOut])
def nis2_deadlines(request: Request, who: Principal = Depends(principal)) -> list[DeadlineOut]:
    """Every report not yet sent, soonest first, across the caller's hospitals."""
    return [DeadlineOut(case_id=case_id, **_due_out(r)) for case_id, r in nis2.open_deadlines(_engine(request),
                                                                                             who.tenants)]


def _services(request: Request, who: Principal, case_id: int) -> list[ServiceOut]:
    return [ServiceOut(service=s.service, current=s.current, since=s.since, first_impact=s.first_impact,
                       recovered=s.recovered, recovery_seconds=s.recovery_seconds, down_seconds=s.down_seconds,
                       degraded_seconds=s.degraded_seconds)
            for s in continuity.summary(_engine(request), who.tenants, case_id)]


@router.get("/cases/{case_id:int}/services", response_model=list[ServiceOut])
def services(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> list[ServiceOut]:
    """Each care service the case affects: its status now, time down or degraded, recovery time."""
    _case(request, who, case_id)
    return _services(request, who, case_id)


@router.post("/cases/{case_id:int}/services", response_model=list[ServiceOut], status_code=201)
def set_service(request: Request, case_id: PathId, body: ServiceIn,
                who: Principal = Depends(principal)) -> list[ServiceOut]:
    """Record a care service's status from ``at`` (now by default); the hospital's staff may."""
    _case(request, who, case_id)
    require(who, "comment")
    try:
        continuity.set_status(_engine(request), who.tenants, case_id, body.service, body.status, who.actor,
                              body.at, note=body.note)
    except continuity.ContinuityError as exc:
        raise HTTPException(422, str(exc)) from None
    return _services(request, who, case_id)
