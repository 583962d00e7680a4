"""Drafting a NIS 2 report from a flagged case, in French or English, as JSON and PDF.

The draft gathers what the authority asks for (what happened, detection, suspected cause,
cross-border impact, severity and impact on care, indicators, measures taken) from the case's
alerts, observables, continuity records and timeline; the analyst reviews and sends it. Texts
and layout are data: ``templates/nis2_texts.json`` and ``templates/nis2_report.html``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.respond import cases, continuity, nis2
from hygie.store.state.models import Tenant

TEMPLATES = Path(__file__).with_name("templates")
LANGS = ("fr", "en")
IOC_KINDS = ("ip", "domain", "url", "hash", "file")  # hosts and users are ours, not indicators
MEASURE_PREFIXES = ("Action done", "Rollback done", "Step approved", "Task done")


class ReportError(ValueError):
    """A report that cannot be drafted (case not flagged, unknown language or kind)."""


@lru_cache(maxsize=1)
def texts() -> dict[str, Any]:
    return json.loads((TEMPLATES / "nis2_texts.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _local(moment: datetime | None, tz: str) -> str | None:
    if moment is None:
        return None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(nis2.zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


def _duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 1440)
    return (f"{days} d " if days else "") + f"{rest // 60} h {rest % 60:02d} min"


def draft(engine: Engine, tenants: frozenset[str] | None, case_id: int, kind: str, lang: str = "fr",
          now: datetime | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (the JSON export, and what the PDF shows)."""
    if lang not in LANGS:
        raise ReportError(f"language must be one of {', '.join(LANGS)}")
    if kind not in nis2.KINDS:
        raise ReportError(f"report kind must be one of {', '.join(nis2.KINDS)}")
    moment = now or datetime.now(timezone.utc)
    state = nis2.status(engine, tenants, case_id, moment)
    view = cases.get_case(engine, tenants, case_id)
    if state is None or view is None:
        raise ReportError(f"case {case_id} is not flagged as a significant incident (or not visible)")
    tz = state.timezone
    with Session(engine) as session:
        entity = session.scalar(select(Tenant.name).where(Tenant.id == view.case.tenant_id)) or view.case.tenant_id
    due = next((r for r in state.reports if r.kind == kind and not r.submitted), None) or \
        next((r for r in state.reports if r.kind == kind), None)
    first_alert = min((a.first_seen for a in view.alerts), default=None)
    services = [{"service": s.service, "current": s.current, "first_impact": s.first_impact,
                 "first_impact_local": _local(s.first_impact, tz), "recovered": s.recovered,
                 "recovered_local": _local(s.recovered, tz), "recovery_seconds": s.recovery_seconds,
                 "recovery": _duration(s.recovery_seconds), "down": _duration(s.down_seconds),
                 "degraded": _duration(s.degraded_seconds)}
                for s in continuity.summary(engine, tenants, case_id, moment)]
    measures = [{"at": e.created, "at_local": _local(e.created, tz), "text": e.text, "author": e.author}
                for e in view.timeline if e.text.startswith(MEASURE_PREFIXES)]
    what = state.summary or view.case.description or view.case.title
    report: dict[str, Any] = {
        "format": "hygie-nis2-report/1", "kind": kind, "lang": lang, "entity": entity,
        "tenant": view.case.tenant_id, "generated": moment, "generated_local": _local(moment, tz),
        "case": {"id": view.case.id, "title": view.case.title, "status": view.case.status},
        "aware_at": state.aware_at, "aware_at_local": _local(state.aware_at, tz), "timezone": tz,
        "due": due.due if due else None, "due_local": _local(due.due, tz) if due else None,
        "what_happened": what,
        "alerts": [{"id": a.id, "rule_id": a.rule_id, "title": a.title, "level": a.level, "host": a.host,
                    "first_seen": a.first_seen, "first_seen_local": _local(a.first_seen, tz)} for a in view.alerts],
        "detection": {"first_alert": first_alert, "first_alert_local": _local(first_alert, tz),
                      "case_opened": view.case.created, "case_opened_local": _local(view.case.created, tz)},
        "suspected_malicious": state.suspected_malicious, "cross_border": state.cross_border,
        "cross_border_detail": state.cross_border_detail,
        "severity": view.case.severity, "care_impact": list(view.case.care_impact), "services": services,
        "iocs": [{"kind": o.kind, "value": o.value} for o in view.observables if o.kind in IOC_KINDS],
        "measures": measures,
        "deadlines": [{"kind": r.kind, "due": r.due, "due_local": _local(r.due, tz), "submitted": r.submitted}
                      for r in state.reports],
    }
    return report


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
                      ensure_ascii=False, indent=2)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def to_html(report: dict[str, Any]) -> str:
    return _environment().get_template("nis2_report.html").render(report=report, t=texts()[report["lang"]],
                                                                  lang=report["lang"])


def to_pdf(report: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # heavy: loaded only when a PDF is asked for

    return HTML(string=to_html(report)).write_pdf()  # type: ignore[no-any-return]
