"""Assets from what the pipeline observes: the hosts each tenant's events came from over the
last days, with the address and OS their events state (``observed.yml`` says which fields), put
in that tenant's inventory as assets of source ``observed``.

A host already inventoried (a CSV ``PACS01`` is the ``pacs01.chu-a.local`` of the events: see
``intel_assets_store.host_key``) gets its first and last seen times, and only its empty fields
filled: criticality, owner, zone, vendor, product and version set by a person or an import win.
New or changed assets re-run the early-warning match, as every import does.

The work per run is bounded: per tenant, at most ``MAX_HOSTS`` hosts (the most recently seen;
the run says how many were left), and the service's job reads only the event files written
since its last run, so a run every few minutes costs little. Each tenant is read alone: one
tenant's events only ever make that tenant's assets."""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import yaml
from sqlalchemy import Engine

from hygie.intel.early_warning import RunReport, run_early_warning
from hygie.store.events import EventStore
from hygie.store.events.hosts import HostSeen
from hygie.store.state.intel_assets_store import ObservedHost, host_key, record_observed
from hygie.store.state.store import StateStore

log = logging.getLogger("hygie.intel")
FIELDS_FILE = Path(__file__).with_name("observed.yml")
DAYS = 7  # as Prepare's share of assets monitored (``asset_coverage.window_days``)
MAX_HOSTS = 5000  # per tenant and run
EVERY_S = 300.0  # the service's job: this often
SLACK_S = 120.0  # files written this long before the last run are read again (clocks, slow writes)


@dataclass(frozen=True, slots=True)
class _Config:
    fields: dict[str, tuple[str, ...]]
    products: tuple[tuple[re.Pattern[str], str, str], ...]

    @property
    def names(self) -> list[str]:
        return [name for group in self.fields.values() for name in group]


@cache
def config() -> _Config:
    doc = yaml.safe_load(FIELDS_FILE.read_text(encoding="utf-8"))
    return _Config({k: tuple(v) for k, v in doc["fields"].items()},
                   tuple((re.compile(p["match"], re.IGNORECASE), p["vendor"], p["product"]) for p in doc["products"]))


@dataclass(slots=True)
class TenantReport:
    tenant: str
    hosts: int = 0  # read this run
    left: int = 0  # over MAX_HOSTS: left for another run
    added: int = 0
    seen: int = 0
    filled: int = 0


@dataclass(slots=True)
class ObserveReport:
    tenants: list[TenantReport] = field(default_factory=list)
    run: RunReport | None = None  # the early-warning match, when something changed


def observe(engine: Engine, events: EventStore, tenants: Sequence[str] | None = None, days: int = DAYS,
            limit: int = MAX_HOSTS, written_since: float | None = None,
            now: datetime | None = None) -> ObserveReport:
    """Read each tenant's hosts of the last ``days`` (``tenants``: all of the state store) and
    record them as assets; then the early-warning match if an asset was added or changed."""
    if days < 1 or limit < 1:
        raise ValueError("days and limit must be at least 1")
    now = now or datetime.now(timezone.utc)
    known = set(StateStore(engine).tenants())
    report = ObserveReport()
    for tenant in sorted(known if tenants is None else set(tenants) & known):
        seen, total = events.hosts_seen(tenant, now - timedelta(days=days), now + timedelta(minutes=5),
                                        config().names, limit, written_since)
        hosts = merge(seen)
        counts = record_observed(engine, tenant, hosts)
        report.tenants.append(TenantReport(tenant, len(seen), max(total - len(seen), 0), counts.added,
                                           counts.seen, counts.filled))
        if total > len(seen):
            log.warning("observed assets of %s: %d hosts over the cap of %d per run left out", tenant,
                        total - len(seen), limit)
    if any(t.added or t.filled for t in report.tenants):
        report.run = run_early_warning(engine)
    return report


def silent(last_seen: datetime | None, now: datetime | None = None, days: int = DAYS) -> bool:
    """No event from the asset's host for ``days`` (or never since observation runs): what
    Prepare's share of assets monitored counts as not monitored."""
    if last_seen is None:
        return True
    moment = last_seen if last_seen.tzinfo is not None else last_seen.replace(tzinfo=timezone.utc)
    return moment < (now or datetime.now(timezone.utc)) - timedelta(days=days)


def merge(seen: Sequence[HostSeen]) -> list[ObservedHost]:
    """One observation per host key (``PACS01`` and ``pacs01.chu-a.local`` in the events are one
    host): the longest name (a full DNS name), the widest period, the newest fields."""
    groups: dict[str, list[HostSeen]] = {}
    for host in seen:
        groups.setdefault(host_key(host.host), []).append(host)
    out = []
    for group in groups.values():
        group.sort(key=lambda h: h.last_seen, reverse=True)
        values: dict[str, str] = {}
        for host in reversed(group):  # the newest last, so its values win
            values.update(host.fields)
        name = max((h.host for h in group), key=lambda n: (len(n), n == group[0].host))
        out.append(observation(name, min(h.first_seen for h in group), group[0].last_seen, values,
                               sorted({h.host for h in group})))
    return out


def observation(name: str, first: datetime, last: datetime, values: dict[str, str],
                names: list[str]) -> ObservedHost:
    """What the fields of a host's events say: address, OS (vendor, product, version as NVD
    spells them where ``observed.yml`` knows the name), sending applications."""
    cfg = config()

    def first_of(kind: str) -> str:
        return next((values[n].strip() for n in cfg.fields.get(kind, ()) if values.get(n, "").strip()), "")

    ip = _host_address(name) or _address(first_of("address"))
    os_name, os_version, build = first_of("os_name"), first_of("os_version"), first_of("os_build")
    windows = [values.get(n, "").strip() for n in cfg.fields.get("windows", ())]
    if not os_name and all(windows[:3]) and all(p.isdigit() for p in windows if p):
        os_name, os_version = "Windows", ".".join(p for p in windows if p)
    if build and os_version and not os_version.endswith(build) and build[:1].isdigit():
        os_version = f"{os_version}.{build}"
    vendor, product = _product(os_name) if os_name else ("", "")
    detail: dict[str, Any] = {"names": names[:10]}
    if ip:
        detail["addresses"] = [ip]
    if os_name:
        detail["os"] = " ".join(p for p in (os_name, os_version) if p)[:200]
    apps = [values[n].strip()[:100] for n in cfg.fields.get("application", ()) if values.get(n, "").strip()]
    if apps:
        detail["applications"] = apps
    return ObservedHost(name[:255], first, last, ip, vendor, product, os_version[:100] if os_name else "", detail)


def _product(os_name: str) -> tuple[str, str]:
    for pattern, vendor, product in config().products:
        found = pattern.search(os_name)
        if found:
            return vendor, product.format("", *(g.lower() if g else "" for g in found.groups()))
    return "", os_name[:200]


def _host_address(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip()))
    except ValueError:
        return ""


def _address(text: str) -> str:
    """The host's address from a field: one address, or a JSON list of them (ECS ``host.ip``),
    where the first IPv4 that is not link-local or loopback is preferred."""
    candidates: list[Any] = [text]
    if text.startswith("["):
        try:
            candidates = orjson.loads(text)
        except orjson.JSONDecodeError:
            return ""
    found = []
    for value in candidates if isinstance(candidates, list) else []:
        try:
            address = ipaddress.ip_address(str(value).strip())
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            found.append(address)
    found.sort(key=lambda a: a.version)
    return str(found[0]) if found else ""


class ObservedAssetsJob:
    """The service's periodic job (``Service.periodic``, looked at every 30 s): every
    ``every_s``, observe all tenants; the first run reads ``days`` of events, later ones only
    the files written since the run before (less ``SLACK_S``)."""

    def __init__(self, engine: Engine, events: EventStore, every_s: float = EVERY_S, days: int = DAYS,
                 limit: int = MAX_HOSTS) -> None:
        self.engine, self.events = engine, events
        self.every_s, self.days, self.limit = every_s, days, limit
        self._next = 0.0
        self._last_start: float | None = None
        self._lock = threading.Lock()

    def run_due(self) -> ObserveReport | None:
        """Observe when the time has come; None when it has not (or a run is going on)."""
        if time.monotonic() < self._next or not self._lock.acquire(blocking=False):
            return None
        try:
            self._next = time.monotonic() + self.every_s
            started = time.time()
            since = None if self._last_start is None else self._last_start - SLACK_S
            report = observe(self.engine, self.events, days=self.days, limit=self.limit, written_since=since)
            self._last_start = started
            added = sum(t.added for t in report.tenants)
            if added or report.run:
                log.info("observed assets: %d new, %d seen again, %d fields filled", added,
                         sum(t.seen for t in report.tenants), sum(t.filled for t in report.tenants))
            return report
        finally:
            self._lock.release()
