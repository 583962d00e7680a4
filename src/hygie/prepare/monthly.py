"""The monthly management report, written for every hospital when a month ends, so the
director finds it without asking: ``<data dir>/reports/<tenant>/<YYYY-MM>-<lang>.pdf``.

``hygie serve`` runs ``MonthlyReports.run_due`` on its upkeep thread; it looks 10 minutes after
the start, then once an hour, writes only the reports that are missing (a restart does not write them again), each
under a temporary name renamed when complete, and one hospital's failure (a bad site file, a
full disk) is logged without stopping the others. The same report is produced on request by
``hygie assess report``, the console and the API."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine

from hygie.prepare import exports
from hygie.prepare.evidence import load_config
from hygie.prepare.kpis import load_definitions
from hygie.prepare.loader import framework_dirs, load_catalog, site_file
from hygie.prepare.roadmap import load_costs
from hygie.prepare.trends import month_span
from hygie.store.events.layout import tenant_dir_name
from hygie.store.state.prepare_store import PrepareStore
from hygie.store.state.store import StateStore

log = logging.getLogger("hygie.prepare")

CHECK_S = 3600.0
FIRST_S = 600.0  # a service just started catches up on its spool first


def report_path(data_dir: Path, tenant: str, month: datetime, lang: str) -> Path:
    return data_dir / "reports" / tenant_dir_name(tenant) / f"{month:%Y-%m}-{lang}.pdf"


class MonthlyReports:
    """Writes last month's report of each tenant once. ``rule_tags(tenant)``: the ATT&CK tags of
    the rules the tenant has enabled (coverage KPI)."""

    def __init__(self, engine: Engine, data_dir: Path, rule_tags: Callable[[str], list[list[str]]],
                 langs: Sequence[str] = ("fr", "en"), check_s: float = CHECK_S,
                 first_s: float = FIRST_S) -> None:
        self.engine = engine
        self.data_dir = Path(data_dir)
        self.rule_tags = rule_tags
        self.langs = tuple(langs)
        self.check_s = check_s
        self._next = time.monotonic() + first_s  # not in the busy minutes of a (re)start

    def run_due(self) -> int:
        if time.monotonic() < self._next:
            return 0
        self._next = time.monotonic() + self.check_s
        return self.run()

    def run(self, now: datetime | None = None) -> int:
        """Write the missing reports of the month before ``now``; returns how many were written."""
        since, until = month_span(None, now or datetime.now(timezone.utc))
        written = 0
        for tenant in StateStore(self.engine).tenants():
            for lang in self.langs:
                path = report_path(self.data_dir, tenant, since, lang)
                if path.exists():
                    continue
                try:
                    self._write(tenant, since, until, lang, path)
                    written += 1
                except Exception:  # one hospital's report must not stop the others'
                    log.exception("monthly report of %s for %s (%s) could not be written", tenant,
                                  f"{since:%Y-%m}", lang)
        if written:
            log.info("%d monthly reports written for %s", written, f"{since:%Y-%m}")
        return written

    def _write(self, tenant: str, since: datetime, until: datetime, lang: str, path: Path) -> None:
        base = self.data_dir
        body = exports.monthly_report(
            PrepareStore(self.engine, base / "evidence"), load_catalog(framework_dirs(data_dir=base)),
            load_costs(site_file(base, "costs.yml")),
            load_definitions(landscape=site_file(base, "threat_landscape.yml")),
            load_config(site_file(base, "evidence.yml")), base / "events", tenant, since, until,
            self.rule_tags(tenant), lang)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temp.write_bytes(body)
        os.replace(temp, path)
