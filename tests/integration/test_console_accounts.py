"""Accounts from the console: admins create users (password generated, shown once), change
their hospitals, disable them (sessions end), reset passwords; everyone manages their own API
tokens, which act with at most their rights and stop when revoked."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.integration.console_util import PASSWORD, app_for, seed


def _login(app, username: str, password: str = PASSWORD) -> tuple[TestClient, str]:  # type: ignore[no-untyped-def]
    client = TestClient(app)
    response = client.post("/login", data={"username": username, "password": password}, follow_redirects=False)
    assert response.status_code == 303, response.text[:200]
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text).group(1)  # type: ignore[union-attr]
    return client, csrf


def test_admins_manage_accounts(tmp_path) -> None:
    app = app_for(seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path))
    admin, csrf = _login(app, "admin")
    made = admin.post("/api/v1/users", headers={"X-CSRF-Token": csrf},
                      json={"username": "it-lead", "role": "hospital", "tenants": ["chu-sud"]})
    assert made.status_code == 201
    password = made.json()["password"]
    newcomer, _ = _login(app, "it-lead", password)
    assert {a["tenant"] for a in newcomer.get("/api/v1/alerts").json()["items"]} == {"chu-sud"}
    users = {u["username"]: u for u in admin.get("/api/v1/users").json()}
    assert admin.post("/api/v1/users", headers={"X-CSRF-Token": csrf},
                      json={"username": "x", "role": "hospital", "tenants": ["chu-sud", "chu-nord"]}).status_code == 409
    moved = admin.patch(f"/api/v1/users/{users['it-lead']['id']}", headers={"X-CSRF-Token": csrf},
                        json={"tenants": ["chu-nord"]})
    assert moved.status_code == 200
    assert {a["tenant"] for a in newcomer.get("/api/v1/alerts").json()["items"]} == {"chu-nord"}
    admin.patch(f"/api/v1/users/{users['it-lead']['id']}", headers={"X-CSRF-Token": csrf}, json={"disabled": True})
    assert newcomer.get("/api/v1/alerts").status_code == 401  # the session ended with the account
    page = admin.post(f"/admin/users/{users['analyst']['id']}", data={"action": "password", "csrf_token": csrf})
    fresh = re.search(r'<code id="secret">([^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    analyst, _csrf = _login(app, "analyst", fresh)  # the new password works
    assert analyst.get("/api/v1/users").status_code == 403
    assert analyst.get("/admin/users").status_code == 403


def test_own_api_tokens(tmp_path) -> None:
    app = app_for(seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path))
    analyst, csrf = _login(app, "analyst")
    page = analyst.post("/account/tokens", data={"role": "viewer", "tenant": "chu-nord", "label": "grafana",
                                                 "csrf_token": csrf})
    token = re.search(r'<code id="secret">([^<]+)</code>', page.text).group(1)  # type: ignore[union-attr]
    bearer = TestClient(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert bearer.get("/api/v1/me", headers=headers).json()["role"] == "viewer"
    assert bearer.post("/api/v1/tokens", headers=headers, json={"role": "viewer"}).status_code == 403
    higher = analyst.post("/api/v1/tokens", headers={"X-CSRF-Token": csrf},
                          json={"role": "admin", "tenant": "chu-nord"})
    assert higher.status_code == 409  # never more than the user's rights
    listed = analyst.get("/api/v1/tokens").json()
    assert [t["label"] for t in listed] == ["grafana"]
    assert analyst.delete(f"/api/v1/tokens/{listed[0]['id']}", headers={"X-CSRF-Token": csrf}).status_code == 200
    assert bearer.get("/api/v1/me", headers=headers).status_code == 401
