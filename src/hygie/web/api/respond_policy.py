"""``/api/v1/tenants/{tenant}/response-policy``: per hospital, what the console's policy page shows and changes:
the actions allowed to run without an analyst's approval, the triggers that start playbooks on
new alerts, and connector secrets (set and deleted by name; their values never come back).
Reading needs a view of the hospital; changes need ``case.write`` and are audited by
``hygie.respond.policy`` and the secret store."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Request, Response
from pydantic import BaseModel, Field

from hygie.respond import policy
from hygie.respond.connectors.registry import ACTIONS
from hygie.respond.secrets import SecretError
from hygie.store.state.access import Principal
from hygie.web.api.respond import toolkit
from hygie.web.api.schemas import ERROR_RESPONSES, Created, PathId
from hygie.web.security import chosen_tenant, principal, require

router = APIRouter(tags=["response"], responses=ERROR_RESPONSES)
POLICY = "/tenants/{tenant}/response-policy"
Tenant = Annotated[str, Path(max_length=64)]
SecretName = Annotated[str, Path(min_length=1, max_length=100)]


class ActionPolicy(BaseModel):
    name: str
    description: str
    automatic: bool  # runs without an analyst's approval in this hospital


class TriggerOut(BaseModel):
    id: int
    playbook: str
    rule_id: str | None
    min_severity: str | None
    enabled: bool
    created_by: str


class PolicyOut(BaseModel):
    tenant: str
    actions: list[ActionPolicy]
    triggers: list[TriggerOut]
    secrets: list[str]  # names only


class AutomaticIn(BaseModel):
    action: str = Field(min_length=1, max_length=100)
    automatic: bool


class TriggerIn(BaseModel):
    playbook: str = Field(min_length=1, max_length=200)
    rule_id: str | None = Field(None, min_length=1, max_length=100)
    min_severity: Literal["low", "medium", "high", "critical"] | None = None


class SecretIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    value: str = Field(min_length=1, max_length=10_000)


@router.get(POLICY, response_model=PolicyOut)
def read_policy(request: Request, tenant: Tenant, who: Principal = Depends(principal)) -> PolicyOut:
    chosen = chosen_tenant(request, who, tenant)
    engine = request.app.state.context.engine
    automatic = policy.allowed_actions(engine, who.tenants, chosen)
    secrets = toolkit(request).secrets
    return PolicyOut(
        tenant=chosen,
        actions=[ActionPolicy(name=a.name, description=a.summary, automatic=a.name in automatic)
                 for a in sorted(ACTIONS.values(), key=lambda a: a.name)],
        triggers=[TriggerOut(id=t.id, playbook=t.playbook_id, rule_id=t.rule_id, min_severity=t.min_severity,
                             enabled=t.enabled, created_by=t.created_by)
                  for t in policy.list_triggers(engine, who.tenants) if t.tenant_id == chosen],
        secrets=secrets.names(chosen) if secrets else [])


@router.put(POLICY + "/automatic", response_model=ActionPolicy)
def set_automatic(request: Request, tenant: Tenant, body: AutomaticIn,
                  who: Principal = Depends(principal)) -> ActionPolicy:
    """Let an action run without an analyst's approval in this hospital, or withdraw that."""
    chosen = chosen_tenant(request, who, tenant)
    require(who, "case.write")
    action = ACTIONS.get(body.action)
    if action is None:
        raise HTTPException(422, f"no action {body.action!r} (known: {', '.join(sorted(ACTIONS))})")
    try:
        policy.set_auto(request.app.state.context.engine, who.tenants, chosen, action.name, body.automatic, who.actor)
    except (policy.PolicyError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return ActionPolicy(name=action.name, description=action.summary, automatic=body.automatic)


@router.post(POLICY + "/triggers", response_model=Created, status_code=201)
def add_trigger(request: Request, tenant: Tenant, body: TriggerIn, who: Principal = Depends(principal)) -> Created:
    """Start a playbook on each new alert of a rule, or of at least a severity."""
    chosen = chosen_tenant(request, who, tenant)
    require(who, "case.write")
    if (body.rule_id is None) == (body.min_severity is None):
        raise HTTPException(422, "give either rule_id or min_severity")
    playbook = toolkit(request).library.get(body.playbook)
    if playbook is None:
        raise HTTPException(422, f"no playbook {body.playbook!r}")
    try:
        trigger = policy.add_trigger(request.app.state.context.engine, who.tenants, chosen, playbook.id,
                                     who.actor, rule_id=body.rule_id, min_severity=body.min_severity)
    except (policy.PolicyError, ValueError) as exc:
        raise HTTPException(409, str(exc)) from None
    return Created(id=trigger)


@router.delete("/response-policy/triggers/{trigger_id:int}", status_code=204)
def remove_trigger(request: Request, trigger_id: PathId, who: Principal = Depends(principal)) -> Response:
    engine = request.app.state.context.engine
    if not any(t.id == trigger_id for t in policy.list_triggers(engine, who.tenants)):
        raise HTTPException(404, f"no trigger {trigger_id}")
    require(who, "case.write")
    policy.remove_trigger(engine, who.tenants, trigger_id, who.actor)
    return Response(status_code=204)


@router.put(POLICY + "/secrets", status_code=204)
def set_secret(request: Request, tenant: Tenant, body: SecretIn, who: Principal = Depends(principal)) -> Response:
    """Store a connector secret, encrypted; its value is never shown again."""
    chosen = chosen_tenant(request, who, tenant)
    require(who, "case.write")
    secrets = toolkit(request).secrets
    if secrets is None:
        raise HTTPException(409, "no secret store in this installation")
    try:
        secrets.set(chosen, body.name.strip(), body.value, who.actor)
    except (SecretError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from None
    return Response(status_code=204)


@router.delete(POLICY + "/secrets/{secret_name}", status_code=204)
def delete_secret(request: Request, tenant: Tenant, secret_name: SecretName,
                  who: Principal = Depends(principal)) -> Response:
    chosen = chosen_tenant(request, who, tenant)
    secrets = toolkit(request).secrets
    if secrets is None or secret_name not in secrets.names(chosen):
        raise HTTPException(404, f"no secret {secret_name!r}")
    require(who, "case.write")
    secrets.delete(chosen, secret_name, who.actor)
    return Response(status_code=204)
