"""The continuity KPIs of one tenant over time, as the console's KPI page, the API and the
monthly report show them: response times from alerts and cases (mean and median), alerts and
cases per period, the share of assets monitored, backups and restore tests, silent sources,
open critical early warnings (``continuity.py``), the assessment score over campaigns, and
detection coverage against the sector's threat landscape.

Built from the stores and, when given, the event store; each face only renders it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from hygie.prepare import continuity
from hygie.prepare.assessment import score_trend
from hygie.prepare.assets import silent_assets
from hygie.prepare.evidence import EvidenceConfig, load_config
from hygie.prepare.kpis import (
    MEASURES,
    KpiDefinitions,
    SectorCoverage,
    Stat,
    TacticCoverage,
    TrendPoint,
    alert_durations,
    case_durations,
    mttx,
    sector_coverage,
    stat,
    tactic_coverage,
)
from hygie.prepare.landscape import Landscape
from hygie.prepare.loader import Catalog
from hygie.prepare.trends import Period, Series, Unit, bucket, periods
from hygie.store.state.prepare_metrics import (
    AssetData,
    WarningInfo,
    WarningSpan,
    asset_data,
    case_timings,
    warning_spans,
)
from hygie.store.state.prepare_store import PrepareStore

MONITORED_DAYS = 7  # an asset is monitored in a period if it sent events in its last 7 days
SHORT = {"detect": "mttd", "acknowledge": "mtta", "resolve": "mttr"}


@dataclass(slots=True)
class Board:
    tenant: str
    until: datetime
    unit: Unit
    periods: list[Period]
    mttx: dict[str, dict[str, Stat]]  # over all the periods shown
    latest: dict[str, dict[str, Stat]]  # over the latest period
    series: list[Series]
    assets: int
    monitored: int | None  # None: no telemetry read
    silent: list[str]
    open_warnings: int
    critical_warnings: int
    scores: list[TrendPoint]
    tactics: list[TacticCoverage]
    sector: SectorCoverage
    notes: list[str] = field(default_factory=list)
    landscape: Landscape | None = None  # the threat landscape ``sector`` was measured against

    def series_by_key(self) -> dict[str, Series]:
        return {s.key: s for s in self.series}


def is_critical(warning: WarningInfo | WarningSpan, definitions: KpiDefinitions) -> bool:
    """Critical: ranked at least ``critical_warning_rank``, or so levelled by the intel stage."""
    return warning.rank >= definitions.critical_warning_rank or warning.level == "critical"


def _hours(value: timedelta | None) -> float | None:
    return None if value is None else round(value.total_seconds() / 3600, 2)


def monitored_share(assets: AssetData, days: dict[date, set[str]], spans: list[Period],
                    until: datetime) -> list[float | None]:
    """Per period, the share of the inventory that sent events in the ``MONITORED_DAYS`` days
    before the period's end (or ``until``); None where the event store holds nothing then."""
    out: list[float | None] = []
    for span in spans:
        sending = _sending(days, min(span.end, until))
        if sending is None or not assets.assets:
            out.append(None)
            continue
        silent = silent_assets(assets.assets, sending)
        out.append(round(100 * (len(assets.assets) - len(silent)) / len(assets.assets), 1))
    return out


def _sending(days: dict[date, set[str]], end: datetime) -> set[str] | None:
    """Hosts that sent events in the ``MONITORED_DAYS`` days before ``end`` (None: no day of
    that window has any event, so nothing can be said)."""
    last = (end - timedelta(microseconds=1)).date()
    window = [d for d in days if last - timedelta(days=MONITORED_DAYS - 1) <= d <= last]
    return set().union(*(days[d] for d in window)) if window else None


def build_board(store: PrepareStore, catalog: Catalog, definitions: KpiDefinitions, tenant: str,
                until: datetime, *, count: int = 12, unit: Unit = "month",
                rule_tags: Iterable[Iterable[str]] = (), telemetry: object | None = None,
                settings: EvidenceConfig | None = None) -> Board:
    """``rule_tags``: the tags of each rule enabled for the tenant; ``telemetry``: an
    ``EventStoreTelemetry`` (its per-day reads), or None to skip the KPIs read from the event
    store; ``settings``: the telemetry checks' queries (default: the shipped ones)."""
    spans = periods(until, count, unit)
    since = spans[0].start
    alerts = store.alert_timings(tenant, since, until)
    cases = case_timings(store.engine, tenant, since, until)
    alert_groups = bucket(alerts, lambda a: a.first_seen, spans)
    case_groups = bucket(cases, lambda c: c.created, spans)
    series: list[Series] = []
    for source, groups, durations in (("alerts", alert_groups, alert_durations),
                                      ("cases", case_groups, case_durations)):
        per_period = [durations(g) for g in groups]
        for measure in MEASURES:
            series.append(Series(f"{SHORT[measure]}_{source}", "h",
                                 [(p.label, _hours(stat(d[measure]).mean)) for p, d in zip(spans, per_period)], True))
    series.append(Series("alerts", "", [(p.label, float(len(g))) for p, g in zip(spans, alert_groups)], None))
    series.append(Series("cases", "", [(p.label, float(len(g))) for p, g in zip(spans, case_groups)], None))
    data = asset_data(store.engine, tenant)
    notes: list[str] = []
    monitored: int | None = None
    silent: list[str] = []
    if data.assets and telemetry is not None and hasattr(telemetry, "hosts_by_day"):
        days = telemetry.hosts_by_day(tenant, since - timedelta(days=MONITORED_DAYS), until)
        series.append(Series("assets_monitored", "%", list(zip([p.label for p in spans],
                                                               monitored_share(data, days, spans, until))), False))
        silent = sorted(a.host for a in silent_assets(data.assets, _sending(days, until) or set()))
        monitored = len(data.assets) - len(silent)
    elif not data.assets:
        notes.append("no asset inventory: the share of assets monitored needs 'hygie intel assets'")
    if telemetry is not None and hasattr(telemetry, "activity_by_day"):
        series += continuity.telemetry_series(telemetry, settings or load_config(), tenant, spans, until)
    series.append(Series("critical_warnings", "", list(zip(
        [p.label for p in spans], continuity.open_warnings(warning_spans(store.engine, tenant), spans, until,
                                                           lambda w: is_critical(w, definitions)))), True))
    critical = [w for w in data.open_warnings if is_critical(w, definitions)]
    tags = [list(t) for t in rule_tags]
    return Board(tenant, until, unit, spans, mttx(alerts, cases),
                 mttx(alert_groups[-1], case_groups[-1]), series, len(data.assets), monitored, silent,
                 len(data.open_warnings), len(critical), score_trend(store, catalog, tenant),
                 tactic_coverage(tags, definitions), sector_coverage(tags, definitions), notes,
                 definitions.landscape)
