"""Optional single sign-on with OpenID Connect (authorization code flow with PKCE), through
Authlib's OAuth 2 client; the ID token is checked with joserfc against the provider's keys
(signature, issuer, audience, expiry, nonce).

The provider says who the person is; Hygie decides what they may do: the account must exist
in Hygie (``hygie users add``) under the name the provider gives in ``username_claim``, and
its role and hospitals are Hygie's. Pending logins are kept server-side, bounded and short."""

from __future__ import annotations

import secrets
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

PENDING_LIMIT = 1000
PENDING_TTL_S = 600.0
CLOCK_SKEW_S = 60


def _client(*args: Any, **kwargs: Any) -> Any:
    """Authlib's OAuth 2 client over httpx (its import warns about a future httpx2 move)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    return AsyncOAuth2Client(*args, **kwargs)


class OidcError(Exception):
    """A login through the provider that cannot be accepted (the reason goes to the audit log)."""


@dataclass
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    username_claim: str = "preferred_username"
    scopes: str = "openid profile email"
    _metadata: dict[str, Any] | None = field(default=None, repr=False)
    _pending: OrderedDict[str, tuple[float, str, str, str]] = field(default_factory=OrderedDict, repr=False)

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (read once)."""
        if self._metadata is None:
            url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            async with httpx.AsyncClient(timeout=10) as client:
                response = await client.get(url)
            if response.status_code != 200:
                raise OidcError(f"discovery document at {url} answered {response.status_code}")
            found = response.json()
            if found.get("issuer", "").rstrip("/") != self.issuer.rstrip("/"):
                raise OidcError("the discovery document names another issuer")
            self._metadata = found
        return self._metadata

    async def start(self, redirect_uri: str, next_path: str) -> str:
        """The provider's authorisation URL for a new login."""
        meta = await self.metadata()
        state, nonce, verifier = (secrets.token_urlsafe(24), secrets.token_urlsafe(24),
                                  secrets.token_urlsafe(48))
        self._forget_old()
        self._pending[state] = (time.monotonic(), nonce, verifier, next_path)
        while len(self._pending) > PENDING_LIMIT:
            self._pending.popitem(last=False)
        client = _client(self.client_id, self.client_secret, scope=self.scopes,
                                   redirect_uri=redirect_uri, code_challenge_method="S256")
        url, _state = client.create_authorization_url(meta["authorization_endpoint"], state=state,
                                                      nonce=nonce, code_verifier=verifier)
        return url

    async def finish(self, redirect_uri: str, code: str, state: str) -> tuple[str, str]:
        """(Hygie user name, next path) of a login the provider completed."""
        self._forget_old()
        pending = self._pending.pop(state, None)
        if pending is None:
            raise OidcError("unknown or expired login state")
        _started, nonce, verifier, next_path = pending
        meta = await self.metadata()
        async with _client(self.client_id, self.client_secret, redirect_uri=redirect_uri,
                                     timeout=10) as client:
            try:
                token = await client.fetch_token(meta["token_endpoint"], code=code, code_verifier=verifier)
            except Exception as exc:  # the provider refused the code: its message, not a 500
                raise OidcError(f"the provider refused the code: {exc}") from None
            id_token = token.get("id_token")
            if not id_token:
                raise OidcError("the provider sent no ID token")
            keys = (await client.get(meta["jwks_uri"])).json()
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(keys))
            jwt.JWTClaimsRegistry(leeway=CLOCK_SKEW_S, iss={"essential": True, "value": meta["issuer"]},
                                  aud={"essential": True, "value": self.client_id},
                                  nonce={"essential": True, "value": nonce},
                                  exp={"essential": True}).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise OidcError(f"ID token rejected: {exc}") from None
        username = decoded.claims.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise OidcError(f"the ID token has no {self.username_claim!r} claim")
        return username, next_path

    def _forget_old(self) -> None:
        limit = time.monotonic() - PENDING_TTL_S
        while self._pending and next(iter(self._pending.values()))[0] < limit:
            self._pending.popitem(last=False)
