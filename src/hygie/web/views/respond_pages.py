"""Response in the console: playbook runs on a case (start, approve or reject a waiting
action, roll back), the approvals waiting across hospitals, NIS 2 deadlines counting down with
report drafts (JSON, PDF), and the status of the care services a case affects.

The work is ``hygie.respond``'s (the functions ``hygie respond`` uses); here forms are read,
the caller's tenants passed, and every refusal is a 4xx with its reason."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from hygie.respond import cases, continuity, nis2, nis2_report, runs
from hygie.store.state.access import Principal
from hygie.web.api.respond import playbook_name, step_name, toolkit
from hygie.web.api.schemas import PathId
from hygie.web.i18n import language_of
from hygie.web.security import chosen_tenant, principal, require, visible_tenants
from hygie.web.views.render import render

router = APIRouter(include_in_schema=False)


def case_response(request: Request, who: Principal, case_id: int, lang: str) -> dict[str, Any]:
    """What the case page shows about response (the case is visible: the caller checked)."""
    engine = request.app.state.context.engine
    kit = toolkit(request)
    views = [runs.get_run(engine, who.tenants, r.id) for r in runs.list_runs(engine, who.tenants, case_id)]
    state = nis2.status(engine, who.tenants, case_id)
    missing = nis2_report.draft(engine, who.tenants, case_id, "final", lang)["missing"] if state else []
    return {"playbooks": sorted(((p.id, p.text(lang)[0]) for p in kit.library.playbooks.values()), key=lambda x: x[1]),
            "runs": views, "step_names": {s.id: step_name(kit, s, lang) for v in views if v for s in v.steps},
            "run_names": {v.run.id: playbook_name(kit, v.run, lang) for v in views if v},
            "nis2": state, "kinds": nis2.KINDS, "missing": missing,
            "local_start": _local_input(state.details.get("incident_start"), state.timezone) if state else "",
            "services": continuity.summary(engine, who.tenants, case_id), "service_states": continuity.STATUSES}


def _local_input(moment: str | None, tz: str) -> str:
    """A stored UTC time as a datetime-local field's value in the hospital's time zone."""
    return datetime.fromisoformat(moment).astimezone(nis2.zone(tz)).strftime("%Y-%m-%dT%H:%M") if moment else ""


async def _form(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (await request.form()).items()}


def _case_or_404(request: Request, who: Principal, case_id: int) -> None:
    if cases.get_case(request.app.state.context.engine, who.tenants, case_id) is None:
        raise HTTPException(404, f"no case {case_id}")


def _back(case_id: int, anchor: str = "response") -> RedirectResponse:
    return RedirectResponse(f"/cases/{case_id}#{anchor}", status_code=303)


@router.post("/cases/{case_id:int}/runs")
async def start(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> Response:
    form = await _form(request)
    _case_or_404(request, who, case_id)
    require(who, "case.write")
    try:
        await run_in_threadpool(runs.start_run, request.app.state.context.engine, who.tenants, toolkit(request),
                                form.get("playbook", ""), who.actor, case_id=case_id,
                                dry_run=form.get("dry_run") == "on")
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return _back(case_id)


def _run_of_case(request: Request, who: Principal, case_id: int, run_id: int) -> None:
    _case_or_404(request, who, case_id)
    view = runs.get_run(request.app.state.context.engine, who.tenants, run_id)
    if view is None or view.run.case_id != case_id:
        raise HTTPException(404, f"no run {run_id} on case {case_id}")


@router.post("/cases/{case_id:int}/runs/{run_id:int}/steps/{step_id:int}")
async def decide(request: Request, case_id: PathId, run_id: PathId, step_id: PathId,
                 who: Principal = Depends(principal)) -> Response:
    """An analyst approves (the action runs now) or rejects a waiting action."""
    form = await _form(request)
    _run_of_case(request, who, case_id, run_id)
    require(who, "case.write")
    try:
        await run_in_threadpool(runs.decide, request.app.state.context.engine, who.tenants, toolkit(request),
                                run_id, step_id, who.actor, form.get("decision") == "approve")
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return _back(case_id)


@router.post("/cases/{case_id:int}/runs/{run_id:int}/rollback")
async def rollback(request: Request, case_id: PathId, run_id: PathId, who: Principal = Depends(principal)) -> Response:
    _run_of_case(request, who, case_id, run_id)
    require(who, "case.write")
    try:
        await run_in_threadpool(runs.rollback, request.app.state.context.engine, who.tenants, toolkit(request),
                                run_id, who.actor)
    except runs.RunError as exc:
        raise HTTPException(409, str(exc)) from None
    return _back(case_id)


@router.post("/cases/{case_id:int}/nis2")
async def nis2_change(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> Response:
    """``action``: flag (a significant incident, deadlines from ``aware_at``), details (what
    the analyst adds for the reports) or submitted (a report of ``kind`` was sent)."""
    form = await _form(request)
    _case_or_404(request, who, case_id)
    require(who, "case.write")
    engine = request.app.state.context.engine
    try:
        if form.get("action") == "flag":
            aware = datetime.fromisoformat(form["aware_at"]) if form.get("aware_at") else datetime.now(timezone.utc)
            if aware.tzinfo is None:  # a datetime-local field: the hospital's time zone
                aware = aware.replace(tzinfo=nis2.zone(nis2.DEFAULT_TZ))
            await run_in_threadpool(nis2.flag, engine, who.tenants, case_id, who.actor, aware,
                                    suspected_malicious=form.get("malicious") == "on",
                                    cross_border=form.get("cross_border") == "on", summary=form.get("summary", "")[:5000])
        elif form.get("action") == "details":
            state = nis2.status(engine, who.tenants, case_id)
            if state is None:
                raise HTTPException(409, "the case is not flagged as a significant incident")
            details = {k: form.get(k, "") for k in nis2.report_fields()["details"] if k in form}
            if details.get("incident_start"):  # a datetime-local field: the hospital's time zone
                start = datetime.fromisoformat(details["incident_start"])
                details["incident_start"] = (start if start.tzinfo else start.replace(
                    tzinfo=nis2.zone(state.timezone))).isoformat()
            await run_in_threadpool(nis2.update, engine, who.tenants, case_id, who.actor, details=details)
        elif form.get("action") == "submitted":
            await run_in_threadpool(nis2.mark_submitted, engine, who.tenants, case_id, form.get("kind", ""), who.actor)
        else:
            raise HTTPException(422, "action is flag, details or submitted")
    except (nis2.Nis2Error, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return _back(case_id, "nis2")


@router.get("/cases/{case_id:int}/nis2/{kind}.{fmt}")
def nis2_download(request: Request, case_id: PathId, kind: str, fmt: str, lang: str = Query("fr", max_length=2),
                  who: Principal = Depends(principal)) -> Response:
    _case_or_404(request, who, case_id)
    require(who, "export")
    if fmt not in ("json", "pdf") or lang not in ("fr", "en"):
        raise HTTPException(404, "json or pdf, in fr or en")
    try:
        report = nis2_report.draft(request.app.state.context.engine, who.tenants, case_id, kind, lang)
    except (nis2_report.ReportError, nis2.Nis2Error) as exc:
        raise HTTPException(409, str(exc)) from None
    body = nis2_report.to_json(report).encode() if fmt == "json" else nis2_report.to_pdf(report)
    media = "application/json" if fmt == "json" else "application/pdf"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="nis2-{kind}-case{case_id}-{lang}.{fmt}"'})


@router.post("/cases/{case_id:int}/services")
async def service_status(request: Request, case_id: PathId, who: Principal = Depends(principal)) -> Response:
    form = await _form(request)
    _case_or_404(request, who, case_id)
    require(who, "comment")  # the hospital says how its services are doing
    try:
        await run_in_threadpool(continuity.set_status, request.app.state.context.engine, who.tenants, case_id,
                                form.get("service", ""), form.get("status", ""), who.actor, note=form.get("note", "")[:2000])
    except continuity.ContinuityError as exc:
        raise HTTPException(422, str(exc)) from None
    return _back(case_id, "continuity")


@router.get("/responses", response_class=HTMLResponse)
def responses(request: Request, who: Principal = Depends(principal)) -> Response:
    """Actions waiting for an analyst, and NIS 2 reports due, across the caller's hospitals."""
    engine = request.app.state.context.engine
    kit, lang = toolkit(request), language_of(request)
    waiting = runs.pending_approvals(engine, who.tenants)
    return render(request, "responses.html", waiting=waiting, deadlines=nis2.open_deadlines(engine, who.tenants),
                  step_names={step.id: step_name(kit, step, lang) for _run, step in waiting},
                  run_names={run.id: playbook_name(kit, run, lang) for run, _step in waiting})


@router.get("/responses/policy", response_class=HTMLResponse)
def policy_page(request: Request, tenant: str = Query("", max_length=64), who: Principal = Depends(principal)) -> Response:
    """Per hospital: the actions that run without an analyst's approval, the triggers that
    start playbooks on new alerts, and the names (never the values) of connector secrets."""
    from hygie.respond import policy
    from hygie.respond.connectors.registry import ACTIONS
    chosen = chosen_tenant(request, who, tenant)
    engine = request.app.state.context.engine
    kit = toolkit(request)
    return render(request, "policy.html", tenant=chosen,
                  tenants=visible_tenants(request, who),
                  actions=sorted(ACTIONS.values(), key=lambda a: a.name),
                  auto=policy.allowed_actions(engine, who.tenants, chosen),
                  triggers=[t for t in policy.list_triggers(engine, who.tenants) if t.tenant_id == chosen],
                  playbooks={p.id: p.text(language_of(request))[0]
                             for p in kit.library.playbooks.values()},
                  secrets=kit.secrets.names(chosen) if kit.secrets else [],
                  levels=("low", "medium", "high", "critical"))


@router.post("/responses/policy")
async def policy_change(request: Request, who: Principal = Depends(principal)) -> Response:
    """``action``: auto (allow or not an action without approval), trigger, untrigger,
    secret (set a connector secret), forget (delete one). Analysts and admins; audited."""
    from hygie.respond import policy
    from hygie.respond.secrets import SecretError
    form = await _form(request)
    chosen = chosen_tenant(request, who, form.get("tenant", ""))
    require(who, "case.write")
    engine = request.app.state.context.engine
    action = form.get("action")
    try:
        if action == "auto":
            policy.set_auto(engine, who.tenants, chosen, form.get("name", ""), form.get("allowed") == "true", who.actor)
        elif action == "trigger":
            policy.add_trigger(engine, who.tenants, chosen, form.get("playbook", ""), who.actor,
                               rule_id=form.get("rule_id") or None, min_severity=form.get("min_severity") or None)
        elif action == "untrigger":
            if not policy.remove_trigger(engine, frozenset({chosen}), int(form.get("trigger_id", "0") or 0),
                                         who.actor):
                raise HTTPException(404, "no such trigger")
        elif action == "secret":
            secrets = toolkit(request).secrets
            assert secrets is not None
            secrets.set(chosen, form.get("name", "").strip(), form.get("value", ""), who.actor)
        elif action == "forget":
            secrets = toolkit(request).secrets
            if secrets is None or not secrets.delete(chosen, form.get("name", ""), who.actor):
                raise HTTPException(404, "no such secret")
        else:
            raise HTTPException(422, "unknown action")
    except (policy.PolicyError, SecretError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(f"/responses/policy?tenant={chosen}", status_code=303)
