"""Chat notifications through apprise URLs (Teams, Slack, Mattermost, Matrix, Rocket.Chat...,
or ``json://`` to any HTTP receiver). The URLs carry tokens, so they are a secret setting."""

from __future__ import annotations

import apprise

from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome
from hygie.respond.secrets import Secret


def _urls(ctx: ActionContext) -> list[str]:
    value = ctx.need("urls")
    text = value.reveal() if isinstance(value, Secret) else value
    urls = text.split() if isinstance(text, str) else list(text)
    if not urls:
        raise texts.error(ConnectorError, "chat.no_url")
    return urls


def notify(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    urls = _urls(ctx)
    sender = apprise.Apprise()
    for url in urls:
        if not sender.add(url):
            raise texts.error(ConnectorError, "chat.bad_url")
    schemes = sorted({url.split("://", 1)[0] for url in urls})
    if dry_run:
        return Outcome.said(True, "chat.would_notify", {"count": len(urls), "schemes": ", ".join(schemes)})
    ok = sender.notify(body=args["message"], title=args.get("title", "Hygie"))
    if not ok:
        raise texts.error(ConnectorError, "chat.undelivered", schemes=", ".join(schemes))
    return Outcome.said(True, "chat.notified", {"schemes": ", ".join(schemes)}, {"targets": len(urls)})
