"""TAXII 2.1 collections polled with ``taxii2-client``, page by page (``more``/``next``).

Incremental by default: each poll asks only for the objects ``added_after`` the feed's cursor,
and the new cursor is the newest ``X-TAXII-Date-Added-First``/``-Last`` header the server sent
(TAXII 2.1, section 3.4.2), else the newest ``date_added`` of the collection's manifest for
those objects. The first poll (no cursor) reads the whole collection.

Options: ``user`` and ``password_env`` (HTTP basic auth; the password stays in the
environment) or ``secret`` (a ``Secret``: the console's encrypted credential, opened for this
poll only), ``verify_tls`` (default true), ``per_request`` (page size, default 500),
``added_after`` (the cursor, set by the refresh from the feed), ``full`` (true: always the
whole collection, no cursor)."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

import requests

from hygie.core.secrets import Secret
from hygie.intel.feeds import FeedError, ImportResult, parse_time
from hygie.intel.feeds.stix import read_objects

DATE_HEADERS = ("X-TAXII-Date-Added-First", "X-TAXII-Date-Added-Last")


class _Auth(requests.auth.AuthBase):
    """Basic auth (when a user is given) that also notes the date headers of every answer:
    ``taxii2-client`` returns bodies only, and the cursor is in the headers."""

    def __init__(self, user: str | None, password: Secret | str | None) -> None:
        self.user, self.password = user, password
        self.dates: list[str] = []

    def __repr__(self) -> str:
        return f"_Auth(user={self.user!r}, password=<hidden>)"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.user:
            clear = self.password.reveal() if isinstance(self.password, Secret) else self.password or ""
            request = requests.auth.HTTPBasicAuth(self.user, clear)(request)
        request.register_hook("response", self._seen)
        return request

    def _seen(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> requests.Response:
        self.dates.extend(response.headers[h] for h in DATE_HEADERS if response.headers.get(h))
        return response


def _password(options: dict[str, Any]) -> Secret | str | None:
    if isinstance(options.get("secret"), Secret):
        return options["secret"]
    if options.get("password_env"):
        return os.environ.get(str(options["password_env"]), "")
    return options.get("password")


def collection(url: str, options: dict[str, Any], auth: _Auth | None = None) -> Any:
    from taxii2client.v21 import Collection

    auth = auth or _Auth(options.get("user"), _password(options))
    try:
        return Collection(url, verify=bool(options.get("verify_tls", True)), auth=auth)
    except Exception as exc:
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None


def read(url: str, options: dict[str, Any]) -> ImportResult:
    """The collection's objects (those added after ``options['added_after']`` when given);
    ``result.cursor`` is where the next poll starts."""
    from taxii2client.v21 import as_pages

    result = ImportResult(dict(options))
    since = None if options.get("full") else options.get("added_after") or None
    auth = _Auth(options.get("user"), _password(options))
    per_request = int(options.get("per_request", 500))
    try:
        source = collection(url, options, auth)
        filters = {"added_after": since} if since else {}
        count = 0
        for envelope in as_pages(source.get_objects, per_request=per_request, **filters):
            objects = envelope.get("objects", []) or []
            count += len(objects)
            read_objects(objects, url, result)
        newest = _newest(auth.dates)
        if newest is None and count:  # a server without the date headers: ask the manifest
            newest = _newest([m.get("date_added", "") for page in as_pages(
                source.get_manifest, per_request=per_request, **filters)
                for m in page.get("objects", []) or [] if isinstance(m, dict)])
    except FeedError:
        raise
    except Exception as exc:  # requests' and taxii2client's errors: the poll failed as a whole
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None
    if not options.get("full"):
        result.cursor = max((d for d in (newest, since) if d), key=_when, default=None)
    return result


def _when(text: str) -> datetime:
    return parse_time(text) or datetime.min.replace(tzinfo=timezone.utc)


def _newest(dates: list[str]) -> str | None:
    """The latest of TAXII timestamps, kept as the server wrote it (it is sent back as is)."""
    valid = [d for d in dates if parse_time(d) is not None]
    return max(valid, key=_when) if valid else None


def push(url: str, bundle: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """Add a bundle's objects to a collection; returns the TAXII status (counts, failures)."""
    try:
        status = collection(url, options).add_objects(bundle)
    except FeedError:
        raise
    except Exception as exc:
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None
    return {"id": status.id, "status": status.status, "success_count": status.success_count,
            "failure_count": status.failure_count, "pending_count": status.pending_count,
            "failures": list(status.failures or [])}
