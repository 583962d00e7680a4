"""Shared fixtures: where ../shared is, and a Sigma engine over the SigmaHQ Windows rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
SIGMA = CORPORA / "sigma"
REGRESSION = CORPORA / "sigma-regression"
ATTACK_SAMPLES = CORPORA / "evtx-attack-samples"
WINDOWS_RULE_DIRS = [
    SIGMA / "rules" / "windows",
    SIGMA / "rules-emerging-threats",
    SIGMA / "rules-threat-hunting" / "windows",
]


def require_corpora() -> None:
    """Skip without ../shared on a developer machine; fail in CI, where it must exist."""
    if CORPORA.is_dir():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CORPORA} is missing: CI must run the corpus tests", pytrace=False)
    pytest.skip(f"{CORPORA} is missing (corpus tests need ../shared)")


@pytest.fixture(scope="session")
def sigmahq_engine():
    """All SigmaHQ Windows rules plus emerging threats, compiled once per test session."""
    require_corpora()
    from hygie.detect.engine import Engine

    engine = Engine.from_paths(WINDOWS_RULE_DIRS)
    engine.warm_up()
    return engine


@pytest.fixture(scope="session")
def pack_engine():
    """Hygie's own packs only (no ../shared needed), compiled once per test session."""
    from hygie.detect.engine import Engine

    engine = Engine.from_paths([], include_packs=True)
    engine.warm_up()
    return engine


POSTGRES_ADMIN = os.environ.get("HYGIE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(params=["sqlite", "postgresql"])
def state_dsn(request, tmp_path):
    """A fresh state database: SQLite in tmp_path, or a throw-away PostgreSQL database on
    127.0.0.1:5432 (dropped afterwards). Without a PostgreSQL server the PostgreSQL case is
    skipped on a developer machine and fails under CI=true."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    import secrets

    import psycopg

    name = "hygie_test_" + secrets.token_hex(6)
    try:
        admin = psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            yield f"{base}/{name}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
