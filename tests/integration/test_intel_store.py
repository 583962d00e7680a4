"""Threat-intelligence tables on SQLite and PostgreSQL: migration, feeds, indicator
replacement, tenant scope, sightings and the anonymised warnings other tenants see."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from hygie.intel.indicators import Indicator, checked
from hygie.store.state import intel_store as store
from hygie.store.state.db import MIGRATIONS, migrate, open_database
from hygie.store.state.models import Base
from hygie.store.state.store import StateStore

TABLES = {"intel_feeds", "intel_indicators", "intel_sightings", "intel_sharing", "intel_assets",
          "intel_kev", "intel_warnings"}
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def engine(state_dsn):
    engine = open_database(state_dsn)
    state = StateStore(engine)
    for tenant in ("chu-a", "chu-b", "chu-c"):
        state.ensure_tenant(tenant)
    yield engine
    engine.dispose()


def ind(kind: str, value: str, **extra) -> Indicator:
    return checked(Indicator(kind, value, **extra))


def test_migration_matches_the_models_and_downgrades(state_dsn) -> None:
    engine = open_database(state_dsn)
    assert TABLES <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert [d for d in diff if any(t in str(d) for t in TABLES)] == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert not TABLES & set(inspect(engine).get_table_names())
    migrate(engine)
    assert TABLES <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_feeds_are_scoped_and_shared_feeds_are_the_admins(engine) -> None:
    shared = store.add_feed(engine, None, None, "CIRCL OSINT", "misp-feed", "https://x.example/")
    own = store.add_feed(engine, frozenset({"chu-a"}), "chu-a", "local list", "text", "/srv/ioc.txt")
    with pytest.raises(store.IntelStoreError):
        store.add_feed(engine, frozenset({"chu-a"}), None, "sneaky", "text", "/tmp/x")
    with pytest.raises(store.IntelStoreError):
        store.add_feed(engine, frozenset({"chu-a"}), "chu-b", "sneaky", "text", "/tmp/x")
    with pytest.raises(store.IntelStoreError):
        store.add_feed(engine, None, None, "bad", "rss", "/tmp/x")
    assert [f.id for f in store.list_feeds(engine, frozenset({"chu-a"}))] == [shared.id, own.id]
    assert [f.id for f in store.list_feeds(engine, frozenset({"chu-b"}))] == [shared.id]
    assert store.get_feed(engine, frozenset({"chu-b"}), own.id) is None
    assert not store.set_feed_enabled(engine, frozenset({"chu-b"}), own.id, False)
    assert not store.set_feed_enabled(engine, frozenset({"chu-a"}), shared.id, False)
    assert store.find_or_add_feed(engine, frozenset({"chu-a"}), "chu-a", "x", "text",
                                  "/srv/ioc.txt").id == own.id


def test_replacing_indicators_keeps_history_and_counts(engine) -> None:
    feed = store.add_feed(engine, None, None, "feed", "text", "/x", schedule_minutes=60)
    first = store.replace_indicators(engine, feed.id, [ind("ipv4", "192.0.2.1"),
                                                       ind("domain", "evil.example")], now=T0)
    assert (first.added, first.updated, first.removed) == (2, 0, 0)
    later = T0 + timedelta(hours=1)
    second = store.replace_indicators(engine, feed.id, [ind("domain", "evil.example", confidence=90),
                                                        ind("url", "http://bad.example/")], now=later)
    assert (second.added, second.updated, second.removed) == (1, 1, 1)
    store.record_run(engine, feed.id, None, 3, when=later)
    rows, total = store.search_indicators(engine, None)
    assert total == 2
    domain = next(r for r in rows if r.type == "domain")
    assert domain.confidence == 90 and store._aware(domain.first_seen) == T0
    [status] = store.list_feeds(engine, None)
    assert (status.indicator_count, status.problem_count, status.last_error) == (2, 3, None)
    store.record_run(engine, feed.id, "HTTP 503", 0, when=later)
    [status] = store.list_feeds(engine, None)
    assert status.indicator_count == 2 and status.last_error == "HTTP 503"
    assert store._aware(status.last_success) == later
    assert store.due_feeds(engine, later + timedelta(minutes=59)) == []
    assert [f.id for f in store.due_feeds(engine, later + timedelta(minutes=60))] == [feed.id]


def test_active_indicators_and_the_change_stamp(engine) -> None:
    feed = store.add_feed(engine, None, None, "feed", "text", "/x")
    other = store.add_feed(engine, None, "chu-a", "own", "text", "/y")
    store.replace_indicators(engine, feed.id, [
        ind("ipv4", "192.0.2.1"), ind("domain", "old.example", expires=T0 - timedelta(days=1))])
    store.replace_indicators(engine, other.id, [ind("md5", "a" * 32)])
    stamp = store.change_stamp(engine)
    active = {(a.type, a.value, a.tenant_id) for a in store.active_indicators(engine, now=T0)}
    assert active == {("ipv4", "192.0.2.1", None), ("md5", "a" * 32, "chu-a")}
    store.set_feed_enabled(engine, None, other.id, False)
    assert store.change_stamp(engine) != stamp
    assert {a.type for a in store.active_indicators(engine, now=T0)} == {"ipv4"}
    [row] = [r for r in store.search_indicators(engine, None, kind="ipv4")[0]]
    stamp = store.change_stamp(engine)
    assert store.expire_indicator(engine, None, row.id, when=T0)
    assert store.change_stamp(engine) != stamp
    assert list(store.active_indicators(engine, now=T0)) == []


def test_indicator_reads_are_scoped(engine) -> None:
    shared = store.add_feed(engine, None, None, "shared", "text", "/s")
    own_a = store.add_feed(engine, None, "chu-a", "a", "text", "/a")
    store.replace_indicators(engine, shared.id, [ind("domain", "shared.example")])
    store.replace_indicators(engine, own_a.id, [ind("domain", "private-a.example")])
    seen_b = {r.value for r in store.search_indicators(engine, frozenset({"chu-b"}))[0]}
    seen_a = {r.value for r in store.search_indicators(engine, frozenset({"chu-a"}))[0]}
    assert seen_b == {"shared.example"} and seen_a == {"shared.example", "private-a.example"}
    assert store.search_indicators(engine, frozenset({"chu-a"}), text="PRIVATE")[1] == 1
    private = store.search_indicators(engine, None, text="private")[0][0]
    assert store.get_indicators(engine, frozenset({"chu-b"}), [private.id]) == []
    assert not store.expire_indicator(engine, frozenset({"chu-b"}), private.id)
    shared_row = store.search_indicators(engine, None, text="shared")[0][0]
    assert not store.expire_indicator(engine, frozenset({"chu-a"}), shared_row.id)


def test_sightings_are_idempotent_and_shared_anonymously_unless_named(engine) -> None:
    shared = store.add_feed(engine, None, None, "shared", "text", "/s")
    own_a = store.add_feed(engine, None, "chu-a", "a", "text", "/a")
    store.replace_indicators(engine, shared.id, [ind("ipv4", "203.0.113.9")])
    store.replace_indicators(engine, own_a.id, [ind("domain", "private-a.example")])
    public = store.search_indicators(engine, None, kind="ipv4")[0][0].id
    private = store.search_indicators(engine, None, kind="domain")[0][0].id
    sightings = [store.NewSighting(public, "chu-a", "k1", "DestinationIp", T0),
                 store.NewSighting(private, "chu-a", "k1", "QueryName", T0),
                 store.NewSighting(999_999, "chu-a", "k1", "x", T0)]  # removed meanwhile
    assert store.record_sightings(engine, sightings) == 2
    assert store.record_sightings(engine, sightings) == 0  # redelivered batch
    assert len(store.sightings(engine, frozenset({"chu-a"}))) == 2
    assert store.sightings(engine, frozenset({"chu-b"})) == []
    [warning] = store.shared_warnings(engine, frozenset({"chu-b"}))
    assert (warning.value, warning.tenants, warning.named) == ("203.0.113.9", 1, ())
    assert store.shared_warnings(engine, frozenset({"chu-a"})) == []  # its own sighting
    with pytest.raises(store.IntelStoreError):
        store.set_named(engine, frozenset({"chu-b"}), "chu-a", True)
    store.set_named(engine, frozenset({"chu-a"}), "chu-a", True)
    store.record_sightings(engine, [store.NewSighting(public, "chu-a", "k2", "SourceIp",
                                                      T0 + timedelta(minutes=1)),
                                    store.NewSighting(public, "chu-c", "k3", "dst", T0)])
    [warning] = store.shared_warnings(engine, frozenset({"chu-b"}))
    assert (warning.tenants, warning.sightings, warning.named) == (2, 3, ("chu-a",))
    assert store._aware(warning.last_seen) == T0 + timedelta(minutes=1)
