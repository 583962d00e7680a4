"""``hygie serve`` (the monitoring service), ``hygie alerts`` and ``hygie tokens``."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import httpx
import orjson
import typer
from rich.console import Console
from rich.table import Table

from hygie.bus.nats import BusError
from hygie.cli.loop import run as run_loop
from hygie.cli.worker import BUS_CA_HELP, BUS_CERT_HELP, BUS_CREDS_HELP, bus_options
from hygie.detect.engine import Engine
from hygie.detect.rulesets import rule_folders
from hygie.pipeline.collectors import CollectorSpecError, SyslogSpec, TlsFiles, WatchSpec
from hygie.pipeline.service import RELOAD_STATUS, Service, ServiceConfig
from hygie.prepare.monthly import MonthlyReports
from hygie.respond.actions import Toolkit
from hygie.respond.playbooks.loader import load_library
from hygie.respond.policy import TriggerWatcher
from hygie.respond.secrets import SecretStore, load_key
from hygie.respond.settings import load_settings
from hygie.store.state.access import AccessStore, generate_password
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.rule_settings import settings_for
from hygie.store.state.store import StateStore
from hygie.web.oidc import OidcConfig
from hygie.web.service_console import console_for

DEMO_DATA = Path(__file__).resolve().parents[1] / "demo" / "hospital_morning.jsonl"
DEMO_SYSLOG = DEMO_DATA.with_name("hospital_morning_syslog.log")
console = Console(stderr=True)
PID_FILE = "serve.pid"  # in the data dir, while 'hygie serve' runs: for 'hygie rules reload'


def compiled_engine(rules: list[Path] | None) -> tuple[Engine, Callable[[], Engine]]:
    """The rules (those given, else the installed ones, plus Hygie's packs) compiled, and the
    loader that reloads them (SIGHUP): what 'hygie serve' and 'hygie worker' run."""
    folders = rule_folders(rules)

    def load_engine() -> Engine:
        return Engine.from_paths(folders, include_packs=True)

    with console.status("Loading and compiling rules..."):
        engine = load_engine()
        engine.warm_up()
    console.print(f"Loaded {len(engine.rules) + len(engine.correlations)} rules"
                  + (f" ({len(engine.load_errors)} rule errors: see 'hygie rules list')"
                     if engine.load_errors else ""))
    return engine, load_engine


def data_dir_default() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(os.environ.get("HYGIE_DATA_DIR") or Path(base) / "hygie")


def serve(
    data_dir: Path = typer.Option(None, "--data-dir", help="Spool and SQLite state (default "
                                  "$HYGIE_DATA_DIR or ~/.local/share/hygie)."),
    database: Optional[str] = typer.Option(None, "--database", help="State DSN, e.g. "  # noqa: UP007
                                           "postgresql+psycopg://user@host/db (default SQLite)."),
    http: str = typer.Option("127.0.0.1:8514", "--http", help="HTTP ingest address."),
    rules: Optional[list[Path]] = typer.Option(None, "--rules", "-r",  # noqa: UP007
                                               help="Sigma rule folders (repeatable)."),
    tenant: list[str] = typer.Option(["demo"], "--tenant", help="Tenants to create (repeatable)."),
    syslog: Optional[list[str]] = typer.Option(  # noqa: UP007
        None, "--syslog", help="Syslog listener TENANT=udp|tcp|tls://HOST:PORT (repeatable; "
        "without 'TENANT=', the first --tenant)."),
    watch: Optional[list[str]] = typer.Option(  # noqa: UP007
        None, "--watch", help="Watched folder TENANT=DIRECTORY of EVTX / JSON files dropped by "
        "an export or backup job, each read once (repeatable)."),
    tls_cert: Optional[Path] = typer.Option(None, "--tls-cert", help="PEM certificate for "  # noqa: UP007
                                            "tls:// syslog listeners (RFC 5425)."),
    tls_key: Optional[Path] = typer.Option(None, "--tls-key", help="PEM private key for it."),  # noqa: UP007
    tls_ca: Optional[Path] = typer.Option(None, "--tls-ca", help="CA whose client "  # noqa: UP007
                                          "certificates tls:// listeners require (mutual TLS)."),
    retention_days: int = typer.Option(90, "--retention-days", min=1,
                                       help="Days of events the event store keeps."),
    max_event_bytes: Optional[int] = typer.Option(  # noqa: UP007
        None, "--max-event-bytes", min=1, help="Size beyond which the event store drops its "
        "oldest days (default: no limit)."),
    metrics_token: Optional[str] = typer.Option(  # noqa: UP007
        None, "--metrics-token", envvar="HYGIE_METRICS_TOKEN", show_default=False,
        help="Bearer token that GET /metrics requires (default: none; prefer the environment "
        "variable, a command line is visible to every local user)."),
    bus: Optional[str] = typer.Option(  # noqa: UP007
        None, "--bus", help="Scale-out: NATS JetStream URL(s) (nats://HOST:4222, comma-separated; "
        "user:password@ or token@ if needed); 'hygie worker' processes then detect."),
    bus_creds: Optional[Path] = typer.Option(None, "--bus-creds", help=BUS_CREDS_HELP),  # noqa: UP007
    bus_ca: Optional[Path] = typer.Option(None, "--bus-ca", help=BUS_CA_HELP),  # noqa: UP007
    bus_cert: Optional[Path] = typer.Option(None, "--bus-cert", help=BUS_CERT_HELP),  # noqa: UP007
    bus_key: Optional[Path] = typer.Option(None, "--bus-key", help="Its private key."),  # noqa: UP007
    console_address: str = typer.Option("127.0.0.1:8000", "--console", help="Console and REST API "
                                        "address HOST:PORT, or 'off'."),
    oidc_issuer: Optional[str] = typer.Option(None, "--oidc-issuer", help="Single sign-on: the OpenID "  # noqa: UP007
                                              "Connect provider's issuer URL (accounts must exist in Hygie)."),
    oidc_client_id: Optional[str] = typer.Option(None, "--oidc-client-id", help="Hygie's client id there."),  # noqa: UP007
    oidc_client_secret: Optional[str] = typer.Option(  # noqa: UP007
        None, "--oidc-client-secret", envvar="HYGIE_OIDC_CLIENT_SECRET", show_default=False,
        help="Its client secret (prefer the environment variable)."),
    oidc_username_claim: str = typer.Option("preferred_username", "--oidc-username-claim",
                                            help="ID token claim holding the Hygie user name."),
    secure_cookies: bool = typer.Option(False, "--secure-cookies", help="Mark session cookies Secure "
                                        "(when the console is served over HTTPS by a proxy)."),
    demo: bool = typer.Option(False, "--demo", help="Replay the demo data set through the HTTP "
                              "collector once started, print the alerts, keep serving."),
    exit_after_demo: bool = typer.Option(False, "--exit-after-demo", hidden=True),
) -> None:
    """Run the monitoring service on the embedded default (one process, local spool)."""
    data_dir = data_dir or data_dir_default()
    host, _, port = http.rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise typer.BadParameter(f"{http!r}: write HOST:PORT, e.g. 127.0.0.1:8514",
                                 param_hint="--http")
    console_host, _, console_port = console_address.rpartition(":")
    if console_address != "off" and (not console_port.isdigit() or int(console_port) > 65535):
        raise typer.BadParameter(f"{console_address!r}: write HOST:PORT or 'off'", param_hint="--console")
    try:
        syslog_specs = [SyslogSpec.parse(text, tenant[0]) for text in syslog or []]
        watch_specs = [WatchSpec.parse(text, tenant[0]) for text in watch or []]
        if demo and not syslog_specs:  # the demo replays its syslog part through a listener
            syslog_specs.append(SyslogSpec(tenant[0], "tcp", "127.0.0.1", 0))
    except CollectorSpecError as exc:
        raise typer.BadParameter(str(exc), param_hint="--syslog / --watch") from None
    if (tls_cert is None) != (tls_key is None):
        raise typer.BadParameter("give both --tls-cert and --tls-key", param_hint="--tls-cert")
    tls = TlsFiles(str(tls_cert), str(tls_key), str(tls_ca) if tls_ca else None) if tls_cert else None
    engine, load_engine = compiled_engine(rules)
    config = ServiceConfig(data_dir=data_dir, database=database, http_host=host or "127.0.0.1",
                           http_port=int(port), tenants=tenant, syslog=syslog_specs, tls=tls,
                           watch=watch_specs, retention_days=retention_days,
                           max_event_bytes=max_event_bytes,
                           metrics_token=metrics_token,
                           console_host=console_host or "127.0.0.1",
                           console_port=None if console_address == "off" else int(console_port),
                           bus=bus_options(bus, bus_creds, bus_ca, bus_cert, bus_key, "hygie-serve")
                           if bus else None)
    try:
        oidc = None
        if oidc_issuer:
            if not oidc_client_id or not oidc_client_secret:
                raise typer.BadParameter("give --oidc-client-id and HYGIE_OIDC_CLIENT_SECRET too",
                                         param_hint="--oidc-issuer")
            oidc = OidcConfig(oidc_issuer, oidc_client_id, oidc_client_secret, oidc_username_claim)
        service = Service(config, engine, engine_factory=load_engine,
                          console_factory=functools.partial(console_for, secure_cookies=secure_cookies, oidc=oidc))
    except BusError as exc:  # NATS unreachable or without JetStream
        console.print(f"[red]Cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    service.periodic.append(_trigger_watcher(service).check)
    service.periodic.append(_monthly_reports(service).run_due)
    try:
        run_loop(_run(service, demo, exit_after_demo))
    except CollectorSpecError as exc:
        console.print(f"[red]Cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        service.close()


async def _run(service: Service, demo: bool, exit_after_demo: bool) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, service.stop)
    loop.add_signal_handler(signal.SIGHUP, service.request_reload)
    pid_file = service.config.data_dir / PID_FILE
    pid_file.write_text(str(os.getpid()))
    try:
        await _serve(service, started, demo, exit_after_demo)
    finally:
        pid_file.unlink(missing_ok=True)


async def _serve(service: Service, started: asyncio.Event, demo: bool,
                 exit_after_demo: bool) -> None:
    runner = asyncio.create_task(service.run(started))
    await asyncio.wait([runner, asyncio.create_task(started.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        runner.result()
        return
    url = f"http://{service.config.http_host}:{service.http_port}"
    console.print(f"Hygie is serving. HTTP ingest: POST {url}/ingest "
                  f"(data in {service.config.data_dir}). Ctrl-C stops.")
    for listener in service.listeners:
        console.print(f"Syslog for tenant {listener.tenant}: {listener.source}")
    for folder in service.folders.collectors if service.folders else []:
        console.print(f"Watching {folder.directory} for tenant {folder.tenant}")
    if service.console_port is not None:
        console.print(f"Console and REST API: http://{service.config.console_host}:{service.console_port}/ "
                      f"(API documentation at /api/docs)")
    if demo:
        await asyncio.to_thread(_demo_users, service)
        await _replay_demo(service, url)
        if exit_after_demo:
            service.stop()
    await runner


def _monthly_reports(service: Service) -> MonthlyReports:
    """Last month's management report of every hospital, written once the month is over."""
    def rule_tags(tenant: str) -> list[list[str]]:
        switches = settings_for(service.state.engine, tenant)
        return [list(s.rule.tags) for s in service.stage.engine.statuses
                if s.active and switches.enabled(s.rule.rule_id, s.rule.pack)]
    return MonthlyReports(service.state.engine, service.config.data_dir, rule_tags)


def _trigger_watcher(service: Service) -> TriggerWatcher:
    """Playbooks started by the tenants' triggers (rule or severity) on new alerts."""
    data_dir = service.config.data_dir
    toolkit = Toolkit(load_library([data_dir / "playbooks"]), load_settings(data_dir / "connectors.json"),
                      SecretStore(service.state.engine, load_key(data_dir)))
    return TriggerWatcher(service.state.engine, toolkit)


DEMO_USERS = (("admin", "admin", []), ("analyst", "analyst", None), ("hospital", "hospital", None),
              ("viewer", "viewer", None))


def _demo_users(service: Service) -> None:
    """One user per role, with passwords generated at each start and printed once."""
    access = AccessStore(service.state.engine)
    known = {user.username for user, _tenants in access.users()}
    table = Table(title="Demo users (passwords generated for this run)")
    for column in ("user", "role", "password"):
        table.add_column(column)
    for username, role, tenants in DEMO_USERS:
        password = generate_password()
        if username in known:
            access.set_password(username, password, "demo")
        else:
            access.create_user(username, password, role,
                               tenants if tenants is not None else [service.config.tenants[0]], "demo")
        table.add_row(username, role, password)
    console.print(table)


async def _replay_demo(service: Service, url: str) -> None:
    tenant = service.config.tenants[0]
    token = await asyncio.to_thread(service.state.create_ingest_token, tenant, "demo replay")
    body = DEMO_DATA.read_bytes()
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{url}/ingest", content=body,
                                     headers={"Authorization": f"Bearer {token}"})
    answer = response.json()
    console.print(f"Demo: sent {DEMO_DATA.name}: {answer.get('accepted')} accepted, "
                  f"{answer.get('rejected')} rejected")
    listener = next((x for x in service.listeners if x.tenant == tenant and
                     x.source.startswith("syslog/tcp:")), None)
    if listener is not None:  # firewall, VPN, Linux and PACS (ATNA) messages, as sent by syslog
        _reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
        lines = DEMO_SYSLOG.read_bytes().splitlines(keepends=True)
        writer.write(b"".join(lines))
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        console.print(f"Demo: sent {DEMO_SYSLOG.name} ({len(lines)} syslog messages) to "
                      f"{listener.source}")
        deadline = time.monotonic() + 30
        while listener.received < len(lines) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
    deadline = time.monotonic() + 60
    while service.backlog and time.monotonic() < deadline:  # bounded wait for detection
        await asyncio.sleep(0.1)
    _print_alerts(service.state, [tenant], 20)
    console.print("List them again with: hygie alerts --tenant " + tenant)


def reload_rules(
    data_dir: Path = typer.Option(None, "--data-dir", help="The running service's data dir."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for the result."),
) -> None:
    """Make the running 'hygie serve' load its rules again (as SIGHUP does) and show the result."""
    data_dir = data_dir or data_dir_default()
    try:
        pid = int((data_dir / PID_FILE).read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        console.print(f"[red]No running 'hygie serve' with data dir {data_dir}[/red]")
        raise typer.Exit(1) from None
    status_path = data_dir / RELOAD_STATUS
    before = status_path.stat().st_mtime_ns if status_path.exists() else 0
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    with console.status(f"Reloading rules in process {pid}..."):
        while time.monotonic() < deadline:
            if status_path.exists() and status_path.stat().st_mtime_ns != before:
                break
            time.sleep(0.2)
        else:
            console.print("[red]No answer in time; see the service's log.[/red]")
            raise typer.Exit(1)
    status = orjson.loads(status_path.read_bytes())
    if not status.get("ok"):
        console.print(f"[red]Reload failed, the previous rules stay active:[/red] {status.get('error')}")
        raise typer.Exit(1)
    console.print(f"Reloaded {status['rules']} rules in {status['seconds']} s"
                  + (f", {status['error_count']} rule errors:" if status["error_count"] else ""))
    for error in status["errors"]:
        console.print(f"  {error}", soft_wrap=True, markup=False, highlight=False)


def alerts(
    tenant: list[str] = typer.Option(["demo"], "--tenant", help="Tenants to show (repeatable)."),
    data_dir: Path = typer.Option(None, "--data-dir"),
    database: Optional[str] = typer.Option(None, "--database"),  # noqa: UP007
    limit: int = typer.Option(50, "--limit"),
) -> None:
    """List the latest alerts stored by 'hygie serve'."""
    _print_alerts(_state(data_dir, database), tenant, limit)


def tokens(
    tenant: str = typer.Argument(..., help="Tenant the token ingests for."),
    label: str = typer.Option("", "--label"),
    data_dir: Path = typer.Option(None, "--data-dir"),
    database: Optional[str] = typer.Option(None, "--database"),  # noqa: UP007
) -> None:
    """Create an HTTP ingest token for a tenant (printed once; only its hash is kept)."""
    state = _state(data_dir, database)
    state.ensure_tenant(tenant)
    typer.echo(state.create_ingest_token(tenant, label))


def _state(data_dir: Path | None, database: str | None) -> StateStore:
    """The state store that 'hygie serve' uses with the same options."""
    return StateStore(open_database(database or sqlite_dsn((data_dir or data_dir_default()) / "state.db")))


def _print_alerts(state: StateStore, tenants: list[str], limit: int) -> None:
    rows = state.alerts(tenants, limit)
    table = Table(title=f"{state.alert_count(tenants)} alerts for {', '.join(tenants)} (latest {len(rows)})")
    for column in ("id", "tenant", "level", "rule", "host", "count", "event time"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row.id), row.tenant_id, row.level, row.title, row.host or "-",
                      str(row.count), row.event_time or "-")
    Console().print(table)
