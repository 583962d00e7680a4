"""Per-tenant response policy: which actions may run without an analyst's approval, and
which playbooks start on their own when an alert of a rule, or of a severity, arrives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from hygie.respond.connectors.registry import ACTIONS
from hygie.store.state import audit
from hygie.store.state.models import AlertRow
from hygie.store.state.models_respond import AutoAction, PlaybookRun, PlaybookTrigger
from hygie.store.state.scope import Tenants, scoped, visible

if TYPE_CHECKING:
    from hygie.respond.actions import Toolkit

LEVELS = ("informational", "low", "medium", "high", "critical")
AUTOMATABLE = set(ACTIONS) | {"http-api"}  # manual steps always need a person


class PolicyError(ValueError):
    """A policy change that is refused."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def auto_allowed(session: Session, tenant: str) -> set[str]:
    return set(session.scalars(select(AutoAction.action).where(AutoAction.tenant_id == tenant)))


def allowed_actions(engine: Engine, tenants: Tenants, tenant: str) -> set[str]:
    if not visible(tenant, tenants):
        return set()
    with Session(engine) as session:
        return auto_allowed(session, tenant)


def set_auto(engine: Engine, tenants: Tenants, tenant: str, action: str, allowed: bool, actor: str) -> None:
    """Let ``action`` run without approval for ``tenant`` (or withdraw that)."""
    if not visible(tenant, tenants):
        raise PolicyError(f"tenant {tenant} is not visible")
    if action not in AUTOMATABLE:
        raise PolicyError(f"{action} cannot run automatically (known: {', '.join(sorted(AUTOMATABLE))})")
    with Session(engine) as session, session.begin():
        row = session.get(AutoAction, (tenant, action))
        if allowed and row is None:
            session.add(AutoAction(tenant_id=tenant, action=action, created_by=actor, created=_now()))
        elif not allowed and row is not None:
            session.delete(row)
        else:
            return
        audit.record(session, actor, "respond.auto", f"action:{action}", tenant, {"allowed": allowed})


def add_trigger(engine: Engine, tenants: Tenants, tenant: str, playbook_id: str, actor: str, *,
                rule_id: str | None = None, min_severity: str | None = None) -> int:
    if not visible(tenant, tenants):
        raise PolicyError(f"tenant {tenant} is not visible")
    if (rule_id is None) == (min_severity is None):
        raise PolicyError("a trigger has a rule id or a minimum severity (one of the two)")
    if min_severity is not None and min_severity not in LEVELS:
        raise PolicyError(f"severity must be one of {', '.join(LEVELS)}")
    with Session(engine) as session, session.begin():
        row = PlaybookTrigger(tenant_id=tenant, playbook_id=playbook_id, rule_id=rule_id,
                              min_severity=min_severity, enabled=True, created_by=actor, created=_now())
        session.add(row)
        session.flush()
        audit.record(session, actor, "respond.trigger.add", f"trigger:{row.id}", tenant,
                     {"playbook": playbook_id, "rule": rule_id, "min_severity": min_severity})
        return row.id


def remove_trigger(engine: Engine, tenants: Tenants, trigger_id: int, actor: str) -> bool:
    with Session(engine) as session, session.begin():
        row = session.scalar(scoped(select(PlaybookTrigger).where(PlaybookTrigger.id == trigger_id),
                                    PlaybookTrigger.tenant_id, tenants))
        if row is None:
            return False
        session.delete(row)
        audit.record(session, actor, "respond.trigger.remove", f"trigger:{trigger_id}", row.tenant_id)
        return True


def list_triggers(engine: Engine, tenants: Tenants) -> list[PlaybookTrigger]:
    with Session(engine) as session:
        return list(session.scalars(scoped(select(PlaybookTrigger), PlaybookTrigger.tenant_id, tenants)
                                    .order_by(PlaybookTrigger.id)))


@dataclass(frozen=True, slots=True)
class Match:
    alert_id: int
    playbook_id: str
    reason: str


def matching(engine: Engine, alert_ids: list[int]) -> list[Match]:
    """The (alert, playbook) pairs the enabled triggers ask for (one per pair)."""
    found: list[Match] = []
    with Session(engine) as session:
        alerts = list(session.scalars(select(AlertRow).where(AlertRow.id.in_(alert_ids))))
        for alert in alerts:
            rank = LEVELS.index(alert.level) if alert.level in LEVELS else 0
            triggers = session.scalars(select(PlaybookTrigger).where(
                PlaybookTrigger.tenant_id == alert.tenant_id, PlaybookTrigger.enabled.is_(True),
                or_(PlaybookTrigger.rule_id == alert.rule_id, PlaybookTrigger.min_severity.is_not(None))))
            seen = set()
            for trigger in triggers:
                if trigger.min_severity is not None and rank < LEVELS.index(trigger.min_severity):
                    continue
                if trigger.playbook_id in seen:
                    continue
                seen.add(trigger.playbook_id)
                reason = f"rule:{alert.rule_id}" if trigger.rule_id else f"severity>={trigger.min_severity}"
                found.append(Match(alert.id, trigger.playbook_id, reason))
    return found


def fire(engine: Engine, toolkit: Toolkit, alert_ids: list[int]) -> list[int]:
    """Start the playbooks the triggers ask for on these new alerts; a playbook already run on
    the alert's case is not started again. Returns the new runs' ids."""
    from hygie.respond import cases, runs  # runs imports this module

    started = []
    for match in matching(engine, alert_ids):
        existing = cases.cases_of_alert(engine, None, match.alert_id)
        if existing:
            with Session(engine) as session:
                if session.scalar(select(PlaybookRun.id).where(PlaybookRun.case_id == existing[0].id,
                                                              PlaybookRun.playbook_id == match.playbook_id,
                                                              PlaybookRun.status != "cancelled")):
                    continue
        try:
            started.append(runs.start_run(engine, None, toolkit, match.playbook_id, "hygie:trigger",
                                          alert_id=match.alert_id, trigger=match.reason))
        except runs.RunError:
            continue
    return started


class TriggerWatcher:
    """Fires the triggers on alerts stored since it last looked: the service calls ``check``
    every half minute, off the detection path (a playbook's actions may take seconds). It
    starts from the newest alert at start-up, so a restart does not replay old alerts."""

    def __init__(self, engine: Engine, toolkit: Toolkit, batch: int = 1000) -> None:
        self.engine, self.toolkit, self.batch = engine, toolkit, batch
        with Session(engine) as session:
            self.last = int(session.scalar(select(func.max(AlertRow.id))) or 0)

    def check(self) -> list[int]:
        """Start what the triggers ask for on the new alerts; the new runs' ids."""
        with Session(self.engine) as session:
            ids = list(session.scalars(select(AlertRow.id).where(AlertRow.id > self.last)
                                       .order_by(AlertRow.id).limit(self.batch)))
            any_trigger = session.scalar(select(PlaybookTrigger.id).where(PlaybookTrigger.enabled.is_(True)).limit(1))
        if not ids:
            return []
        self.last = ids[-1]
        return fire(self.engine, self.toolkit, ids) if any_trigger is not None else []
