"""Pydantic models of ``/api/v1/intel``: indicators, feeds, sightings and warnings from other
hospitals. A feed's credential is write-only: it goes in, encrypted, and never comes out."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

IndicatorType = Literal["ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email", "ja3"]
Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
FeedKind = Literal["misp-feed", "misp", "stix", "taxii", "csv", "text"]
TenantName = Field(None, max_length=64, description="A hospital the caller sees (default: "
                   "their first); ignored when shared")


class IndicatorIn(BaseModel):
    value: str = Field(min_length=1, max_length=2048)
    type: IndicatorType | None = Field(None, description="Recognised from the value when omitted")
    tenant: str | None = TenantName
    shared: bool = Field(False, description="For every hospital (platform admins only)")
    tlp: Tlp = "clear"
    confidence: int = Field(50, ge=0, le=100)
    expires: datetime | None = Field(None, description="In the future; omitted: never")
    description: str = Field("", max_length=500)


class IndicatorOut(BaseModel):
    id: int
    tenant: str | None
    shared: bool
    feed_id: int
    type: str
    value: str
    confidence: int
    tlp: str
    first_seen: datetime
    last_seen: datetime
    expires: datetime | None
    active: bool
    description: str
    tags: list[str]
    ref: str


class IndicatorPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[IndicatorOut]


class IndicatorDetail(IndicatorOut):
    """With its context: where it came from, how often the caller's hospitals saw it, and
    whether other hospitals did (anonymous unless they agreed to be named)."""

    feed_name: str
    feed_kind: str
    sightings: int
    last_sighting: datetime | None
    other_hospitals: int
    other_sightings: int
    other_last_seen: datetime | None
    named: list[str]


class FeedIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    kind: FeedKind
    location: str = Field(min_length=1, max_length=2000, description="An http:// or https:// URL")
    tenant: str | None = TenantName
    shared: bool = Field(False, description="For every hospital (platform admins only)")
    schedule_minutes: int | None = Field(None, ge=1, le=10080, description="Omitted: by hand only")
    tlp: Tlp | None = Field(None, description="TLP of indicators the source gives none")
    confidence: int | None = Field(None, ge=0, le=100)
    expire_days: int | None = Field(None, ge=1, le=3650, description="Expiry after last seen")
    user: str = Field("", max_length=200, description="TAXII user (basic auth)")
    credential: SecretStr = Field(SecretStr(""), max_length=4000,
                                  description="MISP API key or TAXII password: stored encrypted, never shown")


class FeedOut(BaseModel):
    id: int
    tenant: str | None
    shared: bool
    name: str
    kind: str
    location: str
    options: dict[str, Any]
    schedule_minutes: int | None
    enabled: bool
    created: datetime
    last_run: datetime | None
    last_success: datetime | None
    last_error: str | None
    indicator_count: int
    problem_count: int
    has_credential: bool
    cursor: str | None
    refreshing: bool


class FeedUpdate(BaseModel):
    """Only the fields given change, checked as a new feed's are; null clears the schedule (by
    hand), tlp, confidence and expire_days. An empty or absent credential keeps the stored one."""

    enabled: bool | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    location: str | None = Field(None, min_length=1, max_length=2000, description="An http:// or https:// URL")
    schedule_minutes: int | None = Field(None, ge=1, le=10080, description="null: by hand only")
    tlp: Tlp | None = Field(None, description="TLP of indicators the source gives none")
    confidence: int | None = Field(None, ge=0, le=100)
    expire_days: int | None = Field(None, ge=1, le=3650, description="Expiry after last seen")
    user: str | None = Field(None, max_length=200, description="TAXII user (basic auth); empty: none")
    credential: SecretStr | None = Field(None, max_length=4000, description="A new MISP API key or TAXII "
                                         "password: stored encrypted, never shown; empty or absent: unchanged")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """PostgreSQL keeps no NUL in text: refused here (422) rather than failing there."""
        if isinstance(data, dict) and any(isinstance(v, str) and "\x00" in v for v in data.values()):
            raise ValueError("text fields must not contain NUL characters")
        return data


class RefreshStarted(BaseModel):
    feed_id: int
    started: bool
    detail: str


class SightingOut(BaseModel):
    id: int
    tenant: str
    indicator_id: int
    type: str
    value: str
    field: str
    record_key: str
    seen: datetime


class SightingPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[SightingOut]


class WarningOut(BaseModel):
    indicator_id: int
    type: str
    value: str
    hospitals: int
    sightings: int
    last_seen: datetime
    named: list[str]
