"""Running a playbook on a case, step by step, with approvals, dry run, idempotence and rollback.

A run keeps a stack of the workflow steps still to visit (``playbook_id#step_id``): a parallel
step pushes its branches (run one after the other, each to its end) and then its
``on_completion``; a playbook-action step pushes the called playbook's start; a step with no
successor ends its branch. An action step that needs an analyst stops the run (``waiting``)
until ``decide`` approves or rejects it. Each step visited is a line on the case's timeline and
an entry in the audit log, written in the same transaction as the run's state. Connector calls
happen between transactions, never inside one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.respond import actions, cases
from hygie.respond.actions import Command, Toolkit
from hygie.respond.connectors.base import Outcome
from hygie.respond.playbooks.loader import Playbook, command_text, step_text
from hygie.respond.policy import auto_allowed
from hygie.respond.workflow import evaluate
from hygie.store.state import audit
from hygie.store.state.models_cases import Case, CaseEntry, Observable
from hygie.store.state.models_respond import PlaybookRun, RunStep
from hygie.store.state.scope import Tenants, scoped

MAX_VISITS = 500  # a run never visits more steps than this (the loader refuses cycles)
FINISHED = ("done", "failed", "cancelled")


class RunError(ValueError):
    """A request about runs that cannot be met (unknown playbook, step not waiting...)."""


@dataclass(slots=True)
class RunView:
    run: PlaybookRun
    steps: list[RunStep]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _timeline(session: Session, run: PlaybookRun, actor: str, text: str, data: dict[str, Any]) -> None:
    session.add(CaseEntry(case_id=run.case_id, tenant_id=run.tenant_id, created=_now(), author=actor,
                          kind="playbook", text=text[:20_000], data={"run_id": run.id, **data}))


def _case_variables(session: Session, case: Case) -> dict[str, str]:
    values = {"$$case_id$$": str(case.id), "$$case_title$$": case.title, "$$severity$$": case.severity,
              "$$tenant$$": case.tenant_id}
    for row in session.scalars(select(Observable).where(Observable.case_id == case.id).order_by(Observable.id)):
        values.setdefault(f"$${row.kind}$$", row.value)
    return values


def _initial_variables(playbook: Playbook, context: dict[str, str], given: dict[str, str]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for name, spec in playbook.variables.items():
        variables[name] = spec.get("value")
        if (spec.get("external") or not spec.get("value")) and name in context:
            variables[name] = context[name]
    for name, spec in playbook.variables.items():
        key = name if name.startswith("$$") else f"$${name}$$"
        if key in given or name.strip("$") in given:
            if spec.get("constant"):
                raise RunError(f"{name} is a constant of the playbook")
            variables[name] = given.get(key, given.get(name.strip("$")))
    return {**context, **variables}


def start_run(engine: Engine, tenants: Tenants, toolkit: Toolkit, playbook_id: str, actor: str, *,
              case_id: int | None = None, alert_id: int | None = None, dry_run: bool = False,
              variables: dict[str, str] | None = None, trigger: str = "manual") -> int:
    """Start a playbook on a case (or on an alert: its case, opened if it has none) and run it
    until it ends or waits for an analyst. Returns the run's id."""
    playbook = toolkit.library.get(playbook_id)
    if playbook is None:
        raise RunError(f"no playbook {playbook_id}")
    if case_id is None:
        if alert_id is None:
            raise RunError("a run needs a case or an alert")
        existing = cases.cases_of_alert(engine, tenants, alert_id)
        case_id = existing[0].id if existing else cases.create_case(engine, tenants, [alert_id], actor)
        if case_id is None:
            raise RunError(f"alert {alert_id} is not visible")
    with Session(engine) as session, session.begin():
        case = session.scalar(scoped(select(Case).where(Case.id == case_id), Case.tenant_id, tenants))
        if case is None:
            raise RunError(f"case {case_id} is not visible")
        values = _initial_variables(playbook, _case_variables(session, case), variables or {})
        run = PlaybookRun(tenant_id=case.tenant_id, case_id=case.id, alert_id=alert_id, playbook_id=playbook.id,
                          playbook_name=playbook.name, status="running", dry_run=dry_run, trigger=trigger,
                          started_by=actor, started=_now(), variables=values,
                          stack=[f"{playbook.id}#{playbook.data['workflow_start']}"])
        session.add(run)
        session.flush()
        mode = " (dry run)" if dry_run else ""
        _timeline(session, run, actor, f"Playbook started{mode}: {playbook.name}", {"trigger": trigger})
        audit.record(session, actor, "respond.run.start", f"run:{run.id}", run.tenant_id,
                     {"case": case.id, "playbook": playbook.id, "dry_run": dry_run, "trigger": trigger})
        run_id = run.id
    advance(engine, toolkit, run_id)
    return run_id


def _lookup(toolkit: Toolkit, ref: str) -> tuple[Playbook, str, dict[str, Any]]:
    playbook_id, _, step_id = ref.partition("#")
    playbook = toolkit.library.get(playbook_id)
    if playbook is None or step_id not in playbook.data["workflow"]:
        raise RunError(f"step {ref} is not in the loaded playbooks")
    return playbook, step_id, playbook.step(step_id)


def _ref(playbook: Playbook, step_id: str | None) -> list[str]:
    return [f"{playbook.id}#{step_id}"] if step_id else []


def _locked_run(session: Session, run_id: int) -> PlaybookRun:
    run = session.scalar(select(PlaybookRun).where(PlaybookRun.id == run_id).with_for_update())
    if run is None:
        raise RunError(f"no run {run_id}")
    return run


def advance(engine: Engine, toolkit: Toolkit, run_id: int) -> str:
    """Visit steps until the run ends or waits; returns the run's status."""
    for _ in range(MAX_VISITS):
        pending: tuple[int, list[Command], Playbook, dict[str, Any]] | None = None
        with Session(engine) as session, session.begin():
            run = _locked_run(session, run_id)
            if run.status != "running":
                return run.status
            if not run.stack:
                run.status, run.finished = "done", _now()
                _timeline(session, run, "hygie", f"Playbook finished: {run.playbook_name}", {})
                audit.record(session, "hygie", "respond.run.done", f"run:{run.id}", run.tenant_id)
                return run.status
            ref, run.stack = run.stack[-1], run.stack[:-1]
            try:
                playbook, step_id, step = _lookup(toolkit, ref)
            except RunError as exc:
                _fail(session, run, str(exc))
                return run.status
            if step["type"] == "action":
                pending = _prepare_action(session, toolkit, run, playbook, step_id, step)
            else:
                _control_step(session, toolkit, run, playbook, step_id, step)
        if pending is not None:
            row_id, commands, playbook, step = pending
            _execute_and_record(engine, toolkit, run_id, row_id, commands, playbook, step, "hygie")
    with Session(engine) as session, session.begin():
        run = _locked_run(session, run_id)
        _fail(session, run, f"stopped after {MAX_VISITS} steps")
        return run.status


def _fail(session: Session, run: PlaybookRun, reason: str) -> None:
    run.status, run.finished, run.error = "failed", _now(), reason[:2000]
    _timeline(session, run, "hygie", f"Playbook failed: {reason}", {})
    audit.record(session, "hygie", "respond.run.failed", f"run:{run.id}", run.tenant_id, {"reason": reason[:500]})


def _control_step(session: Session, toolkit: Toolkit, run: PlaybookRun, playbook: Playbook,
                  step_id: str, step: dict[str, Any]) -> None:
    """start, end, if-condition, parallel, playbook-action: decide what comes next."""
    kind, name = step["type"], step_text(step)[0] or step["type"]
    detail: dict[str, Any] = {}
    if kind == "if-condition":
        truth = evaluate(step["condition"], run.variables)
        detail["condition"] = truth
        run.stack = run.stack + _ref(playbook, step.get("on_true") if truth else step.get("on_false")
                                     or step.get("on_completion"))
    elif kind == "parallel":
        run.stack = run.stack + _ref(playbook, step.get("on_completion")) + \
            [f"{playbook.id}#{s}" for s in reversed(step["next_steps"])]
    elif kind == "playbook-action":
        called = toolkit.library.get(step["playbook_id"])
        if called is None:
            _fail(session, run, f"playbook {step['playbook_id']} is not loaded")
            return
        for variable, spec in called.variables.items():
            run.variables = {**run.variables, variable: run.variables.get(variable, spec.get("value"))}
        run.stack = run.stack + _ref(playbook, step.get("on_completion")) + _ref(called, called.data["workflow_start"])
        detail["playbook"] = called.id
    elif kind == "start":
        run.stack = run.stack + _ref(playbook, step.get("on_completion"))
    session.add(RunStep(run_id=run.id, tenant_id=run.tenant_id, step_ref=f"{playbook.id}#{step_id}",
                        step_type=kind, name=name[:300], status="visited", commands=[], started=_now(),
                        finished=_now(), result=detail))
    if kind != "start" and kind != "end":
        text = f"{kind}: {name}" + (f" -> {'true' if detail.get('condition') else 'false'}" if "condition" in detail else "")
        _timeline(session, run, "hygie", text, {"step": step_id, **detail})
    audit.record(session, "hygie", "respond.step", f"run:{run.id}", run.tenant_id,
                 {"step": step_id, "type": kind, **detail})


def _idem_key(run: PlaybookRun, ref: str, commands: list[Command]) -> str:
    content = json.dumps([run.tenant_id, run.case_id, ref, [c.as_dict() for c in commands]], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


def _prepare_action(session: Session, toolkit: Toolkit, run: PlaybookRun, playbook: Playbook, step_id: str,
                    step: dict[str, Any]) -> tuple[int, list[Command], Playbook, dict[str, Any]] | None:
    """Record the action step; return it for execution now, or leave it waiting (None)."""
    ref = f"{playbook.id}#{step_id}"
    name = step_text(step)[0] or step_id
    try:
        commands = [actions.resolve(c, run.variables, command_text(step, i)) for i, c in enumerate(step["commands"])]
    except (KeyError, ValueError) as exc:
        _fail(session, run, f"step {name}: {exc}")
        return None
    key = None if run.dry_run else _idem_key(run, ref, commands)
    allowed = auto_allowed(session, run.tenant_id)
    waiting = not run.dry_run and any(actions.needs_approval(c, allowed) for c in commands)
    row = RunStep(run_id=run.id, tenant_id=run.tenant_id, step_ref=ref, step_type="action", name=name[:300],
                  status="awaiting_approval" if waiting else "running", commands=[c.as_dict() for c in commands],
                  idem_key=key, started=_now(), result={}, rollback=[])
    session.add(row)
    session.flush()
    if waiting:
        run.status = "waiting"
        _timeline(session, run, "hygie", f"Waiting for approval: {name}",
                  {"step": step_id, "run_step": row.id, "commands": [c.text for c in commands]})
        audit.record(session, "hygie", "respond.step.wait", f"run:{run.id}", run.tenant_id,
                     {"step": step_id, "actions": [c.action for c in commands]})
        return None
    return row.id, commands, playbook, step


def _execute_and_record(engine: Engine, toolkit: Toolkit, run_id: int, row_id: int, commands: list[Command],
                        playbook: Playbook, step: dict[str, Any], actor: str) -> None:
    with Session(engine) as session:
        run = session.get(PlaybookRun, run_id)
        row = session.get(RunStep, row_id)
        assert run is not None and row is not None
        tenant, case_id, dry_run, key = run.tenant_id, run.case_id, run.dry_run, row.idem_key
        earlier = None if key is None else session.scalar(
            select(RunStep).where(RunStep.idem_key == key, RunStep.tenant_id == tenant, RunStep.status == "done",
                                  RunStep.rolled_back.is_(None), RunStep.id != row_id))
        earlier_ref = (earlier.run_id, earlier.id) if earlier is not None else None
    agent = playbook.data.get("agent_definitions", {}).get(step.get("agent", ""), {})
    timeout = step["timeout"] / 1000 if step.get("timeout") else None
    outcomes: list[Outcome] = []
    if earlier_ref is None:
        for command in commands:
            outcome = actions.execute(toolkit, tenant, command, key or "dry-run", dry_run=dry_run, timeout=timeout,
                                      case_id=case_id, run_id=run_id, agent=agent, actor=actor)
            outcomes.append(outcome)
            if not outcome.ok:
                break
    with Session(engine) as session, session.begin():
        run = _locked_run(session, run_id)
        row = session.get(RunStep, row_id)
        assert row is not None
        _record_outcomes(session, run, row, playbook, step, outcomes, earlier_ref, actor)


def _record_outcomes(session: Session, run: PlaybookRun, row: RunStep, playbook: Playbook, step: dict[str, Any],
                     outcomes: list[Outcome], earlier: tuple[int, int] | None, actor: str) -> None:
    row.finished = _now()
    if earlier is not None:
        ok, row.status = True, "skipped"
        row.result = {"summary": f"already done by run {earlier[0]} (step {earlier[1]})"}
    else:
        ok = all(o.ok for o in outcomes) and len(outcomes) == len(row.commands)
        row.status = ("dry_run" if run.dry_run else "done") if ok else "failed"
        row.result = {"outcomes": [{"ok": o.ok, "summary": o.summary, "detail": o.detail} for o in outcomes]}
        row.rollback = [] if run.dry_run else [undo for o in outcomes if o.ok for undo in o.rollback]
        for name in step.get("out_args", []):
            for outcome in outcomes:
                if name.strip("$") in outcome.detail:
                    run.variables = {**run.variables, name: str(outcome.detail[name.strip("$")])}
    summaries = "; ".join(o.summary for o in outcomes) or row.result.get("summary", "")
    label = {"done": "Action done", "dry_run": "Dry run", "failed": "Action failed", "skipped": "Action skipped"}
    _timeline(session, run, actor, f"{label[row.status]}: {row.name}: {summaries}",
              {"run_step": row.id, "status": row.status})
    audit.record(session, actor, "respond.action", f"run:{run.id}", run.tenant_id,
                 {"step": row.step_ref.partition("#")[2], "status": row.status,
                  "actions": [c["action"] for c in row.commands], "key": row.idem_key,
                  "summaries": [o.summary[:300] for o in outcomes]})
    if ok or run.dry_run:  # a dry run goes on past a failed check, to show every problem at once
        run.stack = run.stack + _ref(playbook, step.get("on_success") or step.get("on_completion"))
    elif step.get("on_failure"):
        run.stack = run.stack + _ref(playbook, step["on_failure"])
    elif playbook.data.get("workflow_exception"):
        run.stack = run.stack + _ref(playbook, playbook.data["workflow_exception"])
    else:
        _fail(session, run, f"step {row.name} failed: {summaries}")
        return
    if run.status == "waiting":
        run.status = "running"


def decide(engine: Engine, tenants: Tenants, toolkit: Toolkit, run_id: int, run_step_id: int, actor: str,
           approve: bool) -> str:
    """An analyst approves (the action runs now) or rejects (it is skipped and the workflow
    goes on) a waiting step. Returns the run's status afterwards."""
    with Session(engine) as session, session.begin():
        run = session.scalar(scoped(select(PlaybookRun).where(PlaybookRun.id == run_id), PlaybookRun.tenant_id,
                                    tenants).with_for_update())
        row = session.get(RunStep, run_step_id)
        if run is None or row is None or row.run_id != run_id:
            raise RunError("no such step in a visible run")
        if row.status != "awaiting_approval" or run.status != "waiting":
            raise RunError(f"step is {row.status}, not waiting for approval")
        playbook, _, step = _lookup(toolkit, row.step_ref)
        row.decided_by, row.decided = actor, _now()
        verb = "approved" if approve else "rejected"
        _timeline(session, run, actor, f"Step {verb}: {row.name}", {"run_step": row.id})
        audit.record(session, actor, f"respond.step.{verb[:-1]}", f"run:{run.id}", run.tenant_id,
                     {"step": row.step_ref.partition("#")[2], "actions": [c["action"] for c in row.commands]})
        if approve:
            row.status = "running"
            commands = [Command(c["type"], c["action"], c["args"], c["text"]) for c in row.commands]
        else:
            row.status, row.finished = "rejected", _now()
            run.status = "running"
            run.stack = run.stack + _ref(playbook, step.get("on_completion") or step.get("on_success"))
    if approve:
        _execute_and_record(engine, toolkit, run_id, run_step_id, commands, playbook, step, actor)
    return advance(engine, toolkit, run_id)


def rollback(engine: Engine, tenants: Tenants, toolkit: Toolkit, run_id: int, actor: str,
             run_step_id: int | None = None) -> list[Outcome]:
    """Undo the done steps of a run (or one of them), newest first. The caller is the analyst
    who asked for it: a rollback needs no further approval."""
    with Session(engine) as session:
        run = session.scalar(scoped(select(PlaybookRun).where(PlaybookRun.id == run_id), PlaybookRun.tenant_id, tenants))
        if run is None:
            raise RunError(f"run {run_id} is not visible")
        query = select(RunStep).where(RunStep.run_id == run_id, RunStep.status == "done",
                                      RunStep.rolled_back.is_(None)).order_by(RunStep.id.desc())
        if run_step_id is not None:
            query = query.where(RunStep.id == run_step_id)
        rows = [(r.id, r.name, list(r.rollback), r.idem_key) for r in session.scalars(query) if r.rollback]
        tenant, case_id = run.tenant_id, run.case_id
    results: list[Outcome] = []
    for row_id, name, undos, key in rows:
        outcomes = []
        for index, undo in enumerate(undos):
            command = Command("x-hygie-action", undo["action"], dict(undo["args"]), f"rollback of {name}")
            outcomes.append(actions.execute(toolkit, tenant, command, f"{key}-undo-{index}", dry_run=False,
                                            case_id=case_id, run_id=run_id, actor=actor))
        ok = all(o.ok for o in outcomes)
        with Session(engine) as session, session.begin():
            run = _locked_run(session, run_id)
            row = session.get(RunStep, row_id)
            assert row is not None
            if ok:
                row.rolled_back = _now()
            row.result = {**row.result, "rollback": [{"ok": o.ok, "summary": o.summary} for o in outcomes]}
            text = "; ".join(o.summary for o in outcomes)
            _timeline(session, run, actor, f"Rollback {'done' if ok else 'failed'}: {name}: {text}", {"run_step": row_id})
            audit.record(session, actor, "respond.rollback", f"run:{run_id}", tenant,
                         {"run_step": row_id, "ok": ok, "actions": [u["action"] for u in undos]})
        results.extend(outcomes)
    return results


def cancel(engine: Engine, tenants: Tenants, run_id: int, actor: str) -> bool:
    with Session(engine) as session, session.begin():
        run = session.scalar(scoped(select(PlaybookRun).where(PlaybookRun.id == run_id), PlaybookRun.tenant_id, tenants))
        if run is None or run.status in FINISHED:
            return False
        run.status, run.finished = "cancelled", _now()
        for row in session.scalars(select(RunStep).where(RunStep.run_id == run_id,
                                                         RunStep.status == "awaiting_approval")):
            row.status, row.finished = "rejected", _now()
        _timeline(session, run, actor, f"Playbook cancelled: {run.playbook_name}", {})
        audit.record(session, actor, "respond.run.cancel", f"run:{run_id}", run.tenant_id)
        return True


def get_run(engine: Engine, tenants: Tenants, run_id: int) -> RunView | None:
    with Session(engine) as session:
        run = session.scalar(scoped(select(PlaybookRun).where(PlaybookRun.id == run_id), PlaybookRun.tenant_id, tenants))
        if run is None:
            return None
        steps = list(session.scalars(select(RunStep).where(RunStep.run_id == run_id).order_by(RunStep.id)))
        return RunView(run, steps)


def list_runs(engine: Engine, tenants: Tenants, case_id: int | None = None, status: str | None = None,
              limit: int = 100) -> list[PlaybookRun]:
    query = scoped(select(PlaybookRun), PlaybookRun.tenant_id, tenants)
    if case_id is not None:
        query = query.where(PlaybookRun.case_id == case_id)
    if status:
        query = query.where(PlaybookRun.status == status)
    with Session(engine) as session:
        return list(session.scalars(query.order_by(PlaybookRun.id.desc()).limit(limit)))


def pending_approvals(engine: Engine, tenants: Tenants) -> list[tuple[PlaybookRun, RunStep]]:
    """Steps waiting for an analyst, oldest first: what the console's approval list shows."""
    query = scoped(select(PlaybookRun, RunStep).join(RunStep, RunStep.run_id == PlaybookRun.id)
                   .where(RunStep.status == "awaiting_approval"), PlaybookRun.tenant_id, tenants)
    with Session(engine) as session:
        return [(run, step) for run, step in session.execute(query.order_by(RunStep.id))]
