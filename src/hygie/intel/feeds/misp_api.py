"""A MISP instance through its REST API with PyMISP: events (``/events/restSearch``) or
attributes (``/attributes/restSearch``, the lighter query), to_ids only by default.

Options: ``key_env`` (the environment variable holding the API key: keys are not kept in the
database in clear) or ``secret`` (a ``Secret``: the console's encrypted credential, opened for
this refresh only), ``verify_tls`` (default true), ``mode`` (``events`` or ``attributes``),
``published_only`` (default true), ``last`` (e.g. ``30d``: events published since), ``tags``."""

from __future__ import annotations

import os
from typing import Any

from hygie.core.secrets import Secret
from hygie.intel.feeds import FeedError, ImportResult
from hygie.intel.feeds.misp import read_attribute, read_event, tag_names


def connect(url: str, options: dict[str, Any]) -> Any:
    from pymisp import PyMISP, PyMISPError

    secret = options.get("secret")
    key = secret.reveal() if isinstance(secret, Secret) else \
        os.environ.get(str(options.get("key_env", "HYGIE_MISP_KEY")), "") or options.get("key", "")
    if not key:
        raise FeedError(f"{url}: no MISP API key (set ${options.get('key_env', 'HYGIE_MISP_KEY')})")
    try:
        return PyMISP(url, key, ssl=bool(options.get("verify_tls", True)), timeout=60)
    except PyMISPError as exc:
        raise FeedError(f"{url}: {exc}") from None


def read(url: str, options: dict[str, Any]) -> ImportResult:
    misp = connect(url, options)
    query: dict[str, Any] = {"to_ids": None if options.get("all_attributes") else True,
                             "published": True if options.get("published_only", True) else None,
                             "tags": options.get("tags"), "publish_timestamp": options.get("last")}
    query = {k: v for k, v in query.items() if v is not None}
    result = ImportResult(dict(options))
    try:
        if options.get("mode", "events") == "attributes":
            answer = misp.search(controller="attributes", include_event_tags=True, **query)
            _check(url, answer)
            for attribute in answer.get("Attribute", []) if isinstance(answer, dict) else []:
                event = attribute.get("Event") or {}
                read_attribute(attribute, event, tag_names(attribute.get("Event") or {}) or
                               [t.get("name", "") for t in attribute.get("EventTag", [])
                                if isinstance(t, dict)], f"{url}: event {event.get('uuid', '?')}",
                               result)
        else:
            answer = misp.search(controller="events", **query)
            _check(url, answer)
            for doc in answer if isinstance(answer, list) else []:
                read_event(doc, url, result)
    except FeedError:
        raise
    except Exception as exc:  # PyMISP raises its own errors and requests' ones
        raise FeedError(f"{url}: {type(exc).__name__}: {exc}") from None
    return result


def _check(url: str, answer: Any) -> None:
    if isinstance(answer, dict) and "errors" in answer:
        raise FeedError(f"{url}: MISP answered {answer['errors']}")
