"""``hygie serve`` (the monitoring service), ``hygie alerts`` and ``hygie tokens``."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Optional

import httpx
import typer
from rich.console import Console
from rich.table import Table

from hygie.detect.engine import Engine
from hygie.detect.rulesets import default_rules_dir
from hygie.pipeline.service import Service, ServiceConfig
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import StateStore

DEMO_DATA = Path(__file__).resolve().parents[1] / "demo" / "hospital_morning.jsonl"
console = Console(stderr=True)


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
    demo: bool = typer.Option(False, "--demo", help="Replay the demo data set through the HTTP "
                              "collector once started, print the alerts, keep serving."),
    exit_after_demo: bool = typer.Option(False, "--exit-after-demo", hidden=True),
) -> None:
    """Run the monitoring service on the embedded default (one process, local spool)."""
    data_dir = data_dir or data_dir_default()
    host, _, port = http.rpartition(":")
    rule_paths = list(rules or [])
    if not rule_paths and default_rules_dir().is_dir():
        rule_paths.append(default_rules_dir())
    with console.status("Loading and compiling rules..."):
        engine = Engine.from_paths(rule_paths, include_packs=True)
        engine.warm_up()
    console.print(f"Loaded {len(engine.rules) + len(engine.correlations)} rules"
                  + (f" ({len(engine.load_errors)} rule errors: see 'hygie rules list')"
                     if engine.load_errors else ""))
    config = ServiceConfig(data_dir=data_dir, database=database, http_host=host or "127.0.0.1",
                           http_port=int(port), tenants=tenant)
    service = Service(config, engine)
    try:
        asyncio.run(_run(service, demo, exit_after_demo))
    finally:
        service.close()


async def _run(service: Service, demo: bool, exit_after_demo: bool) -> None:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, service.stop)
    runner = asyncio.create_task(service.run(started))
    await asyncio.wait([runner, asyncio.create_task(started.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if runner.done():
        runner.result()
        return
    url = f"http://{service.config.http_host}:{service.http_port}"
    console.print(f"Hygie is serving. HTTP ingest: POST {url}/ingest "
                  f"(data in {service.config.data_dir}). Ctrl-C stops.")
    if demo:
        await _replay_demo(service, url)
        if exit_after_demo:
            service.stop()
    await runner


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
    deadline = time.monotonic() + 60
    while service.spool.depth and time.monotonic() < deadline:  # bounded wait for detection
        await asyncio.sleep(0.1)
    _print_alerts(service.state, [tenant], 20)
    console.print("List them again with: hygie alerts --tenant " + tenant)


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
