"""Alembic environment: the engine is handed over by ``hygie.store.state.migrate``."""

from __future__ import annotations

from alembic import context

from hygie.store.state.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
