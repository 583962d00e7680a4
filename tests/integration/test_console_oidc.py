"""Single sign-on through a real (minimal) OpenID Connect provider on 127.0.0.1: the provider
says who logs in, Hygie decides what they see; forged or replayed answers are refused."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from fastapi.testclient import TestClient

from hygie.store.state import audit
from hygie.web.oidc import OidcConfig
from tests.integration.console_util import app_for, seed
from tests.integration.oidc_provider import Provider


def _sso(client: TestClient, provider: Provider) -> httpx.Response:
    """Walk the browser's redirects: Hygie -> provider -> Hygie's callback."""
    start = client.get("/login/oidc", params={"next": "/alerts"}, follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith(provider.issuer + "/authorize")
    back = httpx.get(start.headers["location"], follow_redirects=False)
    assert back.status_code == 302
    callback = urlsplit(back.headers["location"])
    assert callback.path == "/login/oidc/callback"
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def test_single_sign_on_logs_in_an_existing_account_with_its_own_rights(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    with Provider() as provider:
        seeded.context.oidc = OidcConfig(provider.issuer, provider.client_id, provider.client_secret)
        client = TestClient(app_for(seeded))
        assert "single sign-on" in client.get("/login").text
        done = _sso(client, provider)
        assert done.status_code == 303 and done.headers["location"] == "/alerts"
        me = client.get("/api/v1/me").json()
        assert me["username"] == "analyst" and me["tenants"] == ["chu-nord"]
        provider.user = "stranger"  # unknown to Hygie: refused, and audited
        refused = _sso(TestClient(app_for(seeded)), provider)
        assert refused.status_code == 401 and "hygie_session" not in refused.cookies
    logins = [(e.actor, e.action) for e in audit.entries(seeded.context.engine, None) if e.action.startswith("login")]
    assert ("analyst", "login") in logins and ("stranger", "login.failed") in logins


def test_forged_nonce_and_replayed_state_are_refused(tmp_path) -> None:
    seeded = seed(f"sqlite:///{tmp_path / 'state.db'}", tmp_path)
    with Provider() as provider:
        seeded.context.oidc = OidcConfig(provider.issuer, provider.client_id, provider.client_secret)
        client = TestClient(app_for(seeded))
        provider.tamper_nonce = True
        assert _sso(client, provider).status_code == 401
        provider.tamper_nonce = False
        start = client.get("/login/oidc", follow_redirects=False)
        back = urlsplit(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
        assert client.get(f"{back.path}?{back.query}", follow_redirects=False).status_code == 303
        replay = TestClient(app_for(seeded)).get(f"{back.path}?{back.query}", follow_redirects=False)
        assert replay.status_code == 401  # the state was used once already
        wrong_secret = OidcConfig(provider.issuer, provider.client_id, "not the secret")
        seeded.context.oidc = wrong_secret
        assert _sso(TestClient(app_for(seeded)), provider).status_code == 401
