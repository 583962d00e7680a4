"""``EventStore.search_count`` (one scan for the console's search) gives exactly what
``search`` and ``count`` give, copies of a record counted once."""

from __future__ import annotations

import time

import pytest

from hygie.store.events import EventStore, StoredEvent


@pytest.fixture
def store(tmp_path):
    events = EventStore(tmp_path / "events")
    now = time.time()
    batch = [StoredEvent(tenant=t, record_key=f"{t}-{i}", received=now - 30 * i, time=None, host=f"{t}-PC{i % 7}",
                         source="http", kind="json",
                         fields={"EventID": 4625 if i % 3 else 4688, "IpAddress": f"10.0.{i % 5}.{i % 200}",
                                 "CommandLine": "vssadmin delete shadows" if i % 11 == 0 else "notepad.exe"},
                         raw=b"{}")
             for t in ("a", "b") for i in range(400)]
    events.append(batch)
    events.append(batch[:50])  # copies of records already stored (a redelivery)
    yield events
    events.close()


@pytest.mark.parametrize("query", ["EventID = 4625", "EventID = 4625 AND NOT IpAddress startswith '10.0.1.'",
                                   "CommandLine contains 'vssadmin'", "*", "host = 'a-PC3'", "EventID = 1"])
@pytest.mark.parametrize("tenants", [["a"], ["a", "b"]])
@pytest.mark.parametrize("limit", [1, 25, 1000])
def test_search_count_equals_search_and_count(store, query, tenants, limit) -> None:
    rows, total = store.search_count(tenants, query, limit=limit)
    assert total == store.count(tenants, query)
    assert rows == store.search(tenants, query, limit=limit)
