"""A JSON POST signed with HMAC-SHA256, and tickets opened the same way.

Headers: ``X-Hygie-Timestamp`` (Unix seconds), ``X-Hygie-Signature: sha256=<hex>`` over
``timestamp + "." + body`` (a replayed body with a new timestamp does not verify), and
``Idempotency-Key`` (the same for a retried call, so the receiver can drop the repeat)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _post(ctx: ActionContext, payload: dict[str, Any]) -> httpx.Response:
    url = ctx.need("url")
    body = json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Hygie-Timestamp": timestamp,
               "Idempotency-Key": ctx.key, "User-Agent": "hygie-respond"}
    secret = ctx.secret("secret")
    if secret:
        headers["X-Hygie-Signature"] = signature(secret, timestamp, body)
    try:
        with httpx.Client(timeout=ctx.timeout, verify=ctx.settings.get("verify", True)) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise texts.error(ConnectorError, "http.error", method="POST", url=url,
                          error=f"{type(exc).__name__}: {exc}") from exc
    if response.status_code >= 300:
        raise texts.error(ConnectorError, "http.status", method="POST", url=url, status=response.status_code)
    return response


def _envelope(ctx: ActionContext, event: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "tenant": ctx.tenant, "case_id": ctx.case_id, "run_id": ctx.run_id,
            "idempotency_key": ctx.key, "data": data}


def post(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    data = {k: v for k, v in args.items() if k != "event"}
    if dry_run:
        return Outcome.said(True, "webhook.would_post", {"event": repr(args["event"]), "url": ctx.need("url")},
                            {"data": data})
    response = _post(ctx, _envelope(ctx, args["event"], data))
    return Outcome.said(True, "webhook.posted", {"event": repr(args["event"]), "status": response.status_code},
                        {"status": response.status_code})


def open_ticket(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    if dry_run:
        return Outcome.said(True, "ticket.would_open", {"title": repr(args["title"]), "url": ctx.need("url")})
    response = _post(ctx, _envelope(ctx, "ticket.open", dict(args)))
    ticket = ""
    try:
        answer = response.json()
        ticket = str(answer.get(ctx.settings.get("id_field", "id"), "")) if isinstance(answer, dict) else ""
    except ValueError:
        pass
    return Outcome.said(True, "ticket.opened", {"ticket": ticket or texts.say("ticket.no_id"), "title": args["title"]},
                        {"ticket": ticket, "status": response.status_code})
