"""Continuity KPIs from Hygie's own data: response times from the alerts, detection coverage by
ATT&CK tactic of the enabled rules and against the sector's ransomware techniques, silent
sources, and the assessment score over campaigns.

Definitions (so a figure can be checked by hand):

* **MTTD** (detect): mean of ``first_seen - event_time`` over alerts with a readable event time
  (a clock ahead of ours gives a negative delay, counted as 0).
* **MTTA** (acknowledge): mean of ``acknowledged - first_seen`` over acknowledged alerts.
* **MTTR** (resolve): mean of ``closed - first_seen`` over closed alerts.
  Both use the triage timestamps of the alerts table when the schema has them; without them
  they are "no data", never guessed from ``last_seen``.
* The same three **for cases** (``case_durations``): detect = first alert ``first_seen`` minus
  the earliest event time of its alerts; acknowledge = the first human action (the case opened,
  one of its alerts acknowledged, or a status change, whichever came first) minus the first
  alert; resolve = ``closed`` minus the first alert (the case opening when it has no alert).
  Each figure is given as mean and median (``Stat``): one forgotten alert moves a mean, not a
  median.
* **Coverage**: per tactic, the number of enabled rules tagged with it (``attack.<tactic>``,
  with ``-`` or ``_``), and which techniques of the sector's threat landscape
  (``threat_landscape.yml``, ``landscape.py``) at least one rule is tagged with (a rule on a
  sub-technique covers its technique and the reverse, since Sigma rules tag either).

The rules' tags are an input (a list per rule enabled for the tenant): this stage does not
import the detection stage.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict

from hygie.core.event import parse_time
from hygie.prepare import landscape as sector
from hygie.prepare.landscape import Landscape, SectorCoverage, Technique
from hygie.store.state.prepare_metrics import CaseTiming
from hygie.store.state.prepare_store import AlertTiming

DEFINITIONS = Path(__file__).with_name("kpis.yml")


class Tactic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    fr: str
    en: str


class KpiDefinitions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tactics: list[Tactic]
    landscape: Landscape
    critical_warning_rank: int = 60
    series: dict[str, dict[str, str]] = {}

    @property
    def sector_techniques(self) -> list[Technique]:
        return self.landscape.techniques


def load_definitions(path: Path = DEFINITIONS, landscape: Path | None = None) -> KpiDefinitions:
    """The KPI definitions, with the sector's threat landscape of ``landscape`` (default: the
    shipped one). Raises ValueError naming the file for a bad landscape."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return KpiDefinitions.model_validate({**data, "landscape": sector.load_landscape(landscape)})


@dataclass(frozen=True, slots=True)
class ResponseTimes:
    mttd: timedelta | None
    mtta: timedelta | None
    mttr: timedelta | None
    detected: int  # alerts the MTTD is over
    acknowledged: int
    closed: int
    alerts: int


def _mean(values: Sequence[timedelta]) -> timedelta | None:
    return sum(values, timedelta()) / len(values) if values else None


def response_times(alerts: Iterable[AlertTiming]) -> ResponseTimes:
    detect, ack, resolve = [], [], []
    count = 0
    for alert in alerts:
        count += 1
        happened = parse_time(alert.event_time) if alert.event_time else None
        if happened is not None:
            detect.append(max(alert.first_seen - happened, timedelta()))
        if alert.acknowledged is not None:
            ack.append(max(alert.acknowledged - alert.first_seen, timedelta()))
        if alert.closed is not None:
            resolve.append(max(alert.closed - alert.first_seen, timedelta()))
    return ResponseTimes(_mean(detect), _mean(ack), _mean(resolve), len(detect), len(ack),
                         len(resolve), count)


MEASURES = ("detect", "acknowledge", "resolve")


@dataclass(frozen=True, slots=True)
class Stat:
    mean: timedelta | None
    median: timedelta | None
    count: int


def stat(values: Sequence[timedelta]) -> Stat:
    if not values:
        return Stat(None, None, 0)
    ordered = sorted(values)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return Stat(_mean(ordered), median, len(ordered))


def alert_durations(alerts: Iterable[AlertTiming]) -> dict[str, list[timedelta]]:
    """Per measure (``MEASURES``), the delays of each alert that has one."""
    out: dict[str, list[timedelta]] = {m: [] for m in MEASURES}
    for alert in alerts:
        happened = parse_time(alert.event_time) if alert.event_time else None
        if happened is not None:
            out["detect"].append(max(alert.first_seen - happened, timedelta()))
        if alert.acknowledged is not None:
            out["acknowledge"].append(max(alert.acknowledged - alert.first_seen, timedelta()))
        if alert.closed is not None:
            out["resolve"].append(max(alert.closed - alert.first_seen, timedelta()))
    return out


def case_durations(cases: Iterable[CaseTiming]) -> dict[str, list[timedelta]]:
    """Per measure, the delays of each case that has one (definitions in the module's text)."""
    out: dict[str, list[timedelta]] = {m: [] for m in MEASURES}
    for case in cases:
        times = [t for t in (parse_time(e) for e in case.event_times) if t is not None]
        if case.first_alert is not None and times:
            out["detect"].append(max(case.first_alert - min(times), timedelta()))
        if case.first_alert is not None:
            acted = min(t for t in (case.created, case.alerts_acknowledged, case.first_status_change) if t)
            out["acknowledge"].append(max(acted - case.first_alert, timedelta()))
        if case.closed is not None:
            out["resolve"].append(max(case.closed - (case.first_alert or case.created), timedelta()))
    return out


def mttx(alerts: Iterable[AlertTiming], cases: Iterable[CaseTiming]) -> dict[str, dict[str, Stat]]:
    """``{"alerts": {"detect": Stat, ...}, "cases": {...}}``."""
    return {"alerts": {m: stat(v) for m, v in alert_durations(alerts).items()},
            "cases": {m: stat(v) for m, v in case_durations(cases).items()}}


def alerts_by_level(alerts: Iterable[AlertTiming]) -> dict[str, int]:
    order = ("critical", "high", "medium", "low", "informational")
    counts = Counter(a.level for a in alerts)
    return {level: counts[level] for level in order if counts[level]} | \
        {k: v for k, v in counts.items() if k not in order}


@dataclass(frozen=True, slots=True)
class TacticCoverage:
    tactic: Tactic
    rules: int


def _norm(tag: str) -> str:
    return tag.strip().lower().replace("_", "-")


def tactic_coverage(rule_tags: Iterable[Iterable[str]],
                    definitions: KpiDefinitions) -> list[TacticCoverage]:
    """Number of enabled rules per tactic, in ATT&CK's order (a rule may count in several)."""
    counts: Counter[str] = Counter()
    for tags in rule_tags:
        counts.update({_norm(t)[len("attack."):] for t in tags if _norm(t).startswith("attack.")})
    return [TacticCoverage(t, counts[t.id]) for t in definitions.tactics]


def sector_coverage(rule_tags: Iterable[Iterable[str]],
                    definitions: KpiDefinitions) -> SectorCoverage:
    """The landscape's techniques covered and not by the rules (``landscape.sector_coverage``)."""
    return sector.sector_coverage(rule_tags, definitions.landscape)


@dataclass(frozen=True, slots=True)
class TrendPoint:
    campaign_id: int
    created: datetime
    framework: str
    score: float | None
    coverage: float


def format_duration(value: timedelta | None, lang: str = "en") -> str:
    """``3 h 05 min``, ``2 d 4 h``, ``45 s``; an em dash for no data."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    day = "j" if lang == "fr" else "d"
    if seconds >= 86400:
        return f"{seconds // 86400} {day} {seconds % 86400 // 3600} h"
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"
