"""Entry point: ``hygie hunt``, ``hygie rules ...``."""

from __future__ import annotations

import typer

from hygie import __version__
from hygie.cli import hunt, rules

app = typer.Typer(
    name="hygie",
    help="Hygie: a security operations centre for hospitals.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("hunt")(hunt.hunt)
app.add_typer(rules.app, name="rules")


@app.command()
def version() -> None:
    """Print Hygie's version."""
    typer.echo(__version__)


if __name__ == "__main__":  # pragma: no cover
    app()
