"""``hygie worker``: a detection worker of the scale-out mode (records from NATS JetStream).

Run as many as needed, on this machine or others, beside ``hygie serve --bus nats://…``. Each
needs the rules, the state database and the install's patient-id salt that serve uses.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from hygie.bus.nats import BusError, JetStreamBus, NatsOptions, StreamLimits
from hygie.cli.loop import run as run_loop
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.worker import Worker, WorkerConfig, run_until_signalled
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import StateStore

console = Console(stderr=True)
SALT_HELP = ("copy patient.salt from the data folder of 'hygie serve' (keep it mode 0600) and "
             "pass --patient-salt-file")


def bus_options(url: str, creds: Path | None, ca: Path | None, cert: Path | None,
                key: Path | None, name: str) -> NatsOptions:
    """NATS connection options from the command line (shared with ``hygie serve``)."""
    if (cert is None) != (key is None):
        raise typer.BadParameter("give both --bus-cert and --bus-key", param_hint="--bus-cert")
    for path in (creds, ca, cert, key):
        if path is not None and not path.is_file():
            raise typer.BadParameter(f"{path} is not a file", param_hint="--bus-*")
    return NatsOptions(url, creds_file=_text(creds), ca_file=_text(ca), cert_file=_text(cert),
                       key_file=_text(key), name=name)


BUS_CREDS_HELP = "NATS credentials file (.creds: JWT and NKey seed)."
BUS_CA_HELP = "CA that signed the NATS server's certificate (TLS)."
BUS_CERT_HELP = "Client certificate for NATS mutual TLS (with --bus-key)."


def worker(
    bus: str = typer.Option(..., "--bus", help="NATS server URL(s), comma-separated: "
                            "nats://HOST:4222, tls://…, with user:password@ or token@ if needed."),
    bus_creds: Optional[Path] = typer.Option(None, "--bus-creds", help=BUS_CREDS_HELP),  # noqa: UP007
    bus_ca: Optional[Path] = typer.Option(None, "--bus-ca", help=BUS_CA_HELP),  # noqa: UP007
    bus_cert: Optional[Path] = typer.Option(None, "--bus-cert", help=BUS_CERT_HELP),  # noqa: UP007
    bus_key: Optional[Path] = typer.Option(None, "--bus-key", help="Its private key."),  # noqa: UP007
    database: Optional[str] = typer.Option(None, "--database", help="State DSN, the one "  # noqa: UP007
                                           "'hygie serve' uses (default SQLite in --data-dir)."),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="Data folder (default "  # noqa: UP007
                                            "$HYGIE_DATA_DIR or ~/.local/share/hygie)."),
    rules: Optional[list[Path]] = typer.Option(None, "--rules", "-r",  # noqa: UP007
                                               help="Sigma rule folders (repeatable)."),
    patient_salt_file: Optional[Path] = typer.Option(  # noqa: UP007
        None, "--patient-salt-file", help="The patient-id salt of 'hygie serve' (default "
        "patient.salt in --data-dir): the same patient must get the same pseudonym everywhere."),
    batch: int = typer.Option(500, "--batch", min=1, max=10_000, help="Records per batch."),
    ack_wait: float = typer.Option(60.0, "--ack-wait", min=1.0, help="Seconds after which the "
                                   "batch of a worker that stopped answering goes to another."),
    name: str = typer.Option("", "--name", help="This worker's name in serve's /metrics "
                             "(default: HOST-PID)."),
    heartbeat: float = typer.Option(5.0, "--heartbeat", min=0.5, max=300.0, help="Seconds "
                                    "between two reports of the counters to serve (/metrics)."),
) -> None:
    """Detect on records from NATS JetStream: alerts to the state store, events to serve."""
    from hygie.cli.serve import compiled_engine, data_dir_default

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    data_dir = data_dir or data_dir_default()
    salt_path = patient_salt_file or data_dir / "patient.salt"
    if not salt_path.is_file() or salt_path.stat().st_size == 0:
        console.print(f"[red]Cannot start:[/red] no patient-id salt at {salt_path}: {SALT_HELP}")
        raise typer.Exit(2)
    options = bus_options(bus, bus_creds, bus_ca, bus_cert, bus_key, name="hygie-worker")
    engine, load_engine = compiled_engine(rules)
    state = StateStore(open_database(database or sqlite_dsn(data_dir / "state.db")))
    stage = DetectionStage(engine, PatientPolicy(salt_path.read_bytes()), forward_correlations=True)
    try:
        run_loop(_work(options, StreamLimits(ack_wait_s=ack_wait), stage, state,
                       WorkerConfig(batch=batch, heartbeat_s=heartbeat, name=name), load_engine))
    except BusError as exc:
        console.print(f"[red]Cannot start:[/red] {exc}")
        raise typer.Exit(2) from None
    finally:
        state.engine.dispose()


async def _work(options: NatsOptions, limits: StreamLimits, stage: DetectionStage,
                state: StateStore, config: WorkerConfig,
                load_engine: Callable[[], Engine]) -> None:
    bus = await JetStreamBus.connect(options, limits, owner=False)
    console.print(f"Worker connected to {options.describe()}; Ctrl-C stops after the batch in hand.")
    try:
        await run_until_signalled(Worker(bus, stage, state, config, load_engine))
    finally:
        await bus.close()


def _text(path: Path | None) -> str | None:
    return str(path) if path is not None else None
