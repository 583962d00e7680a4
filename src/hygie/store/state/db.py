"""Opening the state database (SQLite by default, PostgreSQL by DSN) and migrating it."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlite_dsn(path: str | Path) -> str:
    return f"sqlite:///{Path(path)}"


def open_database(dsn: str) -> Engine:
    """An SQLAlchemy engine for ``dsn``, migrated to the latest schema.

    SQLite gets WAL (readers do not block the detection stage's writes), foreign keys on, and a
    busy timeout; PostgreSQL gets pre-ping so a restarted server does not fail a request."""
    if dsn.startswith("sqlite"):
        database_path = dsn.split("///", 1)[-1]
        if database_path and database_path != ":memory:":
            Path(database_path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(dsn, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(connection, _record):  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()
    else:
        engine = create_engine(dsn, pool_pre_ping=True)
    migrate(engine)
    return engine


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` with Alembic (idempotent)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
