"""Carrying out one CACAO command: an ``x-hygie-action`` through its connector, an ``http-api``
call to the step's agent, or a ``manual`` instruction (done by a person, confirmed in Hygie).

Every call is bounded by a timeout (the step's ``timeout``, else the toolkit's default) and
never raises: a failure is an ``Outcome`` with ``ok=False`` and a reason that names no secret
(keyed, like connectors' summaries, so the timeline shows it in French too: ``connectors.texts``)."""

from __future__ import annotations

import concurrent.futures
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome
from hygie.respond.connectors.registry import ACTIONS
from hygie.respond.playbooks.loader import Library
from hygie.respond.secrets import SecretError, SecretStore
from hygie.respond.settings import SettingsError, section
from hygie.respond.workflow import split_hygie_command, substitute

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 30.0


@dataclass(slots=True)
class Toolkit:
    """What runs need besides the database: playbooks, connector settings, secrets."""

    library: Library
    settings: dict[str, Any] = field(default_factory=lambda: {"defaults": {}, "tenants": {}})
    secrets: SecretStore | None = None
    default_timeout: float = DEFAULT_TIMEOUT


@dataclass(slots=True)
class Command:
    """A command with its variables filled in, as recorded on the run step."""

    type: str
    action: str  # registry name, "http-api" or "manual"
    args: dict[str, str]
    text: str  # what a person reads
    text_fr: str = ""  # the same in French (from the playbook's i18n extension)

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "action": self.action, "args": self.args, "text": self.text,
                "text_fr": self.text_fr}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Command:
        return cls(data["type"], data["action"], data["args"], data["text"], data.get("text_fr", ""))


def manual_summary(text: str, dry_run: bool, actor: str, lang: str = "en") -> str:
    """What a manual step's outcome says (a person does it; Hygie records who confirmed)."""
    if lang == "fr":
        return f"demanderait au personnel : {text}" if dry_run else \
            f"fait, confirmé par {actor or 'un analyste'} : {text}"
    return f"would ask staff to: {text}" if dry_run else f"done, confirmed by {actor or 'an analyst'}: {text}"


def resolve(command: dict[str, Any], variables: dict[str, Any], text: str, text_fr: str = "") -> Command:
    """The command with ``$$variables$$`` replaced (``KeyError`` when one has no value)."""
    kind = command["type"]
    french = substitute(text_fr, variables) if text_fr else ""
    if kind == "x-hygie-action":
        action, raw = split_hygie_command(command["command"])
        args = {key: substitute(value, variables) for key, value in raw.items()}
        if command.get("content"):
            extra = json.loads(substitute(command["content"], variables))
            args.update({str(k): str(v) for k, v in extra.items()})
        return Command(kind, action, args, substitute(text, variables), french)
    if kind == "http-api":
        args = {"request": substitute(command["command"], variables),
                "body": substitute(command.get("content") or command.get("payload") or "", variables),
                "headers": json.dumps(command.get("headers", {}))}
        return Command(kind, "http-api", args, substitute(text, variables), french)
    return Command(kind, "manual", {}, substitute(text, variables), french)


def needs_approval(command: Command, auto_allowed: set[str]) -> bool:
    return command.action == "manual" or command.action not in auto_allowed


def execute(toolkit: Toolkit, tenant: str, command: Command, key: str, *, dry_run: bool,
            timeout: float | None = None, case_id: int | None = None, run_id: int | None = None,
            agent: dict[str, Any] | None = None, actor: str = "") -> Outcome:
    """Run (or dry-run) one command; any failure becomes ``Outcome(ok=False)``."""
    limit = timeout or toolkit.default_timeout
    if command.action == "manual":
        return Outcome(True, manual_summary(command.text, dry_run, actor))
    try:
        if command.action == "http-api":
            function, ctx = _http_api, ActionContext(tenant, {"agent": agent or {}}, key, limit, case_id, run_id)
        else:
            definition = ACTIONS.get(command.action)
            if definition is None:
                return Outcome.said(False, "action.unknown", {"action": command.action})
            missing = [p for p in definition.params if p not in command.args]
            if missing:
                return Outcome.said(False, "action.missing_args",
                                    {"action": command.action, "args": ", ".join(missing)})
            settings = section(toolkit.settings, tenant, definition.section, toolkit.secrets)
            ctx = ActionContext(tenant, settings, key, limit, case_id, run_id)
            function = definition.function()
        return _bounded(function, ctx, command.args, dry_run, limit)
    except (ConnectorError, SettingsError, SecretError, ValueError, KeyError) as exc:
        log.warning("respond action %s failed: %s", command.action, type(exc).__name__)
        return Outcome.failed(exc, command.action)


def _bounded(function: Any, ctx: ActionContext, args: dict[str, str], dry_run: bool, limit: float) -> Outcome:
    """The call, abandoned after ``limit`` seconds (connectors also bound their own I/O by it,
    so the abandoned thread ends soon after)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hygie-action")
    try:
        future = pool.submit(function, ctx, args, dry_run)
        try:
            return future.result(timeout=limit + 1.0)  # type: ignore[no-any-return]
        except concurrent.futures.TimeoutError:
            return Outcome.said(False, "action.timeout", {"seconds": limit})
        except (ConnectorError, SettingsError, SecretError, ValueError, KeyError, OSError) as exc:
            return Outcome.failed(exc)
    finally:
        pool.shutdown(wait=False)


def _http_api(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    """A CACAO ``http-api`` command sent to the first URL of the step's agent."""
    method, _, rest = args["request"].partition(" ")
    path = rest.split(" ")[0]
    urls = ctx.settings["agent"].get("address", {}).get("url", [])
    if not urls:
        raise texts.error(ConnectorError, "http_api.no_url")
    url = urls[0].rstrip("/") + path
    if dry_run:
        return Outcome.said(True, "http_api.would_call", {"method": method, "url": url})
    headers = {k: ", ".join(v) for k, v in json.loads(args.get("headers") or "{}").items()}
    headers["Idempotency-Key"] = ctx.key
    try:
        with httpx.Client(timeout=ctx.timeout) as client:
            response = client.request(method, url, content=args.get("body") or None, headers=headers)
    except httpx.HTTPError as exc:
        raise texts.error(ConnectorError, "http.error", method=method, url=url, error=type(exc).__name__) from exc
    return Outcome.said(response.status_code < 300, "http.status", {"method": method, "url": url,
                                                                    "status": response.status_code},
                        {"status": response.status_code})
