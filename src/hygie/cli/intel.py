"""``hygie intel``: feeds (add, list, refresh), one-off imports, testing an event against the
indicators, sharing a case out, sightings of other hospitals, assets and the KEV catalog.

Same ``--data-dir`` / ``--database`` as ``hygie serve``: everything lives in its state store.
The running service picks new indicators up within a minute."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import Engine

from hygie.cli.serve import data_dir_default
from hygie.intel import assets as asset_csv
from hygie.intel import early_warning, kev, observed, sharing
from hygie.intel.feeds import FeedError
from hygie.intel.matcher import IntelMatcher
from hygie.intel.refresh import IMPORTERS, RefreshReport, refresh_due, refresh_feed
from hygie.normalize.reader import ReadStats, read_events
from hygie.store.events import EventStore
from hygie.store.state import intel_assets_store, intel_exposure_store, intel_store
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import StateStore

app = typer.Typer(help="Threat intelligence: feeds, indicators, sharing, assets, KEV.",
                  no_args_is_help=True)
feeds_app = typer.Typer(help="Indicator feeds (MISP, STIX, TAXII, lists).", no_args_is_help=True)
assets_app = typer.Typer(help="Asset inventory per tenant.", no_args_is_help=True)
kev_app = typer.Typer(help="CISA Known Exploited Vulnerabilities and early warnings.",
                      no_args_is_help=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(assets_app, name="assets")
app.add_typer(kev_app, name="kev")
nvd_app = typer.Typer(help="NVD CVE records (JSON 2.0): CPE applicability with version ranges.",
                      no_args_is_help=True)
exposure_app = typer.Typer(help="Internet exposure of a tenant's public addresses (nmap XML, scan JSON).",
                           no_args_is_help=True)
app.add_typer(nvd_app, name="nvd")
app.add_typer(exposure_app, name="exposure")
console = Console()
err = Console(stderr=True)

DATA_DIR = typer.Option(None, "--data-dir", help="Data of 'hygie serve' (default $HYGIE_DATA_DIR "
                        "or ~/.local/share/hygie).")
DATABASE = typer.Option(None, "--database", help="State DSN (default SQLite in the data dir).")
TENANT = typer.Option(None, "--tenant", "-t", help="Tenant (omit for a shared feed or all tenants).")
OPTION = typer.Option(None, "--option", "-o", help="Feed option KEY=VALUE (repeatable): key_env, "
                      "mode, user, password_env, verify_tls, all_attributes, expire_days...")


def _engine(data_dir: Path | None, database: str | None) -> Engine:
    return open_database(database or sqlite_dsn((data_dir or data_dir_default()) / "state.db"))


def _tenant(engine: Engine, tenant: str | None) -> None:
    if tenant:
        StateStore(engine).ensure_tenant(tenant)


@contextmanager
def _readable() -> Iterator[None]:
    """A source that cannot be read at all: its reason in red, exit code 2."""
    try:
        yield
    except FeedError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


def _skipped(problems: Iterable[object]) -> None:
    """Entries of a source that were left out, each with its place and reason."""
    for problem in problems:
        err.print(f"  skipped {escape(str(problem))}")


def _options(pairs: list[str] | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs or []:
        key, eq, value = pair.partition("=")
        if not eq:
            raise typer.BadParameter(f"{pair!r}: options are KEY=VALUE")
        out[key.strip()] = json.loads(value) if value in ("true", "false") or value.isdigit() else value
    return out


def _report(report: RefreshReport, name: str) -> None:
    if report.error:
        err.print(f"[red]{escape(name)}: {escape(report.error)}[/red]")
        return
    console.print(f"{escape(name)}: {report.imported} indicators ({report.added} new, "
                  f"{report.updated} updated, {report.removed} removed), "
                  f"{len(report.problems)} entries skipped")
    for problem in report.problems[:50]:
        err.print(f"  skipped {escape(str(problem))}")


@feeds_app.command("add")
def feeds_add(name: str, kind: str = typer.Argument(..., help=", ".join(IMPORTERS)),
              location: str = typer.Argument(..., help="URL or path"),
              tenant: Optional[str] = TENANT,  # noqa: UP007
              every: Optional[int] = typer.Option(None, "--every", help="Refresh every N minutes."),  # noqa: UP007
              option: Optional[list[str]] = OPTION,  # noqa: UP007
              data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Add a feed (shared by all tenants unless --tenant)."""
    engine = _engine(data_dir, database)
    _tenant(engine, tenant)
    try:
        feed = intel_store.add_feed(engine, None, tenant, name, kind, location, _options(option), every)
    except intel_store.IntelStoreError as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None
    console.print(f"feed {feed.id} added; 'hygie intel feeds refresh {feed.id}' reads it now")


@feeds_app.command("list")
def feeds_list(data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Feeds with their last refresh, counts and errors."""
    table = Table("id", "tenant", "name", "kind", "every", "last success", "indicators", "skipped",
                  "last error")
    for f in intel_store.list_feeds(_engine(data_dir, database), None):
        table.add_row(str(f.id), f.tenant_id or "(shared)", escape(f.name), f.kind,
                      f"{f.schedule_minutes} min" if f.schedule_minutes else "-",
                      f"{f.last_success:%Y-%m-%d %H:%M}" if f.last_success else "never",
                      str(f.indicator_count), str(f.problem_count),
                      escape((f.last_error or "")[:80]) + ("" if f.enabled else " (disabled)"))
    console.print(table)


@feeds_app.command("refresh")
def feeds_refresh(feed_ids: Optional[list[int]] = typer.Argument(None),  # noqa: UP007
                  due: bool = typer.Option(False, "--due", help="Only the scheduled feeds now due."),
                  data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Read feeds now (all of them without ids)."""
    engine = _engine(data_dir, database)
    key_dir = data_dir or data_dir_default()  # opens credentials given in the console
    if due:
        for report in refresh_due(engine, key_dir):
            _report(report, f"feed {report.feed_id}")
        return
    feeds = [f for f in intel_store.list_feeds(engine, None)
             if (f.id in feed_ids if feed_ids else f.kind != "manual")]
    failed = False
    for feed in feeds:
        report = refresh_feed(engine, feed, key_dir)
        _report(report, f"feed {feed.id} ({feed.name})")
        failed |= report.error is not None
    if failed:
        raise typer.Exit(1)


@app.command("import")
def import_(location: str = typer.Argument(..., help="File or URL"),
            kind: str = typer.Option("auto", "--kind", help="auto, " + ", ".join(IMPORTERS)),
            tenant: Optional[str] = TENANT, option: Optional[list[str]] = OPTION,  # noqa: UP007
            data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import a file or URL once (it becomes a feed without schedule; importing it again
    replaces its indicators)."""
    engine = _engine(data_dir, database)
    _tenant(engine, tenant)
    if kind == "auto":
        kind = _guess_kind(location)
    feed = intel_store.find_or_add_feed(engine, None, tenant, Path(location).name or location,
                                        kind, location)
    if option:
        feed.options = {**feed.options, **_options(option)}
    report = refresh_feed(engine, feed)
    _report(report, f"{location} ({kind}, feed {feed.id})")
    if report.error:
        raise typer.Exit(1)


def _guess_kind(location: str) -> str:
    name = location.lower().rstrip("/")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".txt", ".list")):
        return "text"
    if name.endswith("manifest.json") or Path(location, "manifest.json").is_file():
        return "misp-feed"
    if name.endswith(".json"):
        return "stix"
    return "text"


@app.command("match")
def match(event_file: Path = typer.Argument(..., help="JSON event(s), in any shape 'hygie hunt' reads"),
          tenant: str = typer.Option("demo", "--tenant", "-t"),
          data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Test events against the active indicators of a tenant (and the shared ones)."""
    matcher = IntelMatcher.from_database(_engine(data_dir, database))
    matcher.refresh_now(force=True)
    found = 0
    stats = ReadStats()
    for event in read_events([event_file], stats):
        for alert in matcher.alerts(tenant, event):
            found += 1
            console.print(f"[bold]{escape(alert.title)}[/bold] ({alert.level}) {escape(event.source)}"
                          f"@{event.offset}: {escape(json.dumps(alert.matched))}")
    for problem in stats.problems:
        err.print(f"[yellow]{escape(str(problem))}[/yellow]")
    console.print(f"{found} hit(s) against {matcher.snapshot.size:,} active indicators")
    raise typer.Exit(0 if found else 1)


@app.command("export-case")
def export_case(case_id: int, fmt: str = typer.Option("stix", "--format", help="stix or misp"),
                tlp: str = typer.Option(..., "--tlp", help="clear, green, amber, amber+strict (red is refused)"),
                output: Optional[Path] = typer.Option(None, "--output"),  # noqa: UP007
                push_taxii: Optional[str] = typer.Option(None, "--push-taxii", help="Collection URL."),  # noqa: UP007
                push_misp: Optional[str] = typer.Option(None, "--push-misp", help="MISP URL."),  # noqa: UP007
                option: Optional[list[str]] = OPTION,  # noqa: UP007
                data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Export a case's shareable observables (public IPs, domains, URLs, hashes)."""
    found = intel_store.case_observables(_engine(data_dir, database), None, case_id)
    if found is None:
        err.print(f"[red]no case {case_id}[/red]")
        raise typer.Exit(2)
    _tenant_id, title, observables = found
    try:
        doc = (sharing.stix_bundle(observables, tlp, title) if fmt == "stix"
               else sharing.misp_event(observables, tlp, title))
        text = json.dumps(doc, indent=2, ensure_ascii=False)
        if output:
            output.write_text(text, encoding="utf-8")
        elif not (push_taxii or push_misp):
            console.print_json(text)
        if push_taxii:
            status = sharing.push_taxii(push_taxii, doc if fmt == "stix" else
                                        sharing.stix_bundle(observables, tlp, title), _options(option))
            console.print(f"TAXII: {status['success_count']} added, {status['failure_count']} failed")
        if push_misp:
            answer = sharing.push_misp(push_misp, doc if fmt == "misp" else
                                       sharing.misp_event(observables, tlp, title), _options(option))
            console.print(f"MISP: event {answer.get('Event', {}).get('id', '?')} created")
    except (sharing.SharingRefused, FeedError) as exc:
        err.print(f"[red]{escape(str(exc))}[/red]")
        raise typer.Exit(2) from None


@app.command("warnings")
def warnings(tenant: str = typer.Option(..., "--tenant", "-t"),
             data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Shared indicators other hospitals have seen (anonymised unless they agreed)."""
    table = Table("indicator", "hospitals", "sightings", "last seen", "named")
    for w in intel_store.shared_warnings(_engine(data_dir, database), frozenset({tenant})):
        table.add_row(f"{w.type} {escape(w.value)}", str(w.tenants), str(w.sightings),
                      f"{w.last_seen:%Y-%m-%d %H:%M}", ", ".join(w.named) or "-")
    console.print(table)


@app.command("share-name")
def share_name(tenant: str, named: bool = typer.Option(..., "--named/--anonymous"),
               data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """A tenant agrees (or no longer) to be named in other tenants' warnings."""
    engine = _engine(data_dir, database)
    _tenant(engine, tenant)
    intel_store.set_named(engine, None, tenant, named)
    console.print(f"{tenant}: future sightings are {'named' if named else 'anonymised'}")


@assets_app.command("import")
def assets_import(csv_file: str, tenant: str = typer.Option(..., "--tenant", "-t"),
                  data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import assets from CSV, then match them against the KEV catalog."""
    engine = _engine(data_dir, database)
    _tenant(engine, tenant)
    with _readable():
        assets, problems = asset_csv.read_csv(csv_file)
    added, updated = intel_assets_store.upsert_assets(engine, None, tenant, assets)
    _skipped(problems)
    console.print(f"{added} assets added, {updated} updated, {len(problems)} rows skipped; "
                  f"{kev.run_early_warning(engine)} new early warnings")


@assets_app.command("observe")
def assets_observe(tenant: Optional[str] = TENANT,  # noqa: UP007
                   days: int = typer.Option(observed.DAYS, "--days", min=1, max=3650, help="Events of this many days."),
                   limit: int = typer.Option(observed.MAX_HOSTS, "--max-hosts", min=1,
                                             help="Hosts per tenant at most (the most recently seen)."),
                   data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Hosts seen in the event store become assets (source observed); known ones get their last
    seen time and empty fields filled. 'hygie serve' does this every few minutes."""
    engine = _engine(data_dir, database)
    if tenant and tenant not in StateStore(engine).tenants():
        err.print(f"[red]no tenant {escape(tenant)!r} in the state store[/red]")
        raise typer.Exit(2)
    events = EventStore((data_dir or data_dir_default()) / "events", read_only=True)
    try:
        report = observed.observe(engine, events, [tenant] if tenant else None, days=days, limit=limit)
    finally:
        events.close()
    for t in report.tenants:
        console.print(f"{t.tenant}: {t.hosts} hosts seen in {days} days, {t.added} new assets, {t.seen} known, "
                      f"{t.filled} fields filled" + (f"; {t.left} more hosts over --max-hosts" if t.left else ""))
    if report.run is not None:
        console.print(f"{report.run.new} new early warnings, {report.run.alerts} alerts")


@kev_app.command("import")
def kev_import(location: str = typer.Argument(..., help="known_exploited_vulnerabilities.json (file or URL)"),
               data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import the KEV catalog and raise early warnings for the assets it concerns."""
    with _readable():
        new, problems, warned = kev.import_catalog(_engine(data_dir, database), location)
    _skipped(problems)
    console.print(f"{len(new)} new catalog entries, {len(problems)} skipped; {warned} new early warnings")


@kev_app.command("warnings")
def kev_warnings(tenant: Optional[str] = TENANT,  # noqa: UP007
                 data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """The early-warning queue, most urgent first."""
    table = Table("rank", "level", "tenant", "asset", "CVE / service", "status", "why")
    tenants = frozenset({tenant}) if tenant else None
    for warning, asset, _entry in intel_assets_store.list_warnings(_engine(data_dir, database), tenants):
        service = warning.detail or {}
        what = warning.cve_id or f"{service.get('port', '?')}/{service.get('transport', '?')}"
        table.add_row(str(warning.rank), warning.level, warning.tenant_id, escape(asset.host), what,
                      warning.status, escape(warning.reason))
    console.print(table)


@nvd_app.command("import")
def nvd_import(location: str = typer.Argument(..., help="NVD CVE API 2.0 JSON: a file, a folder of them, or a URL"),
               data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import CVE records with their CPE criteria; KEV warnings then follow the version ranges."""
    with _readable():
        added, updated, problems, run = early_warning.import_nvd(_engine(data_dir, database), location)
    _skipped(problems)
    console.print(f"{added} CVE records added, {updated} updated, {len(problems)} skipped; "
                  f"{run.new} new early warnings, {run.resolved} resolved, {run.alerts} alerts")


@exposure_app.command("import")
def exposure_import(location: str = typer.Argument(..., help="nmap -oX report, or scan JSON / JSON lines"),
                    tenant: str = typer.Option(..., "--tenant", "-t"),
                    data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Import a scan of the tenant's public addresses; flag risky services, warn and alert."""
    engine = _engine(data_dir, database)
    _tenant(engine, tenant)
    with _readable():
        done = early_warning.import_scan(engine, tenant, location)
    _skipped(done.problems)
    counts = done.counts
    console.print(f"{done.kind}: {counts.hosts} addresses, {counts.services} open services ({counts.risky} risky), "
                  f"{counts.closed} closed since the last scan, {counts.new_assets} new assets, "
                  f"{len(done.problems)} skipped; {done.run.new} new early warnings, {done.run.alerts} alerts")


@exposure_app.command("list")
def exposure_list(tenant: Optional[str] = TENANT, all_: bool = typer.Option(False, "--all", help="Closed too."),  # noqa: UP007
                  data_dir: Optional[Path] = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Services seen open to the internet, risky ones flagged."""
    engine = _engine(data_dir, database)
    tenants = frozenset({tenant}) if tenant else None
    hosts = {a.id: a.host for a in intel_assets_store.list_assets(engine, tenants)}
    table = Table("tenant", "asset", "address", "port", "service", "risk", "source", "last seen")
    for row in intel_exposure_store.list_exposures(engine, tenants, open_only=not all_):
        table.add_row(row.tenant_id, escape(hosts.get(row.asset_id, "?")), row.ip, f"{row.port}/{row.transport}",
                      escape(" ".join(p for p in (row.service, row.product, row.version) if p)),
                      f"{row.risk} ({row.severity})" if row.risk else "", row.source,
                      f"{row.last_seen:%Y-%m-%d %H:%M}" + ("" if row.open else " (closed)"))
    console.print(table)
