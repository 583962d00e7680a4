"""The workflow steps that decide what comes next (start, end, if-condition, while-condition,
switch-condition, parallel, playbook-action), and the timeline and failure lines of a run.

A run keeps a stack of steps still to visit. A branch (of a parallel step, an if, a switch
case or a loop body) runs until a step with no successor; what was pushed below it then
resumes. So a ``while-condition`` whose condition holds pushes itself and then its
``on_true`` step: when the body's branch ends, the condition is evaluated again. A loop is
capped at ``MAX_ITERATIONS`` consecutive true evaluations: past it the run fails and says so."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.respond import timeline
from hygie.respond.playbooks.loader import Library, Playbook, step_text
from hygie.respond.workflow import evaluate
from hygie.store.state import audit
from hygie.store.state.models_respond import PlaybookRun, RunStep

MAX_ITERATIONS = 100  # a while-condition true more often than this in a row fails the run


def now() -> datetime:
    return datetime.now(timezone.utc)


def line(session: Session, run: PlaybookRun, actor: str, key: str, params: dict[str, timeline.Param],
         data: dict[str, Any] | None = None) -> None:
    """A line on the run's case timeline, in both languages (see ``timeline``)."""
    timeline.add(session, run.case_id, run.tenant_id, actor, "playbook", key, params,
                 {"run_id": run.id, **(data or {})})


def names(step: dict[str, Any], fallback: str) -> dict[str, str]:
    """A step's name in English and French."""
    return timeline.both(step_text(step)[0] or fallback, step_text(step, "fr")[0] or step_text(step)[0] or fallback)


def fail(session: Session, run: PlaybookRun, why: dict[str, str] | str) -> None:
    """End the run as failed; ``why`` is a reason in both languages, or a text as it came."""
    text = why if isinstance(why, str) else why["en"]
    run.status, run.finished, run.error = "failed", now(), text[:2000]
    line(session, run, "hygie", "run.failed", {"reason": why if isinstance(why, dict) else text[:5000]})
    audit.record(session, "hygie", "respond.run.failed", f"run:{run.id}", run.tenant_id, {"reason": text[:500]})


def ref(playbook: Playbook, step_id: str | None) -> list[str]:
    return [f"{playbook.id}#{step_id}"] if step_id else []


def _true_in_a_row(session: Session, run: PlaybookRun, step_ref: str) -> int:
    """How many times in a row this loop's condition held until now."""
    rows = session.scalars(select(RunStep.result).where(RunStep.run_id == run.id, RunStep.step_ref == step_ref)
                           .order_by(RunStep.id.desc()))
    count = 0
    for result in rows:
        if not (result or {}).get("condition"):
            break
        count += 1
    return count


def control_step(session: Session, library: Library, run: PlaybookRun, playbook: Playbook,
                 step_id: str, step: dict[str, Any]) -> None:
    """Decide what comes next after a control step, record it on the run and the timeline."""
    kind, label = step["type"], names(step, step["type"])
    step_ref = f"{playbook.id}#{step_id}"
    detail: dict[str, Any] = {}
    key, params = "step.visited", {"kind": timeline.word(kind), "name": label}
    after = step.get("on_completion")
    if kind == "if-condition":
        truth = evaluate(step["condition"], run.variables)
        detail["condition"] = truth
        key, params["truth"] = "step.condition", timeline.word("true" if truth else "false")
        run.stack = run.stack + ref(playbook, step.get("on_true") if truth else step.get("on_false") or after)
    elif kind == "while-condition":
        truth = evaluate(step["condition"], run.variables)
        iteration = _true_in_a_row(session, run, step_ref) + 1 if truth else 0
        if truth and iteration > MAX_ITERATIONS:
            fail(session, run, timeline.reason("loop_cap", name=label, count=MAX_ITERATIONS))
            return
        detail.update(condition=truth, iteration=iteration)
        key = "step.loop" if truth else "step.condition"
        params["truth"] = timeline.word("true" if truth else "false")
        if truth:
            params["iteration"] = iteration
        run.stack = run.stack + ([step_ref, *ref(playbook, step["on_true"])] if truth
                                 else ref(playbook, step.get("on_false") or after))
    elif kind == "switch-condition":
        value = run.variables.get(step["switch"])
        value = "" if value is None else str(value)
        cases: dict[str, str] = step["cases"]
        case = value if value in cases else ("default" if "default" in cases else None)
        detail.update(value=value, case=case)
        key, params["value"] = "step.switch", value or "''"
        params["case"] = timeline.word("no case") if case is None else \
            timeline.word("default") if case == "default" and value != "default" else \
            {"en": f"case {case}", "fr": f"cas {case}"}
        run.stack = run.stack + ref(playbook, after) + ref(playbook, cases[case] if case is not None else None)
    elif kind == "parallel":
        run.stack = run.stack + ref(playbook, after) + [f"{playbook.id}#{s}" for s in reversed(step["next_steps"])]
    elif kind == "playbook-action":
        called = library.get(step["playbook_id"])
        if called is None:
            fail(session, run, timeline.reason("not_loaded", playbook=step["playbook_id"]))
            return
        for variable, spec in called.variables.items():
            run.variables = {**run.variables, variable: run.variables.get(variable, spec.get("value"))}
        run.stack = run.stack + ref(playbook, after) + ref(called, called.data["workflow_start"])
        detail["playbook"] = called.id
    elif kind == "start":
        run.stack = run.stack + ref(playbook, after)
    session.add(RunStep(run_id=run.id, tenant_id=run.tenant_id, step_ref=step_ref, step_type=kind,
                        name=label["en"][:300], status="visited", commands=[], started=now(), finished=now(),
                        result=detail))
    if kind not in ("start", "end"):
        line(session, run, "hygie", key, params, {"step": step_id, **detail})
    audit.record(session, "hygie", "respond.step", f"run:{run.id}", run.tenant_id,
                 {"step": step_id, "type": kind, **detail})
