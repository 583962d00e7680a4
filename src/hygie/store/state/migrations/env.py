"""Alembic environment: the engine is handed over by ``hygie.store.state.migrate``.

Every ``models*.py`` module of the state store is imported so that its tables are in the
metadata (each domain keeps its tables in its own module)."""

from __future__ import annotations

import importlib
from pathlib import Path

from alembic import context

from hygie.store.state.models import Base

for _module in sorted(Path(__file__).resolve().parents[1].glob("models*.py")):
    importlib.import_module(f"hygie.store.state.{_module.stem}")

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
