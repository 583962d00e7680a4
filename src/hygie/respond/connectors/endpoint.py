"""Isolating and releasing a host: a generic EDR/agent REST API, or Wazuh's active response.

``kind: generic``: the ``isolate`` and ``release`` operations are configured as method and
path (``/hosts/{host}/isolate``) on ``base_url``, with a bearer token (see ``network.rest_call``).

``kind: wazuh``: Wazuh's server API (4.x): a JWT from ``POST /security/user/authenticate``
(basic auth), the agent id from ``GET /agents?name=<host>``, then ``PUT /active-response``
with ``agents_list`` and the active-response command configured on the agents
(``isolate_command``, ``release_command``; Wazuh ships none for isolation, a site defines it)."""

from __future__ import annotations

from typing import Any

import httpx

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome
from hygie.respond.connectors.network import rest_call


def _wazuh(ctx: ActionContext, host: str, command: str) -> dict[str, Any]:
    base = ctx.need("base_url").rstrip("/")
    verify: Any = ctx.settings.get("ca_file") or ctx.settings.get("verify", True)
    try:
        with httpx.Client(base_url=base, timeout=ctx.timeout, verify=verify) as client:
            login = client.post("/security/user/authenticate",
                                auth=(ctx.need("username"), ctx.secret("password")))
            if login.status_code != 200:
                raise texts.error(ConnectorError, "wazuh.auth_refused", status=login.status_code)
            headers = {"Authorization": f"Bearer {login.json()['data']['token']}"}
            found = client.get("/agents", params={"name": host, "select": "id,name"}, headers=headers)
            items = found.json().get("data", {}).get("affected_items", []) if found.status_code == 200 else []
            if len(items) != 1:
                raise texts.error(ConnectorError, "wazuh.agents", count=len(items), host=repr(host))
            agent = str(items[0]["id"])
            answer = client.put("/active-response", params={"agents_list": agent}, headers=headers,
                                json={"command": command, "arguments": [], "alert": {"data": {"hostname": host}}})
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise texts.error(ConnectorError, "wazuh.error", url=base, error=type(exc).__name__) from exc
    data = answer.json().get("data", {}) if answer.headers.get("content-type", "").startswith("application/json") else {}
    if answer.status_code != 200 or data.get("failed_items"):
        raise texts.error(ConnectorError, "wazuh.failed", status=answer.status_code,
                          items=str(data.get("failed_items")))
    return {"agent": agent, "command": command}


def _change(ctx: ActionContext, host: str, isolate: bool, dry_run: bool) -> Outcome:
    kind = ctx.settings.get("kind", "generic")
    verb = "isolate" if isolate else "release"
    undo = [{"action": "edr.release" if isolate else "edr.isolate", "args": {"host": host}}]
    if kind == "wazuh":
        command = ctx.settings.get(f"{verb}_command", f"!hygie-{verb}")
        if dry_run:
            return Outcome.said(True, "wazuh.would_send", {"command": command, "host": host})
        detail = _wazuh(ctx, host, command)
        return Outcome.said(True, f"wazuh.{verb}d", {"host": host, "agent": detail["agent"]}, detail, undo)
    if kind != "generic":
        raise texts.error(ConnectorError, "edr.bad_kind", kind=repr(kind))
    if dry_run:
        return Outcome.said(True, f"edr.would_{verb}", {"url": ctx.need("base_url"), "host": host})
    response = rest_call(ctx, verb, {"host": host})
    return Outcome.said(True, f"edr.{verb}d", {"host": host, "status": response.status_code}, {}, undo)


def isolate(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    return _change(ctx, args["host"], True, dry_run)


def release(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    return _change(ctx, args["host"], False, dry_run)
