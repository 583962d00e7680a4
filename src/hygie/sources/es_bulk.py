"""Enough of the Elasticsearch API for Winlogbeat, Filebeat, Logstash and Fluent Bit's ``es``
output to ship to Hygie as if it were Elasticsearch: most Windows estates already run
Winlogbeat, and re-pointing its ``output.elasticsearch.hosts`` is the cheapest way in.

What shippers call: ``GET /`` (version check), ``GET /_license`` (Beats' licence check),
``PUT /_index_template/…``, ``/_ilm/…``, ``/_ingest/…``, ``/_nodes…`` (set-up calls, answered
with ``{}``: Hygie keeps no indices), and ``POST /_bulk`` or ``POST /<index>/_bulk``: NDJSON,
an action line (``index``/``create``) then the document. Each document becomes a JSON record;
a bad one gets a per-item 400 in the answer, as Elasticsearch does, and the rest are taken.
When the bus is full the whole request gets 429, which every shipper retries with backoff.

Credentials, as shippers send them: ``api_key: "hygie:<token>"`` (``Authorization: ApiKey``),
``username``/``password`` with the token as password (``Basic``), or ``Bearer``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from hygie.core.record import JSON, RawRecord

REPORTED_VERSION = "8.17.0"  # Beats 8.x refuse an older cluster unless allow_older_versions
SETUP_PREFIXES = ("/_ilm", "/_index_template", "/_template", "/_ingest", "/_nodes", "/_logstash",
                  "/_xpack")
_HEADERS = {"X-Elastic-Product": "Elasticsearch"}  # Logstash and the Go client check it

Tenant = Callable[[Request], Awaitable["str | JSONResponse"]]
Body = Callable[[Request], Awaitable["bytes | JSONResponse"]]
AcceptAsync = Callable[[list[RawRecord]], Awaitable["JSONResponse | None"]]


def add_bulk_routes(app: FastAPI, tenant_of: Tenant, read_body: Body, accept: AcceptAsync) -> None:
    """Add the Elasticsearch-compatible routes to the ingest ``app``; authentication, body
    limits and the durable hand-over are the ingest app's own (``tenant_of`` etc.)."""

    @app.get("/")
    async def root(request: Request) -> Response:
        tenant = await tenant_of(request)
        if isinstance(tenant, JSONResponse):
            return _es_error(tenant)
        return JSONResponse({"name": "hygie", "cluster_name": "hygie", "cluster_uuid": "hygie",
                             "version": {"number": REPORTED_VERSION, "build_flavor": "default",
                                         "lucene_version": "9.12.0",
                                         "minimum_wire_compatibility_version": "7.17.0",
                                         "minimum_index_compatibility_version": "7.0.0"},
                             "tagline": "You Know, for Search"}, headers=_HEADERS)

    @app.head("/")
    async def ping(request: Request) -> Response:
        tenant = await tenant_of(request)
        status = tenant.status_code if isinstance(tenant, JSONResponse) else 200
        return Response(status_code=status, headers=_HEADERS)

    @app.get("/_license")
    async def license_info(request: Request) -> Response:
        tenant = await tenant_of(request)
        if isinstance(tenant, JSONResponse):
            return _es_error(tenant)
        return JSONResponse({"license": {"status": "active", "type": "basic", "mode": "basic",
                                         "uid": "hygie", "issued_to": "hygie"}}, headers=_HEADERS)

    async def bulk(request: Request, index: str = "") -> Response:
        started = time.monotonic()
        tenant = await tenant_of(request)
        if isinstance(tenant, JSONResponse):
            return _es_error(tenant)
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return _es_error(body)
        peer = f"{request.client.host}:{request.client.port}" if request.client else None
        try:
            docs, items = parse_bulk(body, index)
        except BulkSyntaxError as exc:  # as Elasticsearch: the whole request is refused
            return JSONResponse({"error": {"type": "illegal_argument_exception", "reason": str(exc)},
                                 "status": 400}, status_code=400, headers=_HEADERS)
        received = time.time()
        records = [RawRecord(tenant, f"es-bulk:{tenant}", JSON, doc, received, peer, seq)
                   for seq, doc in enumerate(docs)]
        refused = await accept(records)
        if refused is not None:  # the bus is full: shippers retry a 429 with backoff
            return JSONResponse({"error": {"type": "es_rejected_execution_exception",
                                           "reason": orjson.loads(refused.body)["error"]},
                                 "status": 429}, status_code=429, headers=_HEADERS)
        errors = any(item[next(iter(item))]["status"] >= 300 for item in items)
        return JSONResponse({"took": int((time.monotonic() - started) * 1000), "errors": errors,
                             "items": items}, headers=_HEADERS)

    app.add_api_route("/_bulk", bulk, methods=["POST", "PUT"])
    app.add_api_route("/{index}/_bulk", bulk, methods=["POST", "PUT"])

    @app.api_route("/{path:path}", methods=["GET", "PUT", "POST", "HEAD", "DELETE"])
    async def setup_calls(path: str, request: Request) -> Response:
        """Set-up calls shippers make before sending (templates, ILM, pipelines): there is
        nothing to set up, so they succeed; anything else is a 404 that names the path."""
        if not ("/" + path).startswith(SETUP_PREFIXES):
            return JSONResponse({"error": f"no such endpoint: /{path[:200]}"}, status_code=404)
        tenant = await tenant_of(request)
        if isinstance(tenant, JSONResponse):
            return _es_error(tenant)
        return JSONResponse({}, headers=_HEADERS)


class BulkSyntaxError(ValueError):
    """An action line that is not an action: the pairing of the lines after it is lost."""


def parse_bulk(body: bytes, default_index: str = "") -> tuple[list[bytes], list[dict[str, Any]]]:
    """The documents of a bulk body, and one result item per action, in order, in
    Elasticsearch's shape (201 for a document taken, 400 with a reason for one refused).
    Raises ``BulkSyntaxError`` for a malformed action line, as Elasticsearch refuses the
    whole request then."""
    docs: list[bytes] = []
    items: list[dict[str, Any]] = []
    lines = body.split(b"\n")
    position = 0
    while position < len(lines):
        number, line = position + 1, lines[position].strip()
        position += 1
        if not line:
            continue
        action, meta, problem = _action(line)
        if problem is not None:
            raise BulkSyntaxError(f"line {number}: {problem}")
        index = str(meta.get("_index") or default_index or "hygie")
        if action == "delete":
            problem = "Hygie keeps every record: delete is not supported"
        document = b""
        if action in ("index", "create", "update"):
            document = lines[position].strip() if position < len(lines) else b""
            position += 1
            if action == "update":
                problem = "Hygie keeps every record as received: update is not supported"
            else:
                problem = _document_problem(document)
        if problem is None:
            docs.append(document)
            items.append({action: {"_index": index, "status": 201, "result": "created"}})
        else:
            items.append({action: {"_index": index, "status": 400, "error": {
                "type": "mapper_parsing_exception", "reason": f"line {number}: {problem}"}}})
    return docs, items


def _action(line: bytes) -> tuple[str, dict[str, Any], str | None]:
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return "", {}, f"invalid action line: {exc}"
    if not isinstance(doc, dict) or len(doc) != 1:
        return "", {}, "an action line is one object such as {\"create\": {}}"
    action, meta = next(iter(doc.items()))
    if action not in ("index", "create", "update", "delete"):
        return "", {}, f"unknown action {str(action)[:40]!r}"
    return action, meta if isinstance(meta, dict) else {}, None


def _document_problem(document: bytes) -> str | None:
    if not document:
        return "the action has no document line after it"
    try:
        doc = orjson.loads(document)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON document: {exc}"
    return None if isinstance(doc, dict) else f"expected an object, got {type(doc).__name__}"


def _es_error(response: JSONResponse) -> JSONResponse:
    """Our 4xx answers in Elasticsearch's error shape, which shippers log verbatim."""
    message = orjson.loads(response.body).get("error", "")
    kind = "security_exception" if response.status_code == 401 else "illegal_argument_exception"
    headers = dict(_HEADERS)
    if response.status_code == 401:
        headers["WWW-Authenticate"] = 'ApiKey, Basic realm="hygie"'
    return JSONResponse({"error": {"type": kind, "reason": message}, "status": response.status_code},
                        status_code=response.status_code, headers=headers)
