"""Threat intelligence in the console: own and shared indicators visible, another hospital's
never; an analyst expires an own indicator (it stops matching), not a shared one."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from hygie.intel.indicators import Indicator
from hygie.store.state import intel_store
from tests.integration.console_util import PASSWORD, app_for, seed


def test_indicators_in_the_console(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    engine = seeded.context.engine
    ids = {}
    for owner in ("chu-nord", "chu-sud", None):
        feed = intel_store.add_feed(engine, None, owner, f"feed {owner or 'shared'}", "text", "/dev/null")
        intel_store.replace_indicators(engine, feed.id, [Indicator("domain", f"c2-{owner or 'shared'}.example", 80, "green")])
        intel_store.record_run(engine, feed.id, "HTTP 503 from the feed" if owner is None else None, 0)
        ids[owner] = intel_store.search_indicators(engine, None, f"c2-{owner or 'shared'}")[0][0].id
    client = TestClient(app_for(seeded))
    client.post("/login", data={"username": "analyst", "password": PASSWORD})
    page = client.get("/intel").text
    assert "c2-chu-nord.example" in page and "c2-shared.example" in page and "c2-chu-sud" not in page
    assert "HTTP 503 from the feed" in page
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post(f"/intel/indicators/{ids[None]}/expire", data={"csrf_token": csrf}).status_code == 403
    assert client.post(f"/intel/indicators/{ids['chu-sud']}/expire", data={"csrf_token": csrf}).status_code == 404
    done = client.post(f"/intel/indicators/{ids['chu-nord']}/expire", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    active = {i.value for i in intel_store.active_indicators(engine)}
    assert "c2-chu-nord.example" not in active and "c2-shared.example" in active
