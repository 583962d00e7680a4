"""``hygie users`` (console accounts and API tokens) and ``hygie audit verify``."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from hygie.cli.serve import _state
from hygie.store.state import audit
from hygie.store.state.access import AccessError, AccessStore, generate_password

console = Console()
users_app = typer.Typer(help="Console users and REST API tokens.", no_args_is_help=True)
audit_app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
DATA_DIR = typer.Option(None, "--data-dir", help="As given to 'hygie serve'.")
DATABASE = typer.Option(None, "--database", help="State DSN, as given to 'hygie serve'.")


def _access(data_dir: Path | None, database: str | None) -> AccessStore:
    return AccessStore(_state(data_dir, database).engine)


def _fail(exc: Exception) -> None:
    console.print(f"[red]{exc}[/red]")
    raise typer.Exit(2)


@users_app.command("add")
def add(username: str = typer.Argument(...),
        role: str = typer.Option(..., "--role", help="admin, analyst, hospital or viewer."),
        tenant: Optional[list[str]] = typer.Option(None, "--tenant", help="Tenant the user sees (repeatable)."),  # noqa: UP007
        generate: bool = typer.Option(False, "--generate", help="Generate and print a password."),
        data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Create a user; the password is asked for (or generated and printed once)."""
    password = generate_password() if generate else getpass.getpass("Password (10 characters at least): ")
    try:
        _access(data_dir, database).create_user(username, password, role, list(tenant or []), "cli")
    except AccessError as exc:
        _fail(exc)
    console.print(f"User {username} ({role}) created" + (f"; password: {password}" if generate else ""))


@users_app.command("list")
def list_users(data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    table = Table("user", "role", "tenants", "locked until", "disabled")
    for user, tenants in _access(data_dir, database).users():
        table.add_row(user.username, user.role, ", ".join(tenants) or "(all)",
                      str(user.locked_until or ""), "yes" if user.disabled else "")
    console.print(table)


@users_app.command("password")
def password(username: str = typer.Argument(...), data_dir: Path = DATA_DIR,
             database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Set a new password (also unlocks the account and ends its sessions)."""
    new = getpass.getpass("New password: ")
    try:
        _access(data_dir, database).set_password(username, new, "cli")
    except AccessError as exc:
        _fail(exc)
    console.print("Password changed.")


@users_app.command("token")
def token(username: str = typer.Argument(...),
          role: str = typer.Option(..., "--role", help="Role of the token (at most the user's)."),
          tenant: Optional[str] = typer.Option(None, "--tenant", help="Tenant (omit: all, admin only)."),  # noqa: UP007
          label: str = typer.Option("", "--label"), data_dir: Path = DATA_DIR,
          database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Create a REST API token (printed once; only its hash is kept)."""
    try:
        typer.echo(_access(data_dir, database).create_token(username, role, tenant, label, "cli"))
    except AccessError as exc:
        _fail(exc)


@audit_app.command("verify")
def verify(data_dir: Path = DATA_DIR, database: Optional[str] = DATABASE) -> None:  # noqa: UP007
    """Check the audit log's hash chain; exit code 1 names the first tampered entry."""
    report = audit.verify(_state(data_dir, database).engine)
    if report.ok:
        console.print(f"Audit log intact: {report.entries} entries, chain verified.")
        return
    console.print(f"[red]Audit log tampered with at entry {report.first_bad_seq}: {report.reason}[/red] "
                  f"({report.entries} entries verified before it)")
    raise typer.Exit(1)
