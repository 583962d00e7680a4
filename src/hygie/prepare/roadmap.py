"""From the gaps of a scored campaign, a prioritised, costed roadmap, and its CSV export.

Each gap is a question whose fraction (own or cross-walked) is below 1; its *gap points* are
``weight * (1 - fraction)``. Gaps are grouped by the remediation their question implies, so one
project (say, isolated backups) closes gaps in every framework at once. Order: the cost model's
``risk_order`` (ransomware risk reduction first, then care continuity, then the rest), then the
largest gap points, then the shortest deadline. Costs, effort, owner and deadline come from
``costs.yml`` (data, with its assumptions), which a user file can override entry by entry."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hygie.prepare.loader import Catalog
from hygie.prepare.schema import Size, Text
from hygie.prepare.scoring import Assessment

DEFAULT_COSTS = Path(__file__).with_name("costs.yml")
FIRST_DAYS = 90
Range = tuple[int, int]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Remediation(_Model):
    title: Text
    risk: str
    owner: Text
    due_days: int = Field(gt=0, le=3650)
    effort: dict[Size, int]
    one_off: dict[Size, Range]
    yearly: dict[Size, Range]


class CostModel(_Model):
    currency: str = "EUR"
    assumptions: list[Text]
    risk_order: list[str]
    remediations: dict[str, Remediation]


def load_costs(override: Path | None = None) -> CostModel:
    """The shipped cost model; ``override`` replaces the keys it sets, per remediation (and its
    ``assumptions`` are added to the shipped ones). Raises ValueError naming the file."""
    data = yaml.safe_load(DEFAULT_COSTS.read_text(encoding="utf-8"))
    if override is not None:
        extra = yaml.safe_load(Path(override).read_text(encoding="utf-8")) or {}
        if not isinstance(extra, dict):
            raise ValueError(f"{override}: expected a mapping")
        for key, value in extra.items():
            if key == "remediations" and isinstance(value, dict):
                for rid, entry in value.items():
                    base = data["remediations"].get(rid, {})
                    data["remediations"][rid] = {**base, **entry} if isinstance(entry, dict) else entry
            elif key == "assumptions" and isinstance(value, list):
                data["assumptions"] = data["assumptions"] + value
            else:
                data[key] = value
    try:
        model = CostModel.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{override or DEFAULT_COSTS}: {exc}") from None
    unknown = {r.risk for r in model.remediations.values()} - set(model.risk_order)
    if unknown:
        raise ValueError(f"{override or DEFAULT_COSTS}: risk classes not in risk_order: {sorted(unknown)}")
    return model


@dataclass(slots=True)
class Item:
    rank: int
    remediation: str
    title: Text
    risk: str
    gap: float  # sum of weight * (1 - fraction) over its questions
    questions: list[str]
    effort_days: int | None
    one_off: Range | None
    yearly: Range | None
    owner: Text
    due: date
    first_90_days: bool
    costed: bool  # False: the remediation has no entry in the cost model


@dataclass(slots=True)
class Roadmap:
    size: str
    start: date
    currency: str
    items: list[Item] = field(default_factory=list)
    assumptions: list[Text] = field(default_factory=list)

    def totals(self, first_only: bool = False) -> tuple[Range, Range]:
        chosen = [i for i in self.items if i.costed and (i.first_90_days or not first_only)]
        one = (sum(i.one_off[0] for i in chosen if i.one_off), sum(i.one_off[1] for i in chosen if i.one_off))
        year = (sum(i.yearly[0] for i in chosen if i.yearly), sum(i.yearly[1] for i in chosen if i.yearly))
        return one, year


def build(catalog: Catalog, assessment: Assessment, size: str, costs: CostModel,
          start: date) -> Roadmap:
    """The roadmap for the gaps of ``assessment`` at hospital ``size``, from ``start``."""
    gaps: dict[str, tuple[float, list[str]]] = {}
    for result in assessment.questions.values():
        if result.fraction is None or result.fraction >= 1.0:
            continue
        remediation = catalog.question(result.question_id).remediation
        if remediation is None:
            continue
        points, questions = gaps.get(remediation, (0.0, []))
        gaps[remediation] = (points + result.weight * (1.0 - result.fraction),
                             [*questions, result.question_id])
    order = {risk: n for n, risk in enumerate(costs.risk_order)}
    items = []
    for rid, (points, questions) in gaps.items():
        entry = costs.remediations.get(rid)
        if entry is None:
            items.append(Item(0, rid, Text(fr=rid, en=rid), "other", points, sorted(questions),
                              None, None, None, Text(fr="à désigner", en="to be named"),
                              start + timedelta(days=365), False, False))
            continue
        due = start + timedelta(days=entry.due_days)
        items.append(Item(0, rid, entry.title, entry.risk, points, sorted(questions),
                          entry.effort.get(size), entry.one_off.get(size), entry.yearly.get(size),
                          entry.owner, due, entry.due_days <= FIRST_DAYS, True))
    items.sort(key=lambda i: (order.get(i.risk, len(order)), -round(i.gap, 6), i.due, i.remediation))
    for rank, item in enumerate(items, 1):
        item.rank = rank
    return Roadmap(size, start, costs.currency, items, list(costs.assumptions))


CSV_COLUMNS = ("rank", "risk", "remediation", "title", "gap_points", "questions", "effort_days",
               "one_off_low", "one_off_high", "yearly_low", "yearly_high", "currency", "owner",
               "due", "first_90_days")


def to_csv(roadmap: Roadmap, lang: str = "en") -> str:
    """One row per remediation, amounts as plain integers (spreadsheets add the formatting)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for item in roadmap.items:
        writer.writerow([
            item.rank, item.risk, item.remediation, item.title.get(lang), f"{item.gap:.2f}",
            " ".join(item.questions), _blank(item.effort_days),
            *(_blank(item.one_off[k] if item.one_off else None) for k in (0, 1)),
            *(_blank(item.yearly[k] if item.yearly else None) for k in (0, 1)),
            roadmap.currency, item.owner.get(lang), item.due.isoformat(),
            "yes" if item.first_90_days else "no"])
    return out.getvalue()


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)
