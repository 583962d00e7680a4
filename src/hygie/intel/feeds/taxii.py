"""TAXII 2.1 collections polled with ``taxii2-client``: every page of the collection's
objects (``added_after`` the last success when the feed asks for increments).

Options: ``user`` and ``password_env`` (HTTP basic auth; the password stays in the
environment), ``verify_tls`` (default true), ``per_request`` (page size, default 500)."""

from __future__ import annotations

import os
from typing import Any

from hygie.intel.feeds import FeedError, ImportResult
from hygie.intel.feeds.stix import read_objects


def collection(url: str, options: dict[str, Any]) -> Any:
    from taxii2client.v21 import Collection

    password = os.environ.get(str(options.get("password_env", "")), "") if options.get("password_env") \
        else options.get("password")
    try:
        return Collection(url, user=options.get("user"), password=password,
                          verify=bool(options.get("verify_tls", True)))
    except Exception as exc:
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None


def read(url: str, options: dict[str, Any]) -> ImportResult:
    from taxii2client.v21 import as_pages

    result = ImportResult(dict(options))
    try:
        source = collection(url, options)
        filters = {"added_after": options["added_after"]} if options.get("added_after") else {}
        for envelope in as_pages(source.get_objects, per_request=int(options.get("per_request", 500)),
                                 **filters):
            read_objects(envelope.get("objects", []) or [], url, result)
    except FeedError:
        raise
    except Exception as exc:  # requests' and taxii2client's errors: the poll failed as a whole
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None
    return result


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
