"""TAXII 2.1 polling with ``added_after`` against a real server (medallion on loopback): the
first poll reads the whole collection page by page, later polls only what was added since
(the cursor comes from ``X-TAXII-Date-Added-*`` headers, else the manifest); a revoked
object removes its indicator; a password given in the console is stored encrypted and opened
for the poll only."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.core.secrets import KEY_ENV, Cipher
from hygie.intel.feeds import taxii
from hygie.intel.refresh import refresh_feed
from hygie.store.state import intel_store
from hygie.store.state.db import open_database
from hygie.store.state.models_intel import IntelFeed
from hygie.store.state.store import StateStore

from .intel_peers import TAXII_PASSWORD, TAXII_USER, medallion_server

AUTH = {"user": TAXII_USER, "password": TAXII_PASSWORD}


def indicator(domain: str, ident: str | None = None, modified: str = "2026-11-20T08:00:00.000Z",
              revoked: bool = False) -> dict:
    return {"type": "indicator", "spec_version": "2.1", "id": ident or f"indicator--{uuid.uuid4()}",
            "created": "2026-11-20T08:00:00.000Z", "modified": modified, "name": f"C2 {domain}",
            "pattern": f"[domain-name:value = '{domain}']", "pattern_type": "stix",
            "valid_from": "2026-11-20T08:00:00Z", "confidence": 70, "revoked": revoked}


def push(collection: str, objects: list[dict]) -> None:
    status = taxii.push(collection, {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}, AUTH)
    assert status["success_count"] == len(objects), status


def values(engine, feed_id: int) -> set[str]:  # type: ignore[no-untyped-def]
    rows, _ = intel_store.search_indicators(engine, None, feed_id=feed_id, limit=1000)
    return {r.value for r in rows}


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    StateStore(engine).ensure_tenant("chu-a")
    yield engine
    engine.dispose()


def test_polls_ask_only_for_what_was_added_since(tmp_path: Path, engine, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV, raising=False)
    data = tmp_path / "data"
    sealed = Cipher.of(data).seal(TAXII_PASSWORD)
    first = [indicator(f"first-{n}.example") for n in range(7)]
    with medallion_server(tmp_path) as collection:
        push(collection, first)
        feed = intel_store.add_feed(engine, None, "chu-a", "CERT TAXII", "taxii", collection,
                                    {"user": TAXII_USER, "per_request": 3}, credential=sealed, actor="admin")
        with Session(engine) as session:  # the password is not in the database in clear
            stored = session.scalar(select(IntelFeed.credential).where(IntelFeed.id == feed.id))
        assert stored and TAXII_PASSWORD not in stored and TAXII_PASSWORD not in str(feed.options)

        report = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id), data)  # pages of 3
        assert report.error is None and report.imported == 7
        cursor = intel_store.get_feed(engine, None, feed.id).cursor
        assert cursor and cursor.startswith("20")

        second = [indicator(f"second-{n}.example") for n in range(4)]
        push(collection, second)
        report = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id), data)
        assert report.error is None and report.imported == 4 and report.removed == 0  # only the new ones
        assert values(engine, feed.id) == {f"first-{n}.example" for n in range(7)} | {
            f"second-{n}.example" for n in range(4)}
        later = intel_store.get_feed(engine, None, feed.id).cursor
        assert later is not None and later > cursor

        report = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id), data)
        assert report.error is None and report.imported == 0  # nothing new
        assert intel_store.get_feed(engine, None, feed.id).cursor == later

        # a new version of an earlier indicator that revokes it: its indicator goes
        push(collection, [indicator("first-0.example", first[0]["id"], "2026-11-21T08:00:00.000Z", revoked=True)])
        report = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id), data)
        assert report.error is None and report.removed == 1
        assert "first-0.example" not in values(engine, feed.id) and len(values(engine, feed.id)) == 10
        [status] = [f for f in intel_store.list_feeds(engine, None) if f.id == feed.id]
        assert status.indicator_count == 10 and status.last_error is None

        # without the installation's key, the credential cannot be opened: an error, nothing lost
        failed = refresh_feed(engine, intel_store.get_feed(engine, None, feed.id), tmp_path / "other")
        assert failed.error and "decrypted" in failed.error and len(values(engine, feed.id)) == 10


def test_the_manifest_gives_the_cursor_when_headers_are_missing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(taxii, "DATE_HEADERS", ())  # as a server that sends no date headers
    with medallion_server(tmp_path) as collection:
        push(collection, [indicator("a.example"), indicator("b.example")])
        whole = taxii.read(collection, dict(AUTH))
        assert len(whole.indicators) == 2 and whole.cursor
        push(collection, [indicator("c.example")])
        since = taxii.read(collection, {**AUTH, "added_after": whole.cursor})
        assert [i.value for i in since.indicators] == ["c.example"] and since.cursor > whole.cursor
        full = taxii.read(collection, {**AUTH, "added_after": whole.cursor, "full": True})
        assert len(full.indicators) == 3 and full.cursor is None
