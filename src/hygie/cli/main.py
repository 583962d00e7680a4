"""Entry point: ``hygie hunt``, ``hygie serve``, ``hygie alerts``, ``hygie rules ...``."""

from __future__ import annotations

import typer

from hygie import __version__
from hygie.cli import assess
from hygie.cli import intel
from hygie.cli import access, hunt, rules, search, serve, worker
from hygie.cli import respond

app = typer.Typer(
    name="hygie",
    help="Hygie: a security operations centre for hospitals.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("hunt")(hunt.hunt)
app.command("serve")(serve.serve)
app.command("alerts")(serve.alerts)
app.command("token")(serve.tokens)
app.command("search")(search.search)
app.command("worker")(worker.worker)
app.add_typer(rules.app, name="rules")
app.add_typer(assess.app, name="assess")
app.add_typer(intel.app, name="intel")
app.add_typer(access.users_app, name="users")
app.add_typer(access.audit_app, name="audit")
app.add_typer(respond.app, name="respond")


@app.command()
def version() -> None:
    """Print Hygie's version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
