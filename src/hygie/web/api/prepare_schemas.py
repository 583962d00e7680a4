"""Pydantic models of ``/api/v1/prepare``: self-assessment campaigns, answers with their history,
telemetry proposals, evidence, roadmap, continuity KPIs and the regional view."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Size = Literal["small", "medium", "large"]


class Bilingual(BaseModel):
    fr: str
    en: str


class FrameworkOut(BaseModel):
    id: str
    version: str
    title: Bilingual
    domains: int
    questions: int


class ScoreOut(BaseModel):
    framework: str
    domain: str | None
    score: float | None
    coverage: float
    questions: int
    answered: int


class CampaignIn(BaseModel):
    tenant: str = Field(min_length=1, max_length=64)
    frameworks: list[str] = Field(min_length=1, max_length=20)
    size: Size
    name: str = Field("", max_length=200)
    beds: int | None = Field(None, ge=0, le=1_000_000)
    sites: int | None = Field(None, ge=0, le=10_000)
    it_staff: int | None = Field(None, ge=0, le=100_000)


class CampaignOut(BaseModel):
    id: int
    tenant: str
    name: str
    frameworks: list[str]
    size: str
    beds: int | None
    sites: int | None
    it_staff: int | None
    created_by: str
    created: datetime
    closed: datetime | None
    scores: list[ScoreOut]


class AnswerIn(BaseModel):
    question_id: str = Field(min_length=1, max_length=100)
    value: str = Field(min_length=1, max_length=10, description="A level of the question's scale, or 'na'")
    note: str = Field("", max_length=2000)


class AnswerOut(BaseModel):
    id: int
    question_id: str
    value: str
    note: str
    answered_by: str
    answered: datetime
    origin: str
    proposal_id: int | None


class CampaignDetail(CampaignOut):
    domains: list[ScoreOut]
    answers: list[AnswerOut]
    previous_campaign: int | None
    pending_proposals: int
    evidence: int


class ProposalOut(BaseModel):
    id: int
    campaign_id: int
    question_id: str
    check: str
    value: str
    proof: str
    observed: datetime
    status: str
    decided_by: str | None
    decided: datetime | None
    final_value: str | None
    reason: str


class DecisionIn(BaseModel):
    value: str | None = Field(None, min_length=1, max_length=10, description="Omit to confirm; another level overrides")
    reason: str = Field("", max_length=2000, description="Required to override")


class EvidenceOut(BaseModel):
    id: int
    campaign_id: int
    question_id: str
    kind: Literal["file", "link", "note"]
    filename: str | None
    size: int | None
    sha256: str | None
    url: str | None
    note: str
    added_by: str
    added: datetime


class RoadmapItemOut(BaseModel):
    rank: int
    remediation: str
    title: Bilingual
    risk: str
    gap: float
    questions: list[str]
    effort_days: int | None
    one_off: tuple[int, int] | None
    yearly: tuple[int, int] | None
    owner: Bilingual
    due: date
    first_90_days: bool
    costed: bool


class RoadmapOut(BaseModel):
    campaign_id: int
    size: str
    start: date
    currency: str
    items: list[RoadmapItemOut]


class StatOut(BaseModel):
    mean_seconds: float | None
    median_seconds: float | None
    count: int


class SeriesOut(BaseModel):
    key: str
    name: Bilingual | None
    unit: str
    points: list[tuple[str, float | None]]
    latest: float | None
    direction: Literal["up", "down", "flat"] | None
    better: bool | None


class TechniqueOut(BaseModel):
    id: str
    name: str
    rules: int = Field(description="enabled rules of the tenant tagged with it")


class LandscapeGroupOut(BaseModel):
    id: str
    title: Bilingual
    sources: list[str]
    covered: list[TechniqueOut]
    missing: list[TechniqueOut]


class LandscapeSourceOut(BaseModel):
    id: str
    title: str
    publisher: str
    published: str
    url: str


class KpisOut(BaseModel):
    tenant: str
    unit: Literal["month", "week"]
    periods: list[str]
    response: dict[str, dict[str, StatOut]] = Field(description="{alerts|cases: {detect|acknowledge|resolve: stat}}")
    series: list[SeriesOut]
    assets: int
    assets_monitored: int | None
    silent_assets: list[str]
    open_early_warnings: int
    open_critical_early_warnings: int
    tactic_coverage: dict[str, int]
    sector_techniques_covered: list[str]
    sector_techniques_missing: list[str]
    threat_landscape: list[LandscapeGroupOut] = Field(
        description="the sector's techniques by group, each with the enabled rules covering it")
    landscape_sources: list[LandscapeSourceOut]


class RegionTenantOut(BaseModel):
    tenant: str
    campaign_id: int
    created: datetime
    scores: list[ScoreOut]


class RegionNeedOut(BaseModel):
    framework: str
    domain: str
    mean_score: float
    tenants: int


class RegionOut(BaseModel):
    tenants: list[RegionTenantOut]
    common_needs: list[RegionNeedOut]
