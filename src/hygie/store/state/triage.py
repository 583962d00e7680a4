"""The alert queue: filtered and sorted reads, status workflow, assignment, comments, and
the figures of the overview. Every function takes the principal's tenants (see ``scope``);
an alert of another tenant is simply not found."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, String, case, cast, func, or_, select
from sqlalchemy.orm import Session

from hygie.store.state import audit
from hygie.store.state.models import AlertRow, QuarantinedRecord
from hygie.store.state.models_cases import AlertComment
from hygie.store.state.scope import Tenants, scoped

LEVELS = ("informational", "low", "medium", "high", "critical")
STATUSES = ("new", "acknowledged", "in_progress", "closed")
CLOSE_REASONS = ("true_positive", "false_positive", "benign")
# which status may follow which (closing needs a reason; a closed alert can be reopened)
TRANSITIONS = {
    "new": {"acknowledged", "in_progress", "closed"},
    "acknowledged": {"in_progress", "closed"},
    "in_progress": {"acknowledged", "closed"},
    "closed": {"in_progress"},
}
SORTS = {"last_seen": AlertRow.last_seen, "first_seen": AlertRow.first_seen, "count": AlertRow.count,
         "rule": AlertRow.title, "host": AlertRow.host, "tenant": AlertRow.tenant_id,
         "level": case({name: rank for rank, name in enumerate(LEVELS)}, value=AlertRow.level, else_=-1)}


class TriageError(ValueError):
    """A change the workflow does not allow (shown to the user as a 4xx)."""


@dataclass(slots=True)
class AlertFilter:
    tenant: str | None = None
    levels: list[str] = field(default_factory=list)
    status: str | None = None  # a status, or "open" for anything not closed
    rule: str | None = None  # rule id or part of the title
    host: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = "last_seen"
    descending: bool = True
    limit: int = 50
    offset: int = 0


def _filtered(tenants: Tenants, flt: AlertFilter) -> Any:
    query = scoped(select(AlertRow), AlertRow.tenant_id, tenants)
    if flt.tenant:
        query = query.where(AlertRow.tenant_id == flt.tenant)
    if flt.levels:
        query = query.where(AlertRow.level.in_(flt.levels))
    if flt.status == "open":
        query = query.where(AlertRow.status != "closed")
    elif flt.status:
        query = query.where(AlertRow.status == flt.status)
    if flt.rule:
        query = query.where(or_(AlertRow.rule_id == flt.rule, AlertRow.title.contains(flt.rule, autoescape=True)))
    if flt.host:
        query = query.where(AlertRow.host == flt.host)
    if flt.since:
        query = query.where(AlertRow.last_seen >= flt.since)
    if flt.until:
        query = query.where(AlertRow.last_seen < flt.until)
    return query


def list_alerts(engine: Engine, tenants: Tenants, flt: AlertFilter) -> tuple[list[AlertRow], int]:
    """One page of the queue and the number of alerts the filter matches."""
    if flt.sort not in SORTS:
        raise TriageError(f"sort must be one of {', '.join(SORTS)}")
    query = _filtered(tenants, flt)
    order = SORTS[flt.sort].desc() if flt.descending else SORTS[flt.sort].asc()
    with Session(engine) as session:
        total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
        rows = list(session.scalars(query.order_by(order, AlertRow.id.desc())
                                    .limit(flt.limit).offset(flt.offset)))
    return rows, total


def get_alert(engine: Engine, tenants: Tenants, alert_id: int) -> AlertRow | None:
    with Session(engine) as session:
        return session.scalar(scoped(select(AlertRow).where(AlertRow.id == alert_id),
                                     AlertRow.tenant_id, tenants))


def visible_ids(engine: Engine, tenants: Tenants, alert_ids: list[int]) -> set[int]:
    with Session(engine) as session:
        return set(session.scalars(scoped(select(AlertRow.id).where(AlertRow.id.in_(alert_ids)),
                                          AlertRow.tenant_id, tenants)))


def change_mark(engine: Engine, tenants: Tenants) -> tuple[int, int, int]:
    """Changes whenever the visible queue does: a new alert, a repeat, a triage action."""
    from hygie.store.state.models_audit import AuditEntry
    with Session(engine) as session:
        newest, repeats = session.execute(scoped(select(func.max(AlertRow.id), func.sum(AlertRow.count)),
                                                 AlertRow.tenant_id, tenants)).one()
        actions = session.scalar(scoped(select(func.max(AuditEntry.seq)).where(AuditEntry.action.like("alert.%")),
                                        AuditEntry.tenant_id, tenants))
    return int(newest or 0), int(repeats or 0), int(actions or 0)


def comments(engine: Engine, tenants: Tenants, alert_id: int) -> list[AlertComment]:
    with Session(engine) as session:
        return list(session.scalars(scoped(select(AlertComment).where(AlertComment.alert_id == alert_id),
                                           AlertComment.tenant_id, tenants).order_by(AlertComment.id)))


def related_alerts(engine: Engine, tenants: Tenants, alert: AlertRow, limit: int = 20) -> list[AlertRow]:
    """Other alerts of the same tenant on the same host or for the same user."""
    user = _user_of(alert)
    conditions = []
    if alert.host:
        conditions.append(AlertRow.host == alert.host)
    if user:
        conditions.append(AlertRow.event[user[0]].as_string() == user[1])
    if not conditions:
        return []
    with Session(engine) as session:
        query = scoped(select(AlertRow).where(AlertRow.tenant_id == alert.tenant_id,
                                              AlertRow.id != alert.id, or_(*conditions)),
                       AlertRow.tenant_id, tenants)
        return list(session.scalars(query.order_by(AlertRow.last_seen.desc()).limit(limit)))


USER_FIELDS = ("User", "TargetUserName", "SubjectUserName", "user.name")


def _user_of(alert: AlertRow) -> tuple[str, str] | None:
    for name in USER_FIELDS:
        value = (alert.event or {}).get(name)
        if isinstance(value, str) and value and value != "-":
            return name, value
    return None


def change_status(engine: Engine, tenants: Tenants, alert_ids: list[int], status: str, actor: str,
                  reason: str | None = None) -> list[int]:
    """Move alerts along the workflow; returns the ids changed. Alerts not visible are not
    found (the caller answers 404); a transition the workflow forbids raises ``TriageError``."""
    if status not in STATUSES:
        raise TriageError(f"status must be one of {', '.join(STATUSES)}")
    if status == "closed" and reason not in CLOSE_REASONS:
        raise TriageError(f"closing needs a reason: {', '.join(CLOSE_REASONS)}")
    now = datetime.now(timezone.utc)
    changed = []
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(scoped(select(AlertRow).where(AlertRow.id.in_(alert_ids)),
                                           AlertRow.tenant_id, tenants).with_for_update()))
        for row in rows:
            if row.status == status:
                continue
            if status not in TRANSITIONS[row.status]:
                raise TriageError(f"alert {row.id} is {row.status}: it cannot become {status}")
            before = row.status
            row.status = status
            if status != "new" and row.acknowledged is None:
                row.acknowledged = now
            row.closed, row.close_reason = (now, reason) if status == "closed" else (None, None)
            audit.record(session, actor, "alert.status", f"alert:{row.id}", row.tenant_id,
                         {"from": before, "to": status, "reason": reason})
            changed.append(row.id)
    return changed


def assign(engine: Engine, tenants: Tenants, alert_ids: list[int], assignee: str | None,
           actor: str) -> list[int]:
    with Session(engine) as session, session.begin():
        rows = list(session.scalars(scoped(select(AlertRow).where(AlertRow.id.in_(alert_ids)),
                                           AlertRow.tenant_id, tenants)))
        for row in rows:
            row.assignee = assignee or None
            audit.record(session, actor, "alert.assign", f"alert:{row.id}", row.tenant_id,
                         {"assignee": assignee})
        return [row.id for row in rows]


def add_comment(engine: Engine, tenants: Tenants, alert_id: int, text: str, actor: str) -> AlertComment | None:
    text = text.strip()
    if not text:
        raise TriageError("a comment cannot be empty")
    with Session(engine) as session, session.begin():
        row = session.scalar(scoped(select(AlertRow).where(AlertRow.id == alert_id),
                                    AlertRow.tenant_id, tenants))
        if row is None:
            return None
        comment = AlertComment(alert_id=alert_id, tenant_id=row.tenant_id, author=actor,
                               created=datetime.now(timezone.utc), text=text[:10_000])
        session.add(comment)
        audit.record(session, actor, "alert.comment", f"alert:{alert_id}", row.tenant_id)
        session.flush()
        session.expunge(comment)
        return comment


# -- overview --------------------------------------------------------------------------------
@dataclass(slots=True)
class Overview:
    days: int
    total: int
    open: int
    by_level: dict[str, int]
    by_tenant: dict[str, int]
    by_day: list[tuple[str, int]]
    top_rules: list[tuple[str, str, int]]
    top_hosts: list[tuple[str, int]]
    tactics: dict[str, dict[str, int]]  # tactic -> day -> alerts (the ATT&CK heat-map)
    quarantined: int


TACTICS = ("reconnaissance", "resource_development", "initial_access", "execution", "persistence",
           "privilege_escalation", "defense_evasion", "credential_access", "discovery",
           "lateral_movement", "collection", "command_and_control", "exfiltration", "impact")


def overview(engine: Engine, tenants: Tenants, days: int = 7, tenant: str | None = None) -> Overview:
    """The overview's figures over the last ``days``, in a handful of grouped queries."""
    since = datetime.now(timezone.utc) - timedelta(days=days)

    def base(*columns: Any) -> Any:
        query = scoped(select(*columns).where(AlertRow.last_seen >= since), AlertRow.tenant_id, tenants)
        return query.where(AlertRow.tenant_id == tenant) if tenant else query

    day = func.substr(cast(AlertRow.last_seen, String), 1, 10)
    with Session(engine) as session:
        by_level = dict(session.execute(base(AlertRow.level, func.count()).group_by(AlertRow.level)).all())
        by_tenant = dict(session.execute(base(AlertRow.tenant_id, func.count()).group_by(AlertRow.tenant_id)).all())
        open_count = session.scalar(base(func.count()).where(AlertRow.status != "closed")) or 0
        by_day = sorted(session.execute(base(day, func.count()).group_by(day)).all())
        # top rules and the tactic heat-map from one pass grouped by (rule, day), which the
        # covering index answers; a rule's title and tags are read from its newest alert
        per_rule_day = session.execute(base(AlertRow.rule_id, day, func.count(), func.max(AlertRow.id))
                                       .group_by(AlertRow.rule_id, day)).all()
        newest: dict[str, int] = {}
        rule_total: Counter[str] = Counter()
        for rule_id, _when, n, last_id in per_rule_day:
            rule_total[rule_id] += n
            newest[rule_id] = max(newest.get(rule_id, 0), last_id)
        facts: dict[str, tuple[str, list[str]]] = {}
        ids = sorted(newest.values())
        for start in range(0, len(ids), 500):
            for rule_id, title, tags in session.execute(select(AlertRow.rule_id, AlertRow.title, AlertRow.tags)
                                                        .where(AlertRow.id.in_(ids[start:start + 500]))):
                facts[rule_id] = (title, list(tags or []))
        top_rules = [(r, facts[r][0], n) for r, n in sorted(rule_total.items(), key=lambda x: (-x[1], x[0]))[:10]]
        top_hosts = session.execute(base(AlertRow.host, func.count()).where(AlertRow.host.is_not(None))
                                    .group_by(AlertRow.host).order_by(func.count().desc()).limit(10)).all()
        tactics: dict[str, Counter[str]] = {name: Counter() for name in TACTICS}
        for rule_id, when, n, _last in per_rule_day:
            for tag in facts[rule_id][1]:
                name = tag.removeprefix("attack.").replace("-", "_")
                if name in tactics:
                    tactics[name][when] += n
        quarantined = session.scalar(scoped(select(func.count()).select_from(QuarantinedRecord)
                                            .where(QuarantinedRecord.received >= since),
                                            QuarantinedRecord.tenant_id, tenants)) or 0
    counted = {str(d): n for d, n in by_day}
    today = datetime.now(timezone.utc).date()
    every_day = [(str(today - timedelta(days=back)), 0) for back in range(days, -1, -1)]
    return Overview(days, sum(by_level.values()), open_count, by_level, by_tenant,
                    [(d, counted.get(d, 0)) for d, _zero in every_day],  # days without alerts: 0
                    [(r, t, n) for r, t, n in top_rules],
                    [(h, n) for h, n in top_hosts], {k: dict(v) for k, v in tactics.items()},
                    quarantined)
