"""What the faces (CLI, later the console) do with a campaign: score it from its stored answers,
import answers from YAML, store telemetry proposals, follow the score over campaigns.

Kept here rather than in each face so the console wizard and ``hygie assess`` give the same
results from the same rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from hygie.prepare.evidence import Finding, proposals
from hygie.prepare.kpis import TrendPoint
from hygie.prepare.loader import Catalog
from hygie.prepare.scoring import Assessment, check_value, score
from hygie.store.state.models_prepare import AssessmentCampaign, AssessmentProposal
from hygie.store.state.prepare_store import PrepareStore, utc


def assess(store: PrepareStore, catalog: Catalog, tenant: str,
           campaign: AssessmentCampaign) -> Assessment:
    answers = {q: row.value for q, row in store.latest_answers(tenant, campaign.id).items()}
    return score(catalog, campaign.frameworks, campaign.size, answers)


def previous_assessment(store: PrepareStore, catalog: Catalog, tenant: str,
                        campaign: AssessmentCampaign) -> tuple[AssessmentCampaign, Assessment] | None:
    previous = store.previous_campaign(tenant, campaign.id)
    if previous is None:
        return None
    return previous, assess(store, catalog, tenant, previous)


def score_trend(store: PrepareStore, catalog: Catalog, tenant: str) -> list[TrendPoint]:
    """Each campaign's framework scores, oldest first."""
    points = []
    for campaign in reversed(store.campaigns(tenant)):
        result = assess(store, catalog, tenant, campaign)
        points += [TrendPoint(campaign.id, utc(campaign.created), f, s.score, s.coverage)
                   for f, s in result.frameworks.items()]
    return points


@dataclass(slots=True)
class ImportReport:
    recorded: int = 0
    errors: list[str] | None = None


def import_answers(store: PrepareStore, catalog: Catalog, tenant: str, campaign_id: int,
                   path: Path, by: str) -> ImportReport:
    """Answers from a YAML file::

        answers:
          cis.6.4: 2
          care.ad.1: {value: 1, note: "audit planned in March"}

    Every answer is checked first; one bad answer and nothing is recorded (the file is fixed
    and imported again, without half an import to untangle)."""
    report = ImportReport(errors=[])
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        report.errors.append(f"{path}: {exc}")
        return report
    answers = data.get("answers") if isinstance(data, dict) else None
    if not isinstance(answers, dict):
        report.errors.append(f"{path}: expected a mapping 'answers: {{question id: value}}'")
        return report
    checked: list[tuple[str, str, str]] = []
    for question_id, entry in answers.items():
        value, note = (entry.get("value"), str(entry.get("note", ""))) if isinstance(entry, dict) \
            else (entry, "")
        try:
            checked.append((str(question_id), check_value(catalog, str(question_id), value), note))
        except ValueError as exc:
            report.errors.append(f"{path}: {exc}")
    if report.errors:
        return report
    for question_id, value, note in checked:
        store.record_answer(tenant, campaign_id, question_id, value, by, note=note, origin="import")
        report.recorded += 1
    return report


def store_proposals(store: PrepareStore, catalog: Catalog, tenant: str,
                    campaign: AssessmentCampaign,
                    findings: dict[str, Finding]) -> list[AssessmentProposal]:
    """Store a proposal per question the checks can answer, unless the same value is already
    pending for that question (running the checks twice does not pile up proposals)."""
    pending = {(p.question_id, p.value) for p in store.proposals(tenant, campaign.id, "pending")}
    made = []
    for proposal in proposals(catalog, campaign.frameworks, campaign.size, findings):
        if (proposal.question_id, proposal.value) in pending:
            continue
        finding = proposal.finding
        made.append(store.add_proposal(tenant, campaign.id, proposal.question_id, finding.check,
                                       proposal.value, finding.proof, finding.until,
                                       {**finding.details, "score": finding.score,
                                        "since": finding.since.isoformat() if finding.since else None}))
    return made
