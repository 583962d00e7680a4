"""The world of the intel console tests: a seeded console with an API token of each role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.integration.console_util import app_for, seed


def intel_world(tmp_path: Path) -> Iterator[tuple[Any, TestClient, dict[str, dict[str, str]]]]:
    """Yield (seeded console, its client, the Authorization headers of each role's token); a
    fixture's body (``yield from intel_world(tmp_path)``)."""
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path / "data")
    access = seeded.context.access
    tokens = {name: access.create_token(name, role, tenant, "test", "test")
              for name, role, tenant in (("analyst", "analyst", "chu-nord"), ("hospital", "hospital", "chu-nord"),
                                         ("viewer", "viewer", "chu-nord"))}
    tokens["admin"] = access.create_token("admin", "admin", None, "test", "test")
    client = TestClient(app_for(seeded))
    yield seeded, client, {k: {"Authorization": f"Bearer {v}"} for k, v in tokens.items()}
    seeded.context.engine.dispose()
