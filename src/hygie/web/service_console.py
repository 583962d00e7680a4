"""The console of a running ``hygie serve``: its context built from the service's stores,
rules and ingest counters."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from hygie.pipeline.service import Service
from hygie.web.app import console_app
from hygie.web.context import ConsoleContext, RuleInfo
from hygie.web.oidc import OidcConfig

SILENT_AFTER_S = 3600.0  # a source with nothing for an hour is shown as silent
RULE_TEXT_LIMIT = 200_000


def console_for(service: Service, secure_cookies: bool = False, oidc: OidcConfig | None = None) -> FastAPI:
    def rules() -> tuple[list[RuleInfo], list[tuple[str, str]]]:
        engine = service.stage.engine
        found = [RuleInfo(r.rule_id, r.title, r.level, r.pack, list(r.tags), r.path) for r in engine.rules]
        found += [RuleInfo(c.rule_id, c.title, c.level, c.pack, list(c.tags)) for c in engine.correlations]
        return found, [(str(e.location), e.reason) for e in engine.load_errors]

    def rule_text(rule_id: str) -> str | None:
        rule = next((r for r in service.stage.engine.rules if r.rule_id == rule_id), None)
        if rule is None or not rule.path:
            return None
        try:
            return Path(rule.path).read_text(encoding="utf-8", errors="replace")[:RULE_TEXT_LIMIT]
        except OSError:
            return None

    def ingest_health() -> dict[str, dict[str, Any]]:
        snapshot = service.counters.snapshot()
        now = time.time()
        health = {}
        for (tenant, source), records in snapshot["accepted"].items():
            last = snapshot["last_seen"].get((tenant, source), 0.0)
            health[f"{tenant}/{source}"] = {
                "tenant": tenant, "source": source, "records": records,
                "last_seen": datetime.fromtimestamp(last, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                "silent": now - last > SILENT_AFTER_S}
        return health

    context = ConsoleContext(engine=service.state.engine, data_dir=service.config.data_dir, events=service.events,
                             rules=rules, rule_text=rule_text, ingest_health=ingest_health,
                             secure_cookies=secure_cookies, oidc=oidc)
    return console_app(context)
