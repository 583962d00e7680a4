"""The roadmap export (CSV, PDF) and the monthly management report (PDF) of a tenant, built
from the stores; the faces only choose the tenant, the language and where to write."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from hygie.prepare.assessment import assess, previous_assessment, score_trend
from hygie.prepare.board import build_board, is_critical
from hygie.prepare.charts import radar_svg, trend_svg
from hygie.prepare.evidence import EvidenceConfig, Finding, SilentSource, run_checks, silent_sources
from hygie.prepare.kpis import KpiDefinitions, alerts_by_level, format_duration
from hygie.prepare.loader import Catalog
from hygie.prepare.render import labels, render_pdf
from hygie.prepare.roadmap import CostModel, Roadmap, build
from hygie.prepare.scoring import Assessment, compare
from hygie.prepare.telemetry import EventStoreTelemetry
from hygie.prepare.trends import Series
from hygie.store.state.models_prepare import AssessmentCampaign, AssessmentEvidence
from hygie.store.state.prepare_metrics import asset_data, case_timings, nis2_reports
from hygie.store.state.prepare_store import PrepareStore


# KPIs read at the month's end, shown with the month's response times at the top of the report
MONTH_KPIS = ("backup_success", "backup_age", "restore_test_age", "restore_test_success", "silent_sources")


@dataclass(slots=True)
class RoadmapExport:
    campaign: AssessmentCampaign
    assessment: Assessment
    roadmap: Roadmap
    previous: tuple[AssessmentCampaign, Assessment] | None
    evidence: list[AssessmentEvidence] = field(default_factory=list)


def campaign_roadmap(store: PrepareStore, catalog: Catalog, costs: CostModel, tenant: str,
                     campaign: AssessmentCampaign, start: date | None = None) -> RoadmapExport:
    result = assess(store, catalog, tenant, campaign)
    roadmap = build(catalog, result, campaign.size, costs, start or date.today())
    return RoadmapExport(campaign, result, roadmap, previous_assessment(store, catalog, tenant, campaign),
                         store.evidence(tenant, campaign.id))


def roadmap_context(catalog: Catalog, tenant: str, export: RoadmapExport, lang: str) -> dict[str, Any]:
    frameworks = []
    for framework_id, total in export.assessment.frameworks.items():
        framework = catalog.frameworks[framework_id]
        frameworks.append({"title": framework.title, "score": total, "domains": [
            {"title": d.title, "score": export.assessment.domains[(framework_id, d.id)]}
            for d in framework.domains
            if export.assessment.domains[(framework_id, d.id)].questions]})
    changes = []
    if export.previous is not None:
        for change in compare(export.assessment, export.previous[1]):
            framework = catalog.frameworks[change.framework]
            label = framework.title.get(lang) if change.domain is None else \
                "  " + framework.domain(change.domain).title.get(lang)
            changes.append({"label": label, "domain": change.domain, "before": change.before,
                            "after": change.after, "delta": change.delta})
    return {"tenant": tenant, "campaign": export.campaign, "frameworks": frameworks,
            "changes": changes, "roadmap": export.roadmap, "evidence": export.evidence,
            "radars": campaign_radars(catalog, export.campaign, export.assessment, export.previous, lang),
            "totals": {"first": export.roadmap.totals(first_only=True),
                       "all": export.roadmap.totals()}}


def roadmap_pdf(catalog: Catalog, tenant: str, export: RoadmapExport, lang: str) -> bytes:
    return render_pdf("roadmap.html", roadmap_context(catalog, tenant, export, lang), lang)


def campaign_radars(catalog: Catalog, campaign: AssessmentCampaign, result: Assessment,
                    previous: tuple[AssessmentCampaign, Assessment] | None, lang: str) -> dict[str, str]:
    """SVG radar per framework of the campaign: score by domain, the previous campaign dashed."""
    legend = (labels()[lang]["this_campaign"], labels()[lang]["previous_campaign"])
    charts = {}
    for framework_id in campaign.frameworks:
        framework = catalog.frameworks.get(framework_id)
        if framework is None:
            continue
        before = previous[1].domains if previous else {}
        charts[framework_id] = radar_svg(
            [(d.title.get(lang), result.domains[(framework_id, d.id)].score,
              before[(framework_id, d.id)].score if (framework_id, d.id) in before else None)
             for d in framework.domains if result.domains[(framework_id, d.id)].questions],
            legend=legend if previous else None, title=framework.title.get(lang))
    return charts


def report_context(store: PrepareStore, catalog: Catalog, costs: CostModel,
                   definitions: KpiDefinitions, tenant: str, since: datetime, until: datetime,
                   rule_tags: Iterable[Iterable[str]], findings: dict[str, Finding],
                   silent: list[SilentSource], lang: str, telemetry: object | None = None,
                   months: int = 6, settings: EvidenceConfig | None = None) -> dict[str, Any]:
    """Everything the monthly report shows: the KPIs of the month with their trend over
    ``months`` months, top risks (open critical early warnings, largest roadmap gaps), the
    month's incidents (cases, NIS 2 reports), roadmap progress, scores with their radar,
    coverage and telemetry findings."""
    last_moment = until - timedelta(microseconds=1)  # the period ends before until
    board = build_board(store, catalog, definitions, tenant, last_moment, count=months, unit="month",
                        rule_tags=rule_tags, telemetry=telemetry, settings=settings)
    alerts = store.alert_timings(tenant, since, until)
    names = definitions.series
    month_values = [(names.get(s.key, {}).get(lang, s.key),
                     "—" if s.points[-1][1] is None else _series_format(s, lang)(s.points[-1][1]))
                    for s in board.series if s.key in MONTH_KPIS]
    trends = [{"name": names.get(s.key, {}).get(lang, s.key), "series": s, "latest": s.latest,
               "chart": trend_svg(s.points, fmt=_series_format(s, lang), width=230, height=70)}
              for s in board.series]
    top, progress, radars, current = [], None, {}, None
    campaigns = store.campaigns(tenant)
    if campaigns:
        export = campaign_roadmap(store, catalog, costs, tenant, campaigns[0], last_moment.date())
        top = export.roadmap.items[:5]
        current = export.campaign
        radars = campaign_radars(catalog, export.campaign, export.assessment, export.previous, lang)
        if export.previous is not None:
            before = build(catalog, export.previous[1], export.previous[0].size, costs,
                           export.roadmap.start)
            progress = roadmap_progress(before, export.assessment)
    warnings = sorted((w for w in asset_data(store.engine, tenant).open_warnings
                       if is_critical(w, definitions)), key=lambda w: (-w.rank, w.created))
    return {
        "tenant": tenant, "since": since, "until": until, "last_day": last_moment.date(),
        "board": board, "month": board.latest, "trends": trends, "month_values": month_values,
        "durations": {f"{k}.{m}": format_duration(v[m].mean, lang)
                      for k, v in board.latest.items() for m in v},
        "medians": {f"{k}.{m}": format_duration(v[m].median, lang)
                    for k, v in board.latest.items() for m in v},
        "levels": alerts_by_level(alerts), "top": top, "warnings": warnings[:10],
        "critical_count": len(warnings), "progress": progress,
        "opened": case_timings(store.engine, tenant, since, until),
        "closed": case_timings(store.engine, tenant, since, until, closed_in=True),
        "nis2": nis2_reports(store.engine, tenant, since, until),
        "radars": radars, "campaign": current, "catalog": catalog,
        "trend": score_trend(store, catalog, tenant),
        "tactics": board.tactics, "sector": board.sector, "landscape": board.landscape,
        "findings": list(findings.values()), "silent": silent,
    }


def _series_format(series: Series, lang: str) -> Callable[[float], str]:
    if series.unit == "h":
        return lambda v: format_duration(timedelta(hours=v), lang)
    if series.unit == "%":
        return lambda v: f"{v:.0f} %"
    return lambda v: f"{v:.0f}"


def roadmap_progress(before: Roadmap, now: Assessment) -> dict[str, int]:
    """Actions of an earlier roadmap: *done* when every question behind them is now fully in
    place, *open* while one still has a gap, *not re-assessed* when none has an answer now."""
    counts = {"done": 0, "open": 0, "unassessed": 0}
    for item in before.items:
        fractions = [now.questions[q].fraction for q in item.questions if q in now.questions]
        known = [f for f in fractions if f is not None]
        state = "unassessed" if not known else "open" if min(known) < 1.0 else "done"
        counts[state] += 1
    return counts


def report_pdf(context: dict[str, Any], lang: str) -> bytes:
    return render_pdf("report.html", context, lang)


def monthly_report(store: PrepareStore, catalog: Catalog, costs: CostModel, definitions: KpiDefinitions,
                   settings: EvidenceConfig, events: Path, tenant: str, since: datetime, until: datetime,
                   rule_tags: Iterable[Iterable[str]], lang: str) -> bytes:
    """The monthly report of ``tenant`` as PDF: the telemetry checks run at the end of the month
    over the event store under ``events``, with the asset inventory."""
    telemetry = EventStoreTelemetry(events)
    try:
        assets = asset_data(store.engine, tenant)
        findings = run_checks(telemetry, tenant, settings, until, assets=assets)
        _, silent = silent_sources(telemetry, tenant, settings.silent_sources, until)
        context = report_context(store, catalog, costs, definitions, tenant, since, until, rule_tags,
                                 findings, silent, lang, telemetry, settings=settings)
    finally:
        telemetry.close()
    return report_pdf(context, lang)
