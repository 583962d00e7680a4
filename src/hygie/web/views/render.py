"""Template rendering shared by the pages: the Jinja2 environment, the translations of the
request's language, and the caller's CSRF token for forms."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from jinja2.ext import _make_new_gettext, _make_new_ngettext  # type: ignore[attr-defined]

from hygie.respond.timeline import entry_text
from hygie.web.i18n import translations_for

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                  extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
LEVEL_CLASS = {"critical": "lvl-critical", "high": "lvl-high", "medium": "lvl-medium",
               "low": "lvl-low", "informational": "lvl-info"}


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
env.filters["when"] = _when
env.filters["entry_text"] = entry_text  # a timeline line in the reader's language (keyed lines of response)
env.globals["LEVEL_CLASS"] = LEVEL_CLASS


def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    # the request's translations go in the render context (the environment is shared by
    # concurrent requests, so they are never installed on it)
    translations, language = translations_for(request)
    gettext = _make_new_gettext(translations.gettext)
    caller = getattr(request.state, "caller", None)
    html = env.get_template(template).render(
        request=request, lang=language, me=caller.principal if caller else None,
        csrf=caller.csrf if caller else "", gettext=gettext, _=gettext,
        ngettext=_make_new_ngettext(translations.ngettext), **values)
    return HTMLResponse(html, status_code=status_code)
