"""Pydantic models of the REST API: they are its documentation (OpenAPI) and its validation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, Field

MAX_ID = 2**53  # ids beyond this are no row's (and would overflow the database's integers)
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]

Status = Literal["new", "acknowledged", "in_progress", "closed"]
CloseReason = Literal["true_positive", "false_positive", "benign"]
Severity = Literal["low", "medium", "high", "critical"]


class AlertOut(BaseModel):
    id: int
    tenant: str
    rule_id: str
    title: str
    level: str
    kind: str
    pack: str
    tags: list[str]
    host: str | None
    source: str
    event_time: str | None
    first_seen: datetime
    last_seen: datetime
    count: int
    status: str
    assignee: str | None
    close_reason: str | None


class AlertPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AlertOut]


class CommentOut(BaseModel):
    id: int
    author: str
    created: datetime
    text: str


class AlertDetail(AlertOut):
    matched: dict[str, Any]
    event: dict[str, Any]
    comments: list[CommentOut]
    related: list[AlertOut]
    cases: list[int]
    attack: list[dict[str, str]]


class StatusChange(BaseModel):
    status: Status
    reason: CloseReason | None = None


class Assignment(BaseModel):
    assignee: str | None = Field(None, max_length=100)


class CommentIn(BaseModel):
    text: str = Field(min_length=1, max_length=10_000)


class BulkAction(BaseModel):
    ids: list[Id] = Field(min_length=1, max_length=1000)
    action: Literal["status", "assign"]
    status: Status | None = None
    reason: CloseReason | None = None
    assignee: str | None = Field(None, max_length=100)


class Changed(BaseModel):
    changed: list[int]


class CaseIn(BaseModel):
    alert_ids: list[Id] = Field(min_length=1, max_length=1000)
    title: str = Field("", max_length=300)
    severity: Severity | None = None
    description: str = Field("", max_length=20_000)


class CaseUpdate(BaseModel):
    status: Literal["open", "in_progress", "closed"] | None = None
    close_reason: CloseReason | None = None
    severity: Severity | None = None
    care_impact: list[str] | None = Field(None, max_length=50)
    assignee: str | None = Field(None, max_length=100)
    title: str | None = Field(None, max_length=300)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)


class AlertIds(BaseModel):
    alert_ids: list[Id] = Field(min_length=1, max_length=1000)


class TaskIn(BaseModel):
    title: str = Field(min_length=1, max_length=300)
    assignee: str | None = Field(None, max_length=100)


class TaskUpdate(BaseModel):
    done: bool


class CaseOut(BaseModel):
    id: int
    tenant: str
    title: str
    severity: str
    status: str
    care_impact: list[str]
    assignee: str | None
    created_by: str
    created: datetime
    updated: datetime
    close_reason: str | None


class CasePage(BaseModel):
    total: int
    items: list[CaseOut]


class EntryOut(BaseModel):
    id: int
    created: datetime
    author: str
    kind: str
    text: str
    data: dict[str, Any]


class ObservableOut(BaseModel):
    kind: str
    value: str
    first_alert_id: int | None


class TaskOut(BaseModel):
    id: int
    title: str
    assignee: str | None
    done: bool


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    sha256: str
    author: str
    created: datetime


class CaseDetail(CaseOut):
    description: str
    alerts: list[AlertOut]
    timeline: list[EntryOut]
    observables: list[ObservableOut]
    tasks: list[TaskOut]
    attachments: list[AttachmentOut]


class Created(BaseModel):
    id: int


class Me(BaseModel):
    username: str
    role: str
    tenants: list[str] | None
    via: str


class Problem(BaseModel):
    """Every 4xx but validation errors: what went wrong, in words."""

    detail: str


# documented on every route: what a caller may get besides success and validation errors
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "A body that cannot be parsed (not JSON, not a form)"},
    401: {"model": Problem, "description": "Not logged in, or a wrong API token"},
    403: {"model": Problem, "description": "The role may not do this, or a missing CSRF token"},
    404: {"model": Problem, "description": "No such object among the caller's tenants"},
    409: {"model": Problem, "description": "The change is not allowed as asked (workflow, a "
                                           "missing reason or status, alerts of two hospitals)"},
    413: {"model": Problem, "description": "An attachment over the size limit"},
}
