"""Drafting a NIS 2 report from a flagged case, in French or English, as JSON and PDF.

The draft gathers what the authority asks for (what happened, detection, suspected cause,
cross-border impact, severity and impact on care, indicators, measures taken) from the case's
alerts, observables, continuity records and timeline, plus the details the analyst added to
the incident (contact, threat type, root cause...); the analyst reviews and sends it. Each
report kind lists its fields, labelled and with their legal basis, in
``templates/nis2_fields.json``; a field with nothing to put in it is marked "to complete", so a
gap is visible rather than silently absent. Texts and layout are data:
``templates/nis2_texts.json``, ``nis2_fields.json`` and ``nis2_report.html``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from hygie.respond import cases, continuity, nis2, timeline
from hygie.store.state.models import Tenant

TEMPLATES = Path(__file__).with_name("templates")
LANGS = ("fr", "en")
IOC_KINDS = ("ip", "domain", "url", "hash", "file")  # hosts and users are ours, not indicators
MEASURE_PREFIXES = ("Action done", "Rollback done", "Step approved", "Task done")  # lines written without a key
MEASURE_KEYS = ("action.done", "rollback.done", "step.approved")


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
    measures = [{"at": e.created, "at_local": _local(e.created, tz), "text": timeline.entry_text(e, lang),
                 "author": e.author} for e in view.timeline
                if (e.data or {}).get("msg") in MEASURE_KEYS or
                (not (e.data or {}).get("msg") and e.text.startswith(MEASURE_PREFIXES))]
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
        "details": dict(state.details),
    }
    report["fields"] = _fields(report, kind, lang)
    report["progress_report"] = kind == "final" and state.details.get("status") != "resolved"
    report["missing"] = [f["id"] for f in report["fields"] if f["missing"]]
    return report


def _fields(report: dict[str, Any], kind: str, lang: str) -> list[dict[str, Any]]:
    """The report's fields in order, each labelled, with its basis and value (``missing``
    when there is nothing to put in it yet)."""
    catalog = nis2.report_fields()
    words, t, details, tz = catalog["words"][lang], texts()[lang], report["details"], report["timezone"]
    start = details.get("incident_start")
    first = report["detection"]["first_alert_local"]
    colon = " : " if lang == "fr" else ": "
    values: dict[str, Any] = {
        "entity": report["entity"],
        "entity_category": words.get(details.get("entity_category", ""), ""),
        "sector": words["health"],
        "contact": details.get("contact", ""),
        "case": f"#{report['case']['id']} — {report['case']['title']}",
        "aware_at": report["aware_at_local"],
        "incident_start": _local(datetime.fromisoformat(start), tz) if start else
        (f"{first} {words['first_alert_note']}" if first else ""),
        "detected_at": first or report["detection"]["case_opened_local"],
        "summary": report["what_happened"],
        "suspected_malicious": t["malicious"] if report["suspected_malicious"] else t["not_malicious"],
        "cross_border": " ".join(filter(None, [t["cross_yes"] if report["cross_border"] else t["cross_no"],
                                                report["cross_border_detail"]])),
        "status": words.get(details.get("status", ""), ""),
        "assistance": details.get("assistance", ""),
        "severity_impact": f"{t['severity_label']}{colon}{words.get(report['severity'], report['severity'])}" +
        (f" — {t['services']}{colon}{', '.join(report['care_impact'])}" if report["care_impact"] else ""),
        "services": report["services"], "iocs": report["iocs"], "measures": report["measures"],
        "alerts": report["alerts"],
        "users_affected": details.get("users_affected", ""),
        "mitigation_ongoing": details.get("mitigation_ongoing", ""),
        "description": details.get("description", ""),
        "threat_type": details.get("threat_type", ""),
        "root_cause": details.get("root_cause", ""),
        "personal_data": words.get(details.get("personal_data", ""), ""),
        "other_declarations": details.get("other_declarations", ""),
    }
    found = []
    for name in catalog["reports"][kind]:
        spec = catalog["fields"][name]
        value = values[name]
        basis = spec.get(f"basis_{lang}", spec["basis"])
        found.append({"id": name, "label": spec[lang], "basis": basis, "value": value,
                      "missing": value in ("", None) or (value == [] and not spec.get("empty_ok"))})
    return found


def json_ready(report: dict[str, Any]) -> dict[str, Any]:
    """The report with its times as ISO strings (what the JSON export holds)."""
    return json.loads(to_json(report))  # type: ignore[no-any-return]


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v),
                      ensure_ascii=False, indent=2)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))


def to_html(report: dict[str, Any]) -> str:
    return _environment().get_template("nis2_report.html").render(
        report=report, t=texts()[report["lang"]], w=nis2.report_fields()["words"][report["lang"]], lang=report["lang"])


def to_pdf(report: dict[str, Any]) -> bytes:
    from weasyprint import HTML  # heavy: loaded only when a PDF is asked for

    return HTML(string=to_html(report)).write_pdf()  # type: ignore[no-any-return]
