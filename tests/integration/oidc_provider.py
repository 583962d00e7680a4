"""A minimal OpenID Connect provider on 127.0.0.1 for the single sign-on tests: discovery,
an authorisation endpoint that logs in a chosen user at once, a token endpoint checking the
client secret and PKCE, RS256 ID tokens and their JWKS. It follows OpenID Connect Core 1.0
for the code flow; it is not a product."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from tests.integration.http_json import send_json


class Provider:
    def __init__(self, client_id: str = "hygie", client_secret: str = "s3cret-of-the-client") -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.user = "analyst"  # who logs in at the next /authorize
        self.tamper_nonce = False
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.codes: dict[str, dict[str, str]] = {}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, body: dict[str, object]) -> None:
                send_json(self, status, body)

            def do_GET(self) -> None:  # noqa: N802
                url = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/.well-known/openid-configuration":
                    self._json(200, {"issuer": provider.issuer, "authorization_endpoint": provider.issuer + "/authorize",
                                     "token_endpoint": provider.issuer + "/token", "jwks_uri": provider.issuer + "/jwks",
                                     "response_types_supported": ["code"], "id_token_signing_alg_values_supported": ["RS256"]})
                elif url.path == "/jwks":
                    self._json(200, KeySet([provider.key]).as_dict(private=False))
                elif url.path == "/authorize":
                    if query.get("client_id") != provider.client_id or query.get("code_challenge_method") != "S256":
                        self._json(400, {"error": "invalid_request"})
                        return
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = {"nonce": query.get("nonce", ""), "challenge": query["code_challenge"],
                                            "redirect_uri": query["redirect_uri"], "user": provider.user}
                    self.send_response(302)
                    self.send_header("Location", query["redirect_uri"] + "?" + urlencode(
                        {"code": code, "state": query.get("state", "")}))
                    self.end_headers()
                else:
                    self._json(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802
                if urlsplit(self.path).path != "/token":
                    self._json(404, {"error": "not_found"})
                    return
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                basic = base64.b64decode(self.headers.get("Authorization", "Basic ").split(" ", 1)[1] or b"").decode()
                sent_id, _, sent_secret = basic.partition(":")
                if (sent_id, sent_secret) != (provider.client_id, provider.client_secret):
                    self._json(401, {"error": "invalid_client"})
                    return
                grant = provider.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
                if grant is None or grant["challenge"] != challenge or grant["redirect_uri"] != form.get("redirect_uri"):
                    self._json(400, {"error": "invalid_grant"})
                    return
                now = int(time.time())
                claims = {"iss": provider.issuer, "aud": provider.client_id, "sub": "sub-" + grant["user"],
                          "iat": now, "exp": now + 300, "preferred_username": grant["user"],
                          "nonce": "forged" if provider.tamper_nonce else grant["nonce"]}
                id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, KeySet([provider.key]))
                self._json(200, {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                 "expires_in": 300, "id_token": id_token})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Provider:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
