"""Pydantic models of the response API (``/api/v1``: playbooks, runs, approvals, NIS 2, care
services). Times going in must lie between the years 2000 and 2100: anything else is a typo,
and refused with a 422 before it reaches date arithmetic."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

Lang = Literal["en", "fr"]
ReportKind = Literal["early_warning", "notification", "intermediate", "final"]
ServiceState = Literal["up", "degraded", "down"]


def _plausible(moment: datetime) -> datetime:
    if not 2000 <= moment.year <= 2100:
        raise ValueError("a time between the years 2000 and 2100")
    return moment


Moment = Annotated[datetime, AfterValidator(_plausible)]


class PlaybookOut(BaseModel):
    id: str
    file: str | None  # the file name without .json, which the CLI also accepts
    name: str
    description: str
    types: list[str]
    steps: int


class RunIn(BaseModel):
    playbook: str = Field(min_length=1, max_length=200, description="CACAO id or file name")
    dry_run: bool = False
    variables: dict[Annotated[str, Field(max_length=200)], Annotated[str, Field(max_length=2000)]] = Field(
        default_factory=dict, max_length=50, description="values for the playbook's variables, by name")


class CommandOut(BaseModel):
    type: str
    action: str
    args: dict[str, str]
    text: str


class RunStepOut(BaseModel):
    id: int
    step_ref: str
    step_type: str
    name: str
    status: str
    commands: list[CommandOut]
    decided_by: str | None
    decided: datetime | None
    started: datetime
    finished: datetime | None
    rolled_back: datetime | None
    result: dict[str, Any]


class RunOut(BaseModel):
    id: int
    tenant: str
    case_id: int
    playbook_id: str
    playbook_name: str
    status: str
    dry_run: bool
    trigger: str
    started_by: str
    started: datetime
    finished: datetime | None
    error: str | None


class RunDetail(RunOut):
    variables: dict[str, Any]
    steps: list[RunStepOut]


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]


class RollbackIn(BaseModel):
    step_id: int | None = Field(None, ge=1, le=2**53, description="only this step (default: every step done)")


class OutcomeOut(BaseModel):
    ok: bool
    summary: str


class RollbackOut(BaseModel):
    outcomes: list[OutcomeOut]


class ApprovalOut(BaseModel):
    run_id: int
    step_id: int
    case_id: int
    tenant: str
    playbook_name: str
    name: str
    commands: list[str]
    waiting_since: datetime


class Nis2Details(BaseModel):
    """What the analyst adds for the reports (an empty string removes a value)."""

    entity_category: Literal["essential", "important", ""] | None = None
    contact: str | None = Field(None, max_length=500)
    incident_start: Moment | None = None
    status: Literal["ongoing", "contained", "resolved", ""] | None = None
    assistance: str | None = Field(None, max_length=2000)
    description: str | None = Field(None, max_length=20_000)
    threat_type: str | None = Field(None, max_length=500)
    root_cause: str | None = Field(None, max_length=5000)
    mitigation_ongoing: str | None = Field(None, max_length=5000)
    users_affected: str | None = Field(None, max_length=200)
    personal_data: Literal["yes", "no", "unknown", ""] | None = None
    other_declarations: str | None = Field(None, max_length=2000)


class Nis2Flag(BaseModel):
    aware_at: Moment | None = Field(None, description="when the entity became aware (default: now); "
                                                      "without an offset, in ``timezone``")
    timezone: str = Field("Europe/Paris", min_length=1, max_length=64)
    suspected_malicious: bool = False
    cross_border: bool = False
    cross_border_detail: str = Field("", max_length=5000)
    summary: str = Field("", max_length=5000)
    details: Nis2Details | None = None


class Nis2Update(BaseModel):
    suspected_malicious: bool | None = None
    cross_border: bool | None = None
    cross_border_detail: str | None = Field(None, max_length=5000)
    summary: str | None = Field(None, max_length=5000)
    details: Nis2Details | None = None


class SentIn(BaseModel):
    at: Moment | None = Field(None, description="when it was sent (default: now)")


class IntermediateIn(BaseModel):
    due: Moment


class ReportDueOut(BaseModel):
    kind: str
    due: datetime
    due_local: str
    submitted: datetime | None
    remaining_seconds: float
    overdue: bool
    countdown: str


class Nis2Out(BaseModel):
    case_id: int
    tenant: str
    aware_at: datetime
    timezone: str
    suspected_malicious: bool
    cross_border: bool
    cross_border_detail: str
    summary: str
    details: dict[str, str]
    reports: list[ReportDueOut]


class DeadlineOut(ReportDueOut):
    case_id: int


class ServiceIn(BaseModel):
    service: str = Field(min_length=1, max_length=100)
    status: ServiceState
    note: str = Field("", max_length=2000)
    at: Moment | None = Field(None, description="since when (default: now)")


class ServiceOut(BaseModel):
    service: str
    current: str
    since: datetime
    first_impact: datetime | None
    recovered: datetime | None
    recovery_seconds: float | None
    down_seconds: float
    degraded_seconds: float
