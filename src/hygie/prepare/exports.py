"""The roadmap export (CSV, PDF) and the monthly management report (PDF) of a tenant, built
from the stores; the faces only choose the tenant, the language and where to write."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from hygie.prepare.assessment import assess, previous_assessment, score_trend
from hygie.prepare.evidence import Finding, SilentSource
from hygie.prepare.kpis import (KpiDefinitions, alerts_by_level, format_duration,
                                response_times, sector_coverage, tactic_coverage)
from hygie.prepare.loader import Catalog
from hygie.prepare.render import render_pdf
from hygie.prepare.roadmap import CostModel, Roadmap, build
from hygie.prepare.scoring import Assessment, compare
from hygie.store.state.models_prepare import AssessmentCampaign
from hygie.store.state.prepare_store import PrepareStore


@dataclass(slots=True)
class RoadmapExport:
    campaign: AssessmentCampaign
    assessment: Assessment
    roadmap: Roadmap
    previous: tuple[AssessmentCampaign, Assessment] | None


def campaign_roadmap(store: PrepareStore, catalog: Catalog, costs: CostModel, tenant: str,
                     campaign: AssessmentCampaign, start: date | None = None) -> RoadmapExport:
    result = assess(store, catalog, tenant, campaign)
    roadmap = build(catalog, result, campaign.size, costs, start or date.today())
    return RoadmapExport(campaign, result, roadmap,
                         previous_assessment(store, catalog, tenant, campaign))


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
            "changes": changes, "roadmap": export.roadmap,
            "totals": {"first": export.roadmap.totals(first_only=True),
                       "all": export.roadmap.totals()}}


def roadmap_pdf(catalog: Catalog, tenant: str, export: RoadmapExport, lang: str) -> bytes:
    return render_pdf("roadmap.html", roadmap_context(catalog, tenant, export, lang), lang)


def report_context(store: PrepareStore, catalog: Catalog, costs: CostModel,
                   definitions: KpiDefinitions, tenant: str, since: datetime, until: datetime,
                   rule_tags: Iterable[Iterable[str]], findings: dict[str, Finding],
                   silent: list[SilentSource], lang: str) -> dict[str, Any]:
    """Everything the monthly report shows: response times and alerts of the period, the top
    roadmap actions and progress since the previous campaign, score trend, coverage, telemetry."""
    alerts = store.alert_timings(tenant, since, until)
    times = response_times(alerts)
    tags = [list(t) for t in rule_tags]
    top, progress = [], None
    campaigns = store.campaigns(tenant)
    if campaigns:
        export = campaign_roadmap(store, catalog, costs, tenant, campaigns[0],
                                  until.astimezone(timezone.utc).date())
        top = export.roadmap.items[:5]
        if export.previous is not None:
            before = build(catalog, export.previous[1], export.previous[0].size, costs,
                           export.roadmap.start)
            progress = roadmap_progress(before, export.assessment)
    return {
        "tenant": tenant, "since": since, "until": until, "times": times,
        "last_day": (until - timedelta(microseconds=1)).date(),  # the period ends before until
        "durations": {k: format_duration(getattr(times, k), lang) for k in ("mttd", "mtta", "mttr")},
        "levels": alerts_by_level(alerts), "top": top, "progress": progress,
        "trend": score_trend(store, catalog, tenant),
        "tactics": tactic_coverage(tags, definitions), "sector": sector_coverage(tags, definitions),
        "findings": list(findings.values()), "silent": silent,
    }


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
