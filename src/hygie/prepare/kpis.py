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
* **Coverage**: per tactic, the number of enabled rules tagged with it (``attack.<tactic>``,
  with ``-`` or ``_``), and which sector techniques at least one rule is tagged with (a rule on
  a sub-technique covers its technique and the reverse, since Sigma rules tag either).

The rules' tags are an input (a list per rule): this stage does not import the detection stage.
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
from hygie.store.state.prepare_store import AlertTiming

DEFINITIONS = Path(__file__).with_name("kpis.yml")


class Tactic(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    fr: str
    en: str


class Technique(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    name: str


class KpiDefinitions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tactics: list[Tactic]
    sector_techniques: list[Technique]


def load_definitions(path: Path = DEFINITIONS) -> KpiDefinitions:
    return KpiDefinitions.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))


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


def alerts_by_level(alerts: Iterable[AlertTiming]) -> dict[str, int]:
    order = ("critical", "high", "medium", "low", "informational")
    counts = Counter(a.level for a in alerts)
    return {level: counts[level] for level in order if counts[level]} | \
        {k: v for k, v in counts.items() if k not in order}


@dataclass(frozen=True, slots=True)
class TacticCoverage:
    tactic: Tactic
    rules: int


@dataclass(frozen=True, slots=True)
class SectorCoverage:
    covered: list[Technique]
    missing: list[Technique]

    @property
    def share(self) -> float:
        total = len(self.covered) + len(self.missing)
        return len(self.covered) / total if total else 0.0


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
    tagged = {_norm(t)[len("attack."):] for tags in rule_tags for t in tags
              if _norm(t).startswith("attack.t")}
    covered, missing = [], []
    for technique in definitions.sector_techniques:
        wanted = technique.id.lower()
        hit = any(t == wanted or t.startswith(wanted + ".") or wanted.startswith(t + ".")
                  for t in tagged)
        (covered if hit else missing).append(technique)
    return SectorCoverage(covered, missing)


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
