"""HTTP ingest: ``POST /ingest`` with JSON lines or a JSON array, one tenant per token.

What shippers send: Fluent Bit's ``http`` output (``format json_lines`` or ``json``), Vector's
``http`` sink (``codec json``, newline-delimited or array framing), NXLog's ``om_http`` with
``to_json()``, and curl. Gzip bodies (``Content-Encoding: gzip``) are accepted. The answer says
how many records were accepted and rejected, with the line and reason of each rejection, and
the records are spooled (durable) before it is sent: a 200 means they cannot be lost.

Winlogbeat, Filebeat and Logstash ship with their Elasticsearch output to the same port
(``/_bulk``, see ``es_bulk``). The app depends only on two callables (who owns a token; where accepted records go), so it
runs the same in the embedded service and behind a regional SOC's gateway.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
import time
import zlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import BaseRoute

from hygie.core.record import JSON, RawRecord
from hygie.sources.es_bulk import add_bulk_routes

Authenticate = Callable[[str], "str | None"]  # token -> tenant id, or None
Accept = Callable[[list[RawRecord]], None]  # raises Overloaded when the spool is full
MAX_BODY = 16 * 1024 * 1024
MAX_ERRORS_LISTED = 100


class Overloaded(Exception):
    """Raised by ``accept`` when records cannot be taken now: the client gets 503 + Retry-After."""


def ingest_app(authenticate: Authenticate, accept: Accept, max_body: int = MAX_BODY,
               extra_routes: Sequence[BaseRoute] = ()) -> FastAPI:
    app = FastAPI(title="Hygie ingest", docs_url=None, redoc_url=None, openapi_url=None)

    async def tenant_of(request: Request) -> str | JSONResponse:
        token = ingest_credential(request.headers.get("authorization", ""))
        if not token:
            return _error(401, "missing ingest token: send 'Authorization: Bearer <token>'")
        tenant = await asyncio.to_thread(authenticate, token)
        if tenant is None:
            return _error(401, "unknown or revoked ingest token")
        return tenant

    async def read_body(request: Request) -> bytes | JSONResponse:
        return await _read_body(request, max_body)

    async def hand_over(records: list[RawRecord]) -> JSONResponse | None:
        try:
            await asyncio.to_thread(accept, records)  # a durable commit: off the event loop
        except Overloaded as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})
        return None

    @app.post("/ingest")
    async def ingest(request: Request) -> JSONResponse:
        tenant = await tenant_of(request)
        if isinstance(tenant, JSONResponse):
            return tenant
        body = await read_body(request)
        if isinstance(body, JSONResponse):
            return body
        docs, errors = split_documents(body)
        if not docs and not errors:
            return _error(400, "empty body: send JSON lines or a JSON array of objects")
        peer = f"{request.client.host}:{request.client.port}" if request.client else None
        received = time.time()
        source = f"http:{tenant}"
        records = [RawRecord(tenant, source, JSON, doc, received, peer, seq)
                   for seq, doc in enumerate(docs)]
        refused = await hand_over(records)
        if refused is not None:
            return refused
        return JSONResponse({"accepted": len(records), "rejected": len(errors),
                             "errors": errors[:MAX_ERRORS_LISTED]})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    # routes added by the caller (e.g. /metrics) must come before the Elasticsearch catch-all
    for route in extra_routes:
        app.router.routes.append(route)
    add_bulk_routes(app, tenant_of, read_body, hand_over)
    return app


def split_documents(body: bytes) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Records of a JSON array or of JSON lines, each as its own JSON bytes, and the errors
    (``{"line": n, "reason": ...}``; for an array, ``"index"``) of those that are not objects."""
    text = body.strip()
    docs: list[bytes] = []
    errors: list[dict[str, Any]] = []
    if text.startswith(b"["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            return [], [{"line": 1, "reason": f"invalid JSON array: {exc}"}]
        for index, item in enumerate(items):
            if isinstance(item, dict):
                docs.append(orjson.dumps(item))
            else:
                errors.append({"index": index, "reason": f"expected an object, got {type(item).__name__}"})
        return docs, errors
    for number, line in enumerate(text.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            errors.append({"line": number, "reason": f"invalid JSON: {exc}"})
            continue
        if isinstance(item, dict):
            docs.append(line)
        else:
            errors.append({"line": number, "reason": f"expected an object, got {type(item).__name__}"})
    return docs, errors


async def _read_body(request: Request, max_body: int) -> bytes | JSONResponse:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        return _error(413, f"body of {int(declared):,} bytes exceeds the limit of {max_body:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            return _error(413, f"body exceeds the limit of {max_body:,} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if request.headers.get("content-encoding", "").lower() == "gzip":
        try:
            body = _gunzip(body, max_body)
        except (OSError, EOFError, zlib.error, ValueError) as exc:
            return _error(400, f"invalid gzip body: {exc}")
    return body


def _gunzip(data: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes (a gzip bomb is refused, not expanded)."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        out = stream.read(limit + 1)
    if len(out) > limit:
        raise ValueError(f"decompressed body exceeds the limit of {limit:,} bytes")
    return out


def ingest_credential(header: str) -> str:
    """The ingest token, however a shipper sends it: ``Bearer <token>``; ``ApiKey`` with
    base64 ``id:<token>`` (Beats' ``api_key``); ``Basic`` with the token as the password."""
    scheme, _, value = header.partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "bearer":
        return value
    if scheme in ("apikey", "basic"):
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
