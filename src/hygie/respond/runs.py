"""Running a playbook on a case, step by step, with approvals, dry run, idempotence and rollback.

A run keeps a stack of the workflow steps still to visit (``playbook_id#step_id``): a parallel
step pushes its branches (run one after the other, each to its end) and then its
``on_completion``; a playbook-action step pushes the called playbook's start; a step with no
successor ends its branch (control steps, loops and switches: ``control``). An action step
that needs an analyst stops the run (``waiting``) until ``decide`` approves or rejects it.
Each step visited is a line on the case's timeline (in French and English: ``timeline``) and
an entry in the audit log, written in the same transaction as the run's state. Connector calls
happen between transactions, never inside one. Hygie's built-ins (``hygie.*``) only change
the run's variables and run inside the transaction (``builtins``)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.respond import actions, cases, timeline
from hygie.respond.actions import Command, Toolkit
from hygie.respond.builtins import BUILTINS, BuiltinError, run_builtin
from hygie.respond.connectors.base import Outcome
from hygie.respond.control import control_step, fail, line, names
from hygie.respond.control import ref as ref_of
from hygie.respond.playbooks.loader import Playbook, command_text
from hygie.respond.policy import auto_allowed
from hygie.store.state import audit
from hygie.store.state.models_cases import Case, Observable
from hygie.store.state.models_respond import PlaybookRun, RunStep
from hygie.store.state.scope import Tenants, scoped

MAX_VISITS = 2000  # steps visited in one go before the run fails (loops are capped too: control.MAX_ITERATIONS)
FINISHED = ("done", "failed", "cancelled")


class RunError(ValueError):
    """A request about runs that cannot be met (unknown playbook, step not waiting...)."""


@dataclass(slots=True)
class RunView:
    run: PlaybookRun
    steps: list[RunStep]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _case_variables(session: Session, case: Case) -> dict[str, str]:
    values = {"$$case_id$$": str(case.id), "$$case_title$$": case.title, "$$severity$$": case.severity,
              "$$tenant$$": case.tenant_id}
    lists: dict[str, list[str]] = {}
    for row in session.scalars(select(Observable).where(Observable.case_id == case.id).order_by(Observable.id)):
        values.setdefault(f"$${row.kind}$$", row.value)
        lists.setdefault(row.kind, []).append(row.value.replace(",", " "))
    # every value of a kind, comma-separated, for loops (hygie.shift from=host_list ...)
    values.update({f"$${kind}_list$$": ",".join(found) for kind, found in lists.items()})
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
        line(session, run, actor, "run.started_dry" if dry_run else "run.started",
             {"playbook": timeline.both(*(playbook.text(lang)[0] for lang in ("en", "fr")))}, {"trigger": trigger})
        audit.record(session, actor, "respond.run.start", f"run:{run.id}", run.tenant_id,
                     {"case": case.id, "playbook": playbook.id, "dry_run": dry_run, "trigger": trigger})
        run_id = run.id
    advance(engine, toolkit, run_id)
    return run_id


def _playbook_names(toolkit: Toolkit | None, run: PlaybookRun) -> dict[str, str]:
    playbook = toolkit.library.get(run.playbook_id) if toolkit else None
    return timeline.both(run.playbook_name, playbook.text("fr")[0] if playbook else run.playbook_name)


def _step_names(toolkit: Toolkit, row: RunStep) -> dict[str, str]:
    try:
        return names(_lookup(toolkit, row.step_ref)[2], row.name)
    except RunError:  # the playbook is no longer loaded: its English name as recorded
        return timeline.both(row.name, row.name)


def _lookup(toolkit: Toolkit, ref: str) -> tuple[Playbook, str, dict[str, Any]]:
    playbook_id, _, step_id = ref.partition("#")
    playbook = toolkit.library.get(playbook_id)
    if playbook is None or step_id not in playbook.data["workflow"]:
        raise RunError(f"step {ref} is not in the loaded playbooks")
    return playbook, step_id, playbook.step(step_id)


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
                line(session, run, "hygie", "run.finished", {"playbook": _playbook_names(toolkit, run)})
                audit.record(session, "hygie", "respond.run.done", f"run:{run.id}", run.tenant_id)
                return run.status
            ref, run.stack = run.stack[-1], run.stack[:-1]
            try:
                playbook, step_id, step = _lookup(toolkit, ref)
            except RunError:
                fail(session, run, timeline.reason("step_missing", step=ref))
                return run.status
            if step["type"] == "action":
                pending = _prepare_action(session, toolkit, run, playbook, step_id, step)
            else:
                control_step(session, toolkit.library, run, playbook, step_id, step)
        if pending is not None:
            row_id, commands, playbook, step = pending
            _execute_and_record(engine, toolkit, run_id, row_id, commands, playbook, step, "hygie")
    with Session(engine) as session, session.begin():
        run = _locked_run(session, run_id)
        fail(session, run, timeline.reason("too_many_steps", count=MAX_VISITS))
        return run.status


def _idem_key(run: PlaybookRun, ref: str, commands: list[Command]) -> str:
    # the French text is left out: keys stay those of runs recorded before it existed
    shown = [{k: v for k, v in c.as_dict().items() if k != "text_fr"} for c in commands]
    content = json.dumps([run.tenant_id, run.case_id, ref, shown], sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()


def _prepare_action(session: Session, toolkit: Toolkit, run: PlaybookRun, playbook: Playbook, step_id: str,
                    step: dict[str, Any]) -> tuple[int, list[Command], Playbook, dict[str, Any]] | None:
    """Record the action step; return it for execution now, or leave it waiting (None).
    A step of Hygie's built-ins (``hygie.*``) is carried out here, in the transaction."""
    ref = f"{playbook.id}#{step_id}"
    label = names(step, step_id)
    try:
        commands = [actions.resolve(c, run.variables, command_text(step, i), command_text(step, i, "fr"))
                    for i, c in enumerate(step["commands"])]
    except (KeyError, ValueError) as exc:
        fail(session, run, timeline.reason("step_unresolved", name=label, error=str(exc)))
        return None
    if all(c.action in BUILTINS for c in commands):
        _builtin_step(session, run, playbook, step_id, step, commands, label)
        return None
    key = None if run.dry_run else _idem_key(run, ref, commands)
    allowed = auto_allowed(session, run.tenant_id)
    waiting = not run.dry_run and any(actions.needs_approval(c, allowed) for c in commands)
    row = RunStep(run_id=run.id, tenant_id=run.tenant_id, step_ref=ref, step_type="action", name=label["en"][:300],
                  status="awaiting_approval" if waiting else "running", commands=[c.as_dict() for c in commands],
                  idem_key=key, started=_now(), result={}, rollback=[])
    session.add(row)
    session.flush()
    if waiting:
        run.status = "waiting"
        line(session, run, "hygie", "step.waiting", {"name": label},
             {"step": step_id, "run_step": row.id, "commands": [c.text for c in commands]})
        audit.record(session, "hygie", "respond.step.wait", f"run:{run.id}", run.tenant_id,
                     {"step": step_id, "actions": [c.action for c in commands]})
        return None
    return row.id, commands, playbook, step


def _builtin_step(session: Session, run: PlaybookRun, playbook: Playbook, step_id: str, step: dict[str, Any],
                  commands: list[Command], label: dict[str, str]) -> None:
    """Built-ins change only the run's variables: no approval, no rollback, also in dry runs."""
    summaries: list[dict[str, str]] = []
    try:
        for command in commands:
            updates, summary = run_builtin(session, run.tenant_id, run.variables, command.action, command.args)
            run.variables = {**run.variables, **updates}
            summaries.append(summary)
        status = "done"
    except BuiltinError as exc:
        summaries.append(timeline.both(str(exc), str(exc)))
        status = "failed"
    session.add(RunStep(run_id=run.id, tenant_id=run.tenant_id, step_ref=f"{playbook.id}#{step_id}",
                        step_type="action", name=label["en"][:300], status=status,
                        commands=[c.as_dict() for c in commands], started=_now(), finished=_now(),
                        result={"outcomes": [{"ok": status == "done", "summary": s["en"], "detail": {}}
                                             for s in summaries]}, rollback=[]))
    text = timeline.both(*("; ".join(s[lang] for s in summaries) for lang in ("en", "fr")))
    line(session, run, "hygie", "step.builtin" if status == "done" else "action.failed",
         {"name": label, "summary": text}, {"step": step_id, "status": status})
    audit.record(session, "hygie", "respond.step", f"run:{run.id}", run.tenant_id,
                 {"step": step_id, "type": "builtin", "status": status, "actions": [c.action for c in commands]})
    if status == "done":
        run.stack = run.stack + ref_of(playbook, step.get("on_success") or step.get("on_completion"))
    elif step.get("on_failure"):
        run.stack = run.stack + ref_of(playbook, step["on_failure"])
    else:
        fail(session, run, timeline.reason("step_failed", name=label, summary=text))


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
    already = timeline.reason("already_done", run=earlier[0], step=earlier[1]) if earlier is not None else None
    if already is not None:
        ok, row.status = True, "skipped"
        row.result = {"summary": already["en"]}
    else:
        ok = all(o.ok for o in outcomes) and len(outcomes) == len(row.commands)
        row.status = ("dry_run" if run.dry_run else "done") if ok else "failed"
        row.result = {"outcomes": [{"ok": o.ok, "summary": o.summary, "detail": o.detail,
                                    **({"msg": o.msg, "args": o.args} if o.msg else {}),
                                    **({"summary_fr": fr} if fr != o.summary else {})}
                                   for o, fr in zip(outcomes, _french(row.commands, outcomes, run.dry_run, actor))]}
        row.rollback = [] if run.dry_run else [undo for o in outcomes if o.ok for undo in o.rollback]
        for name in step.get("out_args", []):
            for outcome in outcomes:
                if name.strip("$") in outcome.detail:
                    run.variables = {**run.variables, name: str(outcome.detail[name.strip("$")])}
    summaries = "; ".join(o.summary for o in outcomes) or row.result.get("summary", "")
    label = names(step, row.name)
    french = "; ".join(_french(row.commands, outcomes, run.dry_run, actor))
    line(session, run, actor, f"action.{row.status}",
         {"name": label, "summary": already or timeline.both(summaries, french)},
         {"run_step": row.id, "status": row.status})
    audit.record(session, actor, "respond.action", f"run:{run.id}", run.tenant_id,
                 {"step": row.step_ref.partition("#")[2], "status": row.status,
                  "actions": [c["action"] for c in row.commands], "key": row.idem_key,
                  "summaries": [o.summary[:300] for o in outcomes]})
    if ok or run.dry_run:  # a dry run goes on past a failed check, to show every problem at once
        run.stack = run.stack + ref_of(playbook, step.get("on_success") or step.get("on_completion"))
    elif step.get("on_failure"):
        run.stack = run.stack + ref_of(playbook, step["on_failure"])
    elif playbook.data.get("workflow_exception"):
        run.stack = run.stack + ref_of(playbook, playbook.data["workflow_exception"])
    else:
        fail(session, run, timeline.reason("step_failed", name=label, summary=timeline.both(summaries, french)))
        return
    if run.status == "waiting":
        run.status = "running"


def _french(commands: list[dict[str, Any]], outcomes: list[Any], dry_run: bool, actor: str) -> list[str]:
    """Each outcome's summary in French: connectors' are keyed (``connectors.texts``); a manual
    step's says the playbook's French text."""
    return [actions.manual_summary(c["text_fr"], dry_run, actor, "fr")
            if c["action"] == "manual" and o.ok and c.get("text_fr") else o.text("fr")
            for c, o in zip(commands, outcomes)]


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
        line(session, run, actor, f"step.{verb}", {"name": names(step, row.name)}, {"run_step": row.id})
        audit.record(session, actor, f"respond.step.{verb[:-1]}", f"run:{run.id}", run.tenant_id,
                     {"step": row.step_ref.partition("#")[2], "actions": [c["action"] for c in row.commands]})
        if approve:
            row.status = "running"
            commands = [Command.from_dict(c) for c in row.commands]
        else:
            row.status, row.finished = "rejected", _now()
            run.status = "running"
            run.stack = run.stack + ref_of(playbook, step.get("on_completion") or step.get("on_success"))
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
        rows = [(r.id, _step_names(toolkit, r), list(r.rollback), r.idem_key) for r in session.scalars(query)
                if r.rollback]
        tenant, case_id = run.tenant_id, run.case_id
    results: list[Outcome] = []
    for row_id, name, undos, key in rows:
        outcomes = []
        for index, undo in enumerate(undos):
            command = Command("x-hygie-action", undo["action"], dict(undo["args"]), f"rollback of {name['en']}")
            outcomes.append(actions.execute(toolkit, tenant, command, f"{key}-undo-{index}", dry_run=False,
                                            case_id=case_id, run_id=run_id, actor=actor))
        ok = all(o.ok for o in outcomes)
        with Session(engine) as session, session.begin():
            run = _locked_run(session, run_id)
            row = session.get(RunStep, row_id)
            assert row is not None
            if ok:
                row.rolled_back = _now()
            row.result = {**row.result, "rollback": [{"ok": o.ok, "summary": o.summary,
                                                      **({"msg": o.msg, "args": o.args} if o.msg else {})}
                                                     for o in outcomes]}
            text = timeline.both(*("; ".join(o.text(lang) for o in outcomes) for lang in ("en", "fr")))
            line(session, run, actor, "rollback.done" if ok else "rollback.failed", {"name": name, "summary": text},
                 {"run_step": row_id})
            audit.record(session, actor, "respond.rollback", f"run:{run_id}", tenant,
                         {"run_step": row_id, "ok": ok, "actions": [u["action"] for u in undos]})
        results.extend(outcomes)
    return results


def cancel(engine: Engine, tenants: Tenants, run_id: int, actor: str, toolkit: Toolkit | None = None) -> bool:
    """Stop a run that is not finished; its waiting steps count as rejected."""
    with Session(engine) as session, session.begin():
        run = session.scalar(scoped(select(PlaybookRun).where(PlaybookRun.id == run_id), PlaybookRun.tenant_id, tenants))
        if run is None or run.status in FINISHED:
            return False
        run.status, run.finished = "cancelled", _now()
        for row in session.scalars(select(RunStep).where(RunStep.run_id == run_id,
                                                         RunStep.status == "awaiting_approval")):
            row.status, row.finished = "rejected", _now()
        line(session, run, actor, "run.cancelled", {"playbook": _playbook_names(toolkit, run)})
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
