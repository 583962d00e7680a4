"""NIS 2 significant incidents (directive (EU) 2022/2555, art. 23): the reports owed and when.

* early warning: within 24 hours of becoming aware of the incident;
* incident notification: within 72 hours of becoming aware;
* intermediate report: when the authority (CSIRT) asks for one, by the date it sets;
* final report: within one month of the incident notification (its submission, or its
  deadline while it is not submitted).

24 h and 72 h are elapsed time, so they are computed in UTC: across a daylight-saving change
the local deadline moves by an hour (aware Saturday 10:00 before the last Sunday of March ->
Sunday 11:00 local). "One month" is a calendar month in the hospital's time zone (Europe/Paris
by default): 31 January -> 28 or 29 February, a local time that does not exist that day
(02:30 on the night clocks go forward) is moved past the gap."""

from __future__ import annotations

import calendar
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.respond import timeline
from hygie.store.state import audit
from hygie.store.state.models_cases import Case
from hygie.store.state.models_respond import Nis2Incident, Nis2Report
from hygie.store.state.scope import Tenants, scoped

DEFAULT_TZ = "Europe/Paris"
FIELDS = Path(__file__).with_name("templates") / "nis2_fields.json"
KINDS = ("early_warning", "notification", "intermediate", "final")
EARLY_WARNING = timedelta(hours=24)
NOTIFICATION = timedelta(hours=72)


class Nis2Error(ValueError):
    """A NIS 2 request that is refused (case not flagged, unknown report kind...)."""


@lru_cache(maxsize=1)
def report_fields() -> dict[str, Any]:
    """The reports' fields, their labels and bases, and the analyst's details (data file)."""
    return json.loads(FIELDS.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def check_details(given: dict[str, Any]) -> dict[str, str]:
    """The analyst's details, checked against ``nis2_fields.json``: known keys, allowed
    values, lengths; ``incident_start`` an ISO date-time (stored in UTC). An empty value
    removes the key (it stays in the result, empty, for ``update`` to drop)."""
    rules: dict[str, Any] = report_fields()["details"]
    checked: dict[str, str] = {}
    for key, value in given.items():
        rule = rules.get(key)
        if rule is None:
            raise Nis2Error(f"unknown detail {key!r} (known: {', '.join(sorted(rules))})")
        text = "" if value is None else str(value).strip()
        if text and "values" in rule and text not in rule["values"]:
            raise Nis2Error(f"{key} must be one of {', '.join(rule['values'])}")
        if text and rule.get("type") == "datetime":
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                raise Nis2Error(f"{key} must be an ISO date and time, not {text[:40]!r}") from None
            text = _utc(_in_range(moment, key)).isoformat()
        if len(text) > rule.get("max", 100):
            raise Nis2Error(f"{key} is limited to {rule.get('max', 100)} characters")
        checked[key] = text
    return checked


def _in_range(moment: datetime, what: str) -> datetime:
    if not 2000 <= moment.year <= 2100:
        raise Nis2Error(f"{what} must be between the years 2000 and 2100")
    return moment


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Nis2Error(f"unknown time zone {name!r}") from exc


def add_month(moment: datetime, tz: str = DEFAULT_TZ) -> datetime:
    """The same local time one calendar month later (day clamped to the month's end), in UTC."""
    local = _utc(moment).astimezone(zone(tz))
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    day = min(local.day, calendar.monthrange(year, month)[1])
    wall = local.replace(tzinfo=None, year=year, month=month, day=day)
    # fold=0: a time in the spring-forward gap is read with the offset before it, which lands
    # past the gap (02:30 -> 03:30 CEST); a time that occurs twice in autumn is the first one
    return wall.replace(tzinfo=zone(tz), fold=0).astimezone(timezone.utc)


def deadlines(aware_at: datetime, tz: str = DEFAULT_TZ,
              notification_submitted: datetime | None = None) -> dict[str, datetime]:
    """UTC due times of the early warning, the notification and the final report."""
    aware = _utc(aware_at)
    notification = aware + NOTIFICATION
    return {"early_warning": aware + EARLY_WARNING, "notification": notification,
            "final": add_month(notification_submitted or notification, tz)}


@dataclass(frozen=True, slots=True)
class ReportDue:
    kind: str
    due: datetime  # UTC
    due_local: datetime
    submitted: datetime | None
    remaining_seconds: float  # negative: overdue
    overdue: bool

    @property
    def countdown(self) -> str:
        """"23 h 05 min", "-1 h 10 min" (overdue), "submitted"."""
        if self.submitted:
            return "submitted"
        seconds = int(abs(self.remaining_seconds))
        days, rest = divmod(seconds, 86400)
        text = (f"{days} d " if days else "") + f"{rest // 3600} h {rest % 3600 // 60:02d} min"
        return f"-{text}" if self.remaining_seconds < 0 else text


@dataclass(frozen=True, slots=True)
class Nis2Status:
    case_id: int
    tenant_id: str
    aware_at: datetime
    timezone: str
    suspected_malicious: bool
    cross_border: bool
    cross_border_detail: str
    summary: str
    reports: list[ReportDue]
    details: dict[str, str] = field(default_factory=dict)


def _due(row: Nis2Report, tz: str, now: datetime) -> ReportDue:
    due = _utc(row.due)
    remaining = (due - now).total_seconds()
    submitted = _utc(row.submitted) if row.submitted else None
    return ReportDue(row.kind, due, due.astimezone(zone(tz)), submitted, remaining,
                     submitted is None and remaining < 0)


def _entry(session: Session, case: Case, actor: str, key: str, params: dict[str, timeline.Param],
           data: dict[str, object]) -> None:
    timeline.add(session, case.id, case.tenant_id, actor, "nis2", key, params, data)


def flag(engine: Engine, tenants: Tenants, case_id: int, actor: str, aware_at: datetime, *,
         tz: str = DEFAULT_TZ, suspected_malicious: bool = False, cross_border: bool = False,
         cross_border_detail: str = "", summary: str = "", details: dict[str, Any] | None = None) -> bool:
    """Flag a case as a significant incident; the deadlines start from ``aware_at``."""
    zone(tz)
    aware = _utc(_in_range(aware_at, "aware_at"))
    extra = {k: v for k, v in check_details(details or {}).items() if v}
    with Session(engine) as session, session.begin():
        case = session.scalar(scoped(select(Case).where(Case.id == case_id), Case.tenant_id, tenants))
        if case is None:
            return False
        if session.get(Nis2Incident, case_id) is not None:
            raise Nis2Error(f"case {case_id} is already flagged as a significant incident")
        session.add(Nis2Incident(case_id=case_id, tenant_id=case.tenant_id, aware_at=aware, timezone=tz,
                                 suspected_malicious=suspected_malicious, cross_border=cross_border,
                                 cross_border_detail=cross_border_detail, summary=summary, details=extra,
                                 flagged_by=actor, flagged=datetime.now(timezone.utc)))
        session.flush()
        for kind, due in deadlines(aware, tz).items():
            session.add(Nis2Report(case_id=case_id, tenant_id=case.tenant_id, kind=kind, due=due))
        _entry(session, case, actor, "nis2.flagged", {"aware": aware.isoformat()},
               {"aware_at": aware.isoformat(), "timezone": tz})
        audit.record(session, actor, "nis2.flag", f"case:{case_id}", case.tenant_id,
                     {"aware_at": aware.isoformat(), "timezone": tz, "cross_border": cross_border,
                      "suspected_malicious": suspected_malicious})
        return True


def update(engine: Engine, tenants: Tenants, case_id: int, actor: str, *, suspected_malicious: bool | None = None,
           cross_border: bool | None = None, cross_border_detail: str | None = None,
           summary: str | None = None, details: dict[str, Any] | None = None) -> bool:
    """Change what is given; ``details`` are merged (an empty value removes one)."""
    checked = check_details(details or {})
    with Session(engine) as session, session.begin():
        incident = _incident(session, tenants, case_id)
        changes: dict[str, Any] = {k: v for k, v in (
            ("suspected_malicious", suspected_malicious), ("cross_border", cross_border),
            ("cross_border_detail", cross_border_detail), ("summary", summary)) if v is not None}
        for key, value in changes.items():
            setattr(incident, key, value)
        if checked:
            merged = {**(incident.details or {}), **checked}
            incident.details = {k: v for k, v in merged.items() if v}
            changes["details"] = sorted(checked)
        if changes:
            audit.record(session, actor, "nis2.update", f"case:{case_id}", incident.tenant_id,
                         {k: v for k, v in changes.items() if k not in ("summary", "cross_border_detail")})
        return True


def _incident(session: Session, tenants: Tenants, case_id: int) -> Nis2Incident:
    incident = session.scalar(scoped(select(Nis2Incident).where(Nis2Incident.case_id == case_id),
                                     Nis2Incident.tenant_id, tenants))
    if incident is None:
        raise Nis2Error(f"case {case_id} is not flagged as a significant incident")
    return incident


def request_intermediate(engine: Engine, tenants: Tenants, case_id: int, due: datetime, actor: str) -> int:
    """The authority asked for an intermediate report by ``due``."""
    _in_range(due, "due")
    with Session(engine) as session, session.begin():
        incident = _incident(session, tenants, case_id)
        row = Nis2Report(case_id=case_id, tenant_id=incident.tenant_id, kind="intermediate", due=_utc(due),
                         requested=datetime.now(timezone.utc))
        session.add(row)
        session.flush()
        case = session.get(Case, case_id)
        assert case is not None
        _entry(session, case, actor, "nis2.intermediate", {"due": _utc(due).isoformat()}, {"report": row.id})
        audit.record(session, actor, "nis2.intermediate", f"case:{case_id}", incident.tenant_id,
                     {"due": _utc(due).isoformat()})
        return row.id


def mark_submitted(engine: Engine, tenants: Tenants, case_id: int, kind: str, actor: str,
                   at: datetime | None = None) -> None:
    """Record that a report was sent; sending the notification moves the final report's
    deadline to one month after it."""
    if kind not in KINDS:
        raise Nis2Error(f"report kind must be one of {', '.join(KINDS)}")
    moment = _utc(_in_range(at, "at")) if at else datetime.now(timezone.utc)
    with Session(engine) as session, session.begin():
        incident = _incident(session, tenants, case_id)
        row = session.scalar(select(Nis2Report).where(Nis2Report.case_id == case_id, Nis2Report.kind == kind,
                                                      Nis2Report.submitted.is_(None)).order_by(Nis2Report.due))
        if row is None:
            raise Nis2Error(f"no {kind} report is waiting to be sent")
        row.submitted, row.submitted_by = moment, actor
        if kind == "notification":
            final = session.scalar(select(Nis2Report).where(Nis2Report.case_id == case_id, Nis2Report.kind == "final"))
            if final is not None and final.submitted is None:
                final.due = add_month(moment, incident.timezone)
        case = session.get(Case, case_id)
        assert case is not None
        _entry(session, case, actor, "nis2.sent", {"kind": timeline.word(kind)}, {"report": row.id})
        audit.record(session, actor, "nis2.submitted", f"case:{case_id}", incident.tenant_id,
                     {"kind": kind, "at": moment.isoformat()})


def status(engine: Engine, tenants: Tenants, case_id: int, now: datetime | None = None) -> Nis2Status | None:
    """The incident's reports with their countdowns (``None``: case not flagged or not visible)."""
    moment = _utc(now) if now else datetime.now(timezone.utc)
    with Session(engine) as session:
        incident = session.scalar(scoped(select(Nis2Incident).where(Nis2Incident.case_id == case_id),
                                         Nis2Incident.tenant_id, tenants))
        if incident is None:
            return None
        rows = session.scalars(select(Nis2Report).where(Nis2Report.case_id == case_id).order_by(Nis2Report.due))
        reports = [_due(row, incident.timezone, moment) for row in rows]
        return Nis2Status(case_id, incident.tenant_id, _utc(incident.aware_at), incident.timezone,
                          incident.suspected_malicious, incident.cross_border, incident.cross_border_detail,
                          incident.summary, reports, dict(incident.details or {}))


def open_deadlines(engine: Engine, tenants: Tenants, now: datetime | None = None) -> list[tuple[int, ReportDue]]:
    """Every report not yet sent, soonest first, with its case: the overview's countdowns."""
    moment = _utc(now) if now else datetime.now(timezone.utc)
    with Session(engine) as session:
        query = scoped(select(Nis2Report, Nis2Incident.timezone).join(Nis2Incident, Nis2Incident.case_id == Nis2Report.case_id)
                       .where(Nis2Report.submitted.is_(None)), Nis2Report.tenant_id, tenants)
        return [(row.case_id, _due(row, tz, moment)) for row, tz in session.execute(query.order_by(Nis2Report.due))]
