"""Pydantic models of ``/api/v1/intel/assets`` and ``/api/v1/intel/early-warnings``. An edit
is checked here (address, CPE 2.3 name, exposed services), so a wrong value is a 422 that
names the field."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from hygie.intel import cpe, exposure

Criticality = Literal["vital", "important", "support"]
WarningStatus = Literal["new", "acknowledged", "resolved", "dismissed"]


class AssetOut(BaseModel):
    id: int
    tenant: str
    host: str
    ip: str
    vendor: str
    product: str
    version: str
    cpe: str
    criticality: str
    exposed: bool
    owner: str
    zone: str
    source: str
    updated: datetime
    exposure_seen: datetime | None
    open_warnings: int
    open_services: int
    first_seen: datetime | None = None  # in the event store (hygie intel assets observe)
    last_seen: datetime | None = None
    silent: bool = False  # no event for the window of Prepare's share of assets monitored
    observed: dict[str, Any] = Field(default_factory=dict)  # names, addresses, os, applications


class AssetPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[AssetOut]


class ExposureOut(BaseModel):
    id: int
    ip: str
    port: int
    transport: str
    service: str
    product: str
    version: str
    cpe: str
    risk: str = Field(description="The risky-service entry it matched (exposure.yml), empty when none")
    severity: str
    cves: list[str]
    source: str
    open: bool
    first_seen: datetime
    last_seen: datetime


class VulnerabilityOut(BaseModel):
    cve_id: str
    kev: bool = Field(description="In CISA's Known Exploited Vulnerabilities catalog")
    ransomware: bool
    result: Literal["yes", "maybe"] = Field(description="yes: the version is in a vulnerable range; "
                                                        "maybe: the inventory does not say enough")
    severity: str
    score: float | None
    published: str
    matched: list[dict[str, str]]
    unknown: list[str]
    description: str


class EarlyWarningOut(BaseModel):
    id: int
    tenant: str
    asset_id: int
    asset_host: str
    kind: Literal["kev", "exposure"]
    cve_id: str | None
    exposure_id: int | None
    rank: int
    level: str
    status: str
    reason: str
    note: str
    created: datetime
    updated: datetime | None
    alert_id: int | None
    detail: dict[str, Any]


class EarlyWarningPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[EarlyWarningOut]


class AssetDetail(AssetOut):
    vulnerabilities: list[VulnerabilityOut]
    exposures: list[ExposureOut]
    warnings: list[EarlyWarningOut]


class AssetUpdate(BaseModel):
    """Only the fields given change. ``services``: the services known to be open to the
    internet, as ``443/tcp https, 3389`` (what a scan sees is kept apart)."""

    host: str | None = Field(None, min_length=1, max_length=255)
    ip: str | None = Field(None, max_length=45)
    vendor: str | None = Field(None, max_length=200)
    product: str | None = Field(None, max_length=200)
    version: str | None = Field(None, max_length=100)
    cpe: str | None = Field(None, max_length=500)
    criticality: Criticality | None = None
    exposed: bool | None = None
    owner: str | None = Field(None, max_length=200)
    zone: str | None = Field(None, max_length=100)
    services: str | None = Field(None, max_length=5000)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _without_nul(data)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("host must not be blank")
        return value

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value and value.strip():
            return str(ipaddress.ip_address(value.strip()))
        return value

    @field_validator("cpe")
    @classmethod
    def _cpe(cls, value: str | None) -> str | None:
        if value and value.strip():
            cpe.parse(value)  # CpeError is a ValueError: a 422 naming the field
        return value

    @field_validator("services")
    @classmethod
    def _services(cls, value: str | None) -> str | None:
        if value is not None:
            exposure.parse_declared(value)
        return value


class EarlyWarningUpdate(BaseModel):
    status: WarningStatus
    note: str = Field("", max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        return _without_nul(data)


def _without_nul(data: Any) -> Any:
    """PostgreSQL keeps no NUL character in text: refused here (422) rather than failing there."""
    if isinstance(data, dict) and any(isinstance(v, str) and "\x00" in v for v in data.values()):
        raise ValueError("text fields must not contain NUL characters")
    return data
