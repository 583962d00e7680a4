"""Per-tenant rule sets: packs and rules switched off for one hospital, and rule hit counts.

A switched-off rule still runs (the engine is shared by every tenant); its alerts are not
stored for that tenant. ``DisabledRules`` is what the alert store consults per batch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from hygie.core.moments import as_utc as _utc
from hygie.store.state import audit
from hygie.store.state.models import AlertRow
from hygie.store.state.models_cases import TenantRuleSetting
from hygie.store.state.scope import Tenants, scoped


@dataclass(slots=True)
class TenantRules:
    """The switches of one tenant: a rule's own switch wins over its pack's."""

    rules: dict[str, bool] = field(default_factory=dict)
    packs: dict[str, bool] = field(default_factory=dict)

    def enabled(self, rule_id: str, pack: str) -> bool:
        if rule_id in self.rules:
            return self.rules[rule_id]
        return self.packs.get(pack, True)


def settings_for(engine: Engine, tenant: str) -> TenantRules:
    found = TenantRules()
    with Session(engine) as session:
        for scope, target, enabled in session.execute(
                select(TenantRuleSetting.scope, TenantRuleSetting.target, TenantRuleSetting.enabled)
                .where(TenantRuleSetting.tenant_id == tenant)):
            (found.rules if scope == "rule" else found.packs)[target] = bool(enabled)
    return found


def set_enabled(engine: Engine, tenant: str, scope: str, target: str, enabled: bool, actor: str) -> None:
    if scope not in ("rule", "pack"):
        raise ValueError("scope is 'rule' or 'pack'")
    with Session(engine) as session, session.begin():
        row = session.get(TenantRuleSetting, (tenant, scope, target))
        now = datetime.now(timezone.utc)
        if row is None:
            session.add(TenantRuleSetting(tenant_id=tenant, scope=scope, target=target, enabled=enabled,
                                          changed_by=actor, changed=now))
        else:
            row.enabled, row.changed_by, row.changed = enabled, actor, now
        audit.record(session, actor, "rules.enable" if enabled else "rules.disable",
                     f"{scope}:{target}", tenant)


def rule_hits(engine: Engine, tenants: Tenants) -> dict[str, tuple[int, datetime | None]]:
    """Per rule id: events that raised its alerts (grouped repeats included) and last hit."""
    with Session(engine) as session:
        rows = session.execute(scoped(select(AlertRow.rule_id, func.sum(AlertRow.count),
                                             func.max(AlertRow.last_seen)),
                                      AlertRow.tenant_id, tenants).group_by(AlertRow.rule_id))
        return {rule_id: (int(n or 0), _utc(last)) for rule_id, n, last in rows}


class DisabledRules:
    """Every tenant's switches, re-read at most every ``refresh_s`` (a switch takes effect
    within seconds without a query per batch)."""

    def __init__(self, engine: Engine, refresh_s: float = 5.0) -> None:
        self.engine, self.refresh_s = engine, refresh_s
        self._by_tenant: dict[str, TenantRules] = {}
        self._read_at = float("-inf")

    def _refresh(self) -> None:
        if time.monotonic() - self._read_at < self.refresh_s:
            return
        by_tenant: dict[str, TenantRules] = {}
        with Session(self.engine) as session:
            for tenant, scope, target, enabled in session.execute(
                    select(TenantRuleSetting.tenant_id, TenantRuleSetting.scope,
                           TenantRuleSetting.target, TenantRuleSetting.enabled)):
                rules = by_tenant.setdefault(tenant, TenantRules())
                (rules.rules if scope == "rule" else rules.packs)[target] = bool(enabled)
        self._by_tenant, self._read_at = by_tenant, time.monotonic()

    def allows(self, tenant: str, rule_id: str, pack: str) -> bool:
        self._refresh()
        rules = self._by_tenant.get(tenant)
        return rules is None or rules.enabled(rule_id, pack)
