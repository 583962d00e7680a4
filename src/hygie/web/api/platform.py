"""``/api/v1``: who am I, tenants, the overview's figures, the audit log, the rules."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from hygie.store.state import audit, triage
from hygie.store.state.access import Principal
from hygie.store.state.rule_settings import rule_hits, set_enabled, settings_for
from hygie.store.state.store import StateStore
from hygie.web.api.convert import utc
from hygie.web.api.schemas import ERROR_RESPONSES, Me
from hygie.web.security import visible_tenants, check_tenant, principal, require

router = APIRouter(tags=["platform"], responses=ERROR_RESPONSES)


class DayCount(BaseModel):
    day: str
    alerts: int


class RuleCount(BaseModel):
    rule_id: str
    title: str
    alerts: int


class HostCount(BaseModel):
    host: str
    alerts: int


class RuleError(BaseModel):
    location: str
    reason: str


class OverviewOut(BaseModel):
    days: int
    total: int
    open: int
    quarantined: int
    by_level: dict[str, int]
    by_tenant: dict[str, int]
    by_day: list[DayCount]
    top_rules: list[RuleCount]
    top_hosts: list[HostCount]
    tactics: dict[str, dict[str, int]]
    ingest: dict[str, dict[str, Any]]


class AuditOut(BaseModel):
    seq: int
    created: datetime
    tenant: str | None
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


class RuleOut(BaseModel):
    rule_id: str
    title: str
    level: str
    pack: str
    tags: list[str]
    enabled: bool
    hits: int
    last_hit: datetime | None


class RulesOut(BaseModel):
    tenant: str | None
    rules: list[RuleOut]
    load_errors: list[RuleError]


@router.get("/me", response_model=Me)
def me(who: Principal = Depends(principal)) -> Me:
    return Me(username=who.username, role=who.role,
              tenants=sorted(who.tenants) if who.tenants is not None else None, via=who.via)


@router.get("/tenants", response_model=list[str])
def tenants(request: Request, who: Principal = Depends(principal)) -> list[str]:
    return visible_tenants(request, who)


@router.get("/overview", response_model=OverviewOut)
def overview(request: Request, days: int = Query(7, ge=1, le=365), tenant: str | None = None,
             who: Principal = Depends(principal)) -> OverviewOut:
    check_tenant(who, tenant)
    context = request.app.state.context
    figures = triage.overview(context.engine, who.tenants, days, tenant)
    ingest = {source: data for source, data in context.ingest_health().items()
              if who.sees(str(data.get("tenant", "")))}
    return OverviewOut(days=figures.days, total=figures.total, open=figures.open,
                       quarantined=figures.quarantined, by_level=figures.by_level,
                       by_tenant=figures.by_tenant, tactics=figures.tactics, ingest=ingest,
                       by_day=[DayCount(day=d, alerts=n) for d, n in figures.by_day],
                       top_rules=[RuleCount(rule_id=r, title=t, alerts=n) for r, t, n in figures.top_rules],
                       top_hosts=[HostCount(host=h, alerts=n) for h, n in figures.top_hosts])


@router.get("/audit", response_model=list[AuditOut])
def audit_log(request: Request, limit: int = Query(200, ge=1, le=1000),
              who: Principal = Depends(principal)) -> list[AuditOut]:
    require(who, "audit.read")
    rows = audit.entries(request.app.state.context.engine,
                         sorted(who.tenants) if who.tenants is not None else None, limit)
    return [AuditOut(seq=r.seq, created=utc(r.created), tenant=r.tenant_id, actor=r.actor, action=r.action,
                     target=r.target, detail=r.detail or {}) for r in rows]


@router.get("/rules", response_model=RulesOut)
def rules(request: Request, tenant: str | None = None, who: Principal = Depends(principal)) -> RulesOut:
    """Loaded rules with their load errors; with ``tenant``, whether each is enabled there and
    its hit count and last hit in that tenant."""
    check_tenant(who, tenant)
    context = request.app.state.context
    loaded, errors = context.rules()
    enabled = settings_for(context.engine, tenant) if tenant else None
    hits = rule_hits(context.engine, who.tenants if tenant is None else frozenset({tenant}))
    out = []
    for rule in loaded:
        count, last = hits.get(rule.rule_id, (0, None))
        on = enabled.enabled(rule.rule_id, rule.pack) if enabled else True
        out.append(RuleOut(rule_id=rule.rule_id, title=rule.title, level=rule.level, pack=rule.pack,
                           tags=rule.tags, enabled=on, hits=count, last_hit=last))
    return RulesOut(tenant=tenant, rules=out,
                    load_errors=[RuleError(location=where, reason=why) for where, why in errors])


class RuleSwitch(BaseModel):
    scope: Literal["rule", "pack"]
    target: str = Field(min_length=1, max_length=200)
    enabled: bool


@router.put("/tenants/{tenant}/rules", response_model=RuleSwitch)
def switch_rule(request: Request, tenant: str, body: RuleSwitch, who: Principal = Depends(principal)) -> RuleSwitch:
    """Switch a rule or a pack on or off for one tenant (takes effect within seconds)."""
    engine = request.app.state.context.engine
    if not who.sees(tenant) or tenant not in StateStore(engine).tenants():
        raise HTTPException(404, "no such tenant")
    require(who, "rules.write")
    set_enabled(engine, tenant, body.scope, body.target, body.enabled, who.actor)
    return body
