"""A feed edited after it was added, with ``PATCH /api/v1/intel/feeds/{id}`` and the intel page's
form: name, location, schedule, defaults and credential, checked as a new feed is (400 with the
reason); the credential kept when none is given, replaced and sealed when one is, never sent
back or logged; a CLI feed's path and secret options left alone; audited; another hospital's
feed not found, a shared one the platform admins'."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hygie.core.secrets import KEY_ENV, Cipher
from hygie.store.state import audit, intel_store
from hygie.store.state.models_intel import IntelFeed
from tests.integration.console_util import PASSWORD
from tests.integration.intel_world import intel_world

pytestmark = pytest.mark.usefixtures("no_env_key")


@pytest.fixture
def no_env_key(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    yield from intel_world(tmp_path)


def stored_credential(seeded, feed_id: int) -> str | None:  # type: ignore[no-untyped-def]
    with Session(seeded.context.engine) as session:
        return session.scalar(select(IntelFeed.credential).where(IntelFeed.id == feed_id))


def updates(seeded, feed_id: int) -> list:  # type: ignore[no-untyped-def,type-arg]
    return [e for e in audit.entries(seeded.context.engine, None)
            if e.action == "intel.feed.update" and e.target == f"feed:{feed_id}"]


def test_a_feed_is_edited_and_its_credential_kept_or_replaced(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    made = client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "CERT TAXII", "kind": "taxii", "location": "https://taxii.example/api/collections/a/",
        "user": "hygie", "credential": "P" * 24, "tlp": "green"})
    assert made.status_code == 201, made.text
    feed_id, url = made.json()["id"], f"/api/v1/intel/feeds/{made.json()['id']}"
    intel_store.set_cursor(seeded.context.engine, feed_id, "2026-11-01T00:00:00Z")
    sealed = stored_credential(seeded, feed_id)

    edited = client.patch(url, headers=auth["analyst"], json={
        "name": "CERT TAXII régional", "location": "https://taxii.example/api/collections/b/",
        "schedule_minutes": 120, "tlp": "amber", "confidence": 60, "expire_days": 10})
    assert edited.status_code == 200, edited.text
    body = edited.json()
    assert (body["name"], body["location"], body["schedule_minutes"], body["enabled"]) == (
        "CERT TAXII régional", "https://taxii.example/api/collections/b/", 120, True)
    assert body["options"] == {"tlp": "amber", "confidence": 60, "expire_days": 10, "user": "hygie"}
    assert body["has_credential"] and body["cursor"] is None  # the old collection's cursor is forgotten
    assert stored_credential(seeded, feed_id) == sealed  # none given: kept as it was
    [entry] = updates(seeded, feed_id)
    assert entry.actor == "analyst (token:test)"
    assert entry.detail["changed"]["name"] == ["CERT TAXII", "CERT TAXII régional"]
    assert entry.detail["changed"]["options"] == {"tlp": ["green", "amber"], "confidence": [None, 60],
                                                  "expire_days": [None, 10]}
    assert "credential" not in entry.detail["changed"]

    replaced = client.patch(url, headers=auth["analyst"], json={"credential": "Q" * 24, "schedule_minutes": None,
                                                                "tlp": None, "user": ""})
    assert replaced.status_code == 200 and "Q" * 24 not in replaced.text
    assert (replaced.json()["schedule_minutes"], replaced.json()["options"]) == (
        None, {"confidence": 60, "expire_days": 10})
    now = stored_credential(seeded, feed_id)
    assert now != sealed and "QQQQ" not in now  # type: ignore[operator]
    assert Cipher.of(seeded.context.data_dir).open(now, "the credential").reveal() == "Q" * 24  # type: ignore[arg-type]
    assert updates(seeded, feed_id)[0].detail["changed"]["credential"] == "replaced"
    assert all("Q" * 24 not in str(e.detail) and "P" * 24 not in str(e.detail)
               for e in audit.entries(seeded.context.engine, None))
    assert client.patch(url, headers=auth["analyst"], json={"credential": ""}).status_code == 200
    assert stored_credential(seeded, feed_id) == now  # empty: kept
    assert client.patch(url, headers=auth["analyst"], json={"enabled": False}).json()["enabled"] is False


def test_bad_input_is_refused_with_the_reason_and_changes_nothing(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    made = client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "list", "kind": "text", "location": "https://x.example/l.txt"}).json()
    url = f"/api/v1/intel/feeds/{made['id']}"
    for bad, reason in (({"location": "/etc/passwd"}, "location: an http:// or https:// URL"),
                        ({"location": "file:///etc/shadow"}, "location: an http:// or https:// URL"),
                        ({"location": "http://[not-an-address/"}, "location: an http:// or https:// URL"),
                        ({"credential": "s3cret-s3cret"}, "credential: a text feed takes none"),
                        ({"user": "bob"}, "credential: a text feed takes none"),
                        ({"name": "   "}, "name: 1 to 200 characters")):
        refused = client.patch(url, headers=auth["analyst"], json=bad)
        assert refused.status_code == 400 and refused.json()["detail"].startswith(reason), (bad, refused.text)
        assert "s3cret-s3cret" not in refused.text
    assert client.patch(url, headers=auth["analyst"], json={"confidence": 101}).status_code == 422
    assert client.patch(url, headers=auth["analyst"], json={"name": "a\x00b"}).status_code == 422
    misp = client.post("/api/v1/intel/feeds", headers=auth["analyst"], json={
        "name": "MISP", "kind": "misp", "location": "https://misp.example", "credential": "K" * 40}).json()
    assert client.patch(f"/api/v1/intel/feeds/{misp['id']}", headers=auth["analyst"],
                        json={"name": "MISP régional"}).status_code == 200  # its stored key counts
    after = client.get(url, headers=auth["analyst"]).json()
    assert (after["name"], after["location"], after["has_credential"]) == ("list", "https://x.example/l.txt", False)
    assert updates(seeded, made["id"]) == []
    manual = client.post("/api/v1/intel/indicators", headers=auth["analyst"], json={"value": "x.example"}).json()
    hand = f"/api/v1/intel/feeds/{manual['feed_id']}"
    assert client.patch(hand, headers=auth["analyst"], json={"name": "mine"}).status_code == 409
    assert client.patch(hand, headers=auth["analyst"], json={"enabled": True}).status_code == 200


def test_a_cli_feed_keeps_its_path_and_secret_options(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    engine = seeded.context.engine
    folder = intel_store.add_feed(engine, None, "chu-nord", "CERT folder", "misp-feed", "/srv/cert/feed",
                                  {"password_env": "CERT_PW", "all_attributes": True}, 60)
    web = intel_store.add_feed(engine, None, "chu-nord", "CERT web", "stix", "https://bob:hunter2@cert.example/b.json",
                               {"password": "hunter2"})
    renamed = client.patch(f"/api/v1/intel/feeds/{folder.id}", headers=auth["analyst"],
                           json={"name": "CERT (dossier)", "tlp": "amber"})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["location"], renamed.json()["options"]) == (
        "/srv/cert/feed", {"password_env": "CERT_PW", "all_attributes": True, "tlp": "amber"})
    # the location as the console shows it (password masked) is the stored one
    shown = client.get(f"/api/v1/intel/feeds/{web.id}", headers=auth["analyst"]).json()["location"]
    assert shown == "https://bob:***@cert.example/b.json"
    kept = client.patch(f"/api/v1/intel/feeds/{web.id}", headers=auth["analyst"],
                        json={"location": shown, "confidence": 40})
    assert kept.status_code == 200 and "hunter2" not in kept.text
    stored = intel_store.get_feed(engine, None, web.id)
    assert stored.location == "https://bob:hunter2@cert.example/b.json"  # type: ignore[union-attr]
    assert stored.options == {"password": "hunter2", "confidence": 40}  # type: ignore[union-attr]
    assert client.patch(f"/api/v1/intel/feeds/{folder.id}", headers=auth["analyst"],
                        json={"location": "/srv/other"}).status_code == 400  # a new path: not from the web
    moved = client.patch(f"/api/v1/intel/feeds/{web.id}", headers=auth["analyst"],
                         json={"location": "https://alice:pw2@cert.example/c.json"})
    assert moved.status_code == 200 and "pw2" not in moved.text
    assert all("hunter2" not in str(e.detail) and "pw2" not in str(e.detail) for e in audit.entries(engine, None))
    assert updates(seeded, web.id)[0].detail["changed"]["location"] == [
        "https://bob:***@cert.example/b.json", "https://alice:***@cert.example/c.json"]


def test_who_may_edit_which_feed(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, auth = world
    engine = seeded.context.engine
    own = intel_store.add_feed(engine, None, "chu-nord", "nord", "text", "https://n.example/l.txt")
    foreign = intel_store.add_feed(engine, None, "chu-sud", "sud", "text", "https://s.example/l.txt")
    shared = intel_store.add_feed(engine, None, None, "shared", "text", "https://c.example/l.txt")
    change = {"name": "changed"}
    assert client.patch(f"/api/v1/intel/feeds/{foreign.id}", headers=auth["analyst"], json=change).status_code == 404
    assert client.patch(f"/api/v1/intel/feeds/{shared.id}", headers=auth["analyst"], json=change).status_code == 403
    for role in ("viewer", "hospital"):
        assert client.patch(f"/api/v1/intel/feeds/{own.id}", headers=auth[role], json=change).status_code == 403
    assert client.patch(f"/api/v1/intel/feeds/{shared.id}", headers=auth["admin"], json=change).status_code == 200
    assert {f.name for f in intel_store.list_feeds(engine, None)} == {"nord", "sud", "changed"}


def login(client: TestClient, username: str) -> str:
    client.post("/login", data={"username": username, "password": PASSWORD})
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get("/intel").text).group(1)  # type: ignore[union-attr]


def test_the_console_form(world) -> None:  # type: ignore[no-untyped-def]
    seeded, client, _auth = world
    engine = seeded.context.engine
    feed = intel_store.add_feed(engine, None, "chu-nord", "CERT TAXII", "taxii", "https://t.example/c/",
                                {"user": "hygie", "tlp": "green"}, 30,
                                Cipher.of(seeded.context.data_dir).seal("old-password"))
    csrf = login(client, "analyst")
    page = client.get("/intel").text
    found = re.search(rf'<details class="edit" id="edit-feed-{feed.id}" >(.*?)</details>', page, re.S)
    form = found.group(1)  # type: ignore[union-attr]
    assert 'value="https://t.example/c/"' in form and 'value="30"' in form and 'value="hygie"' in form
    assert "<option selected>green</option>" in form and 'name="credential" type="password"' in form
    typed = {"csrf_token": csrf, "name": "CERT TAXII 2", "location": "ftp://t.example/c/", "schedule_minutes": "45",
             "tlp": "amber", "confidence": "", "expire_days": "", "user": "hygie", "credential": "new-password"}
    refused = client.post(f"/intel/feeds/{feed.id}/edit", data=typed)
    assert refused.status_code == 400 and "location: an http:// or https:// URL" in refused.text
    assert f'id="edit-feed-{feed.id}" open' in refused.text and 'value="ftp://t.example/c/"' in refused.text
    assert 'value="CERT TAXII 2"' in refused.text and "new-password" not in refused.text
    assert client.post(f"/intel/feeds/{feed.id}/edit", data={**typed, "schedule_minutes": "x"}).status_code == 400
    saved = client.post(f"/intel/feeds/{feed.id}/edit", data={**typed, "location": "https://t.example/d/"},
                        follow_redirects=False)
    assert saved.status_code == 303
    after = intel_store.get_feed(engine, None, feed.id)
    assert (after.name, after.location, after.schedule_minutes, after.options) == (  # type: ignore[union-attr]
        "CERT TAXII 2", "https://t.example/d/", 45, {"user": "hygie", "tlp": "amber"})
    cipher = Cipher.of(seeded.context.data_dir)
    assert cipher.open(after.credential).reveal() == "new-password"  # type: ignore[union-attr,arg-type]
    client.post(f"/intel/feeds/{feed.id}/edit", data={**typed, "location": "https://t.example/d/", "credential": ""})
    kept = intel_store.get_feed(engine, None, feed.id).credential  # type: ignore[union-attr]
    assert cipher.open(kept).reveal() == "new-password"  # type: ignore[arg-type]  # empty: the stored one stays
    foreign = intel_store.add_feed(engine, None, "chu-sud", "sud", "text", "https://s.example/l.txt")
    assert client.post(f"/intel/feeds/{foreign.id}/edit", data=typed).status_code == 404
    viewer = TestClient(client.app)
    viewer_csrf = login(viewer, "viewer")
    assert 'class="edit"' not in viewer.get("/intel").text
    assert viewer.post(f"/intel/feeds/{feed.id}/edit", data={**typed, "csrf_token": viewer_csrf}).status_code == 403
