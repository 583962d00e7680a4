"""A state store with two hospitals, their alerts and one user per role, for console tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import time

from hygie.core.alert import Alert
from hygie.store.events import EventStore, StoredEvent
from hygie.store.state.db import open_database
from hygie.store.state.store import RecordResult, StateStore
from hygie.web.app import console_app
from hygie.web.context import ConsoleContext, RuleInfo

PASSWORD = "correct horse battery"
TENANTS = ("chu-nord", "chu-sud")
# one user per role in chu-nord, and a hospital user of chu-sud
USERS = {"admin": ("admin", []), "analyst": ("analyst", ["chu-nord"]),
         "hospital": ("hospital", ["chu-nord"]), "viewer": ("viewer", ["chu-nord"]),
         "sud": ("hospital", ["chu-sud"])}


def alert(rule: str, host: str, level: str = "high", tags: tuple[str, ...] = ("attack.t1490", "attack.impact")) -> Alert:
    return Alert(rule_id=rule, title=f"Rule {rule}", level=level, tags=list(tags), time="2026-11-23T08:00:00Z",
                 host=host, source="http", offset=0, matched={"CommandLine": "vssadmin delete shadows"})


@dataclass
class Seeded:
    context: ConsoleContext
    alert_ids: dict[str, list[int]] = field(default_factory=dict)


def seed(dsn: str, data_dir: Path) -> Seeded:
    """Each tenant gets alerts on hosts named after it (so a leak is visible in any body)."""
    engine = open_database(dsn)
    state = StateStore(engine)
    for tenant in TENANTS:
        state.ensure_tenant(tenant)
        results = [RecordResult(tenant=tenant, record_key=f"{tenant}-{i}", source="http", kind="json",
                                received=0.0, alerts=[alert(f"rule-{i}", f"{tenant.upper()}-PC{i}",
                                                            ("high", "critical", "medium")[i % 3])],
                                event={"Computer": f"{tenant.upper()}-PC{i}", "User": f"{tenant}-user",
                                       "IpAddress": "10.1.2.3"},
                                payload=f'{{"secret-of":"{tenant}"}}'.encode())
                   for i in range(3)]
        state.store_results(results)
    events = EventStore(data_dir / "events")
    now = time.time()
    events.append([StoredEvent(tenant=tenant, record_key=f"ev-{tenant}-{i}", received=now - 60 * i,
                               time=None, host=f"{tenant.upper()}-PC{i}", source="http", kind="json",
                               fields={"EventID": 4625, "Computer": f"{tenant.upper()}-PC{i}",
                                       "TargetUserName": f"{tenant}-user", "IpAddress": "10.9.8.7"},
                               raw=f'{{"secret-of":"{tenant}"}}'.encode())
                   for tenant in TENANTS for i in range(3)])
    rules = [RuleInfo(f"rule-{i}", f"Rule rule-{i}", "high", "ransomware", ["attack.impact"]) for i in range(3)]
    context = ConsoleContext(engine=engine, data_dir=data_dir, events=events,
                             rules=lambda: (rules, [("bad.yml:3", "broken")]))
    for username, (role, tenants) in USERS.items():
        context.access.create_user(username, PASSWORD, role, tenants)
    seeded = Seeded(context)
    for tenant in TENANTS:
        rows = state.alerts([tenant])
        seeded.alert_ids[tenant] = sorted(r.id for r in rows)
    return seeded


def app_for(seeded: Seeded):  # type: ignore[no-untyped-def]
    return console_app(seeded.context)
