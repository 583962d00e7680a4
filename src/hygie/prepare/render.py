"""PDF exports: an HTML template (Jinja2, autoescaped) rendered by WeasyPrint, in French or
English. Labels are in ``i18n.yml``; numbers and dates are formatted by Babel for the language.

WeasyPrint is imported only when a PDF is made: listing frameworks or scoring must not pay for
loading its fonts and Pango."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).with_name("templates")
LANGS = ("fr", "en")
_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


@lru_cache(maxsize=1)
def labels() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(Path(__file__).with_name("i18n.yml").read_text(encoding="utf-8"))


def environment(lang: str) -> Environment:
    if lang not in LANGS:
        raise ValueError(f"language must be one of {LANGS}, not {lang!r}")
    locale = _LOCALES[lang]
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["number"] = lambda v: "—" if v is None else format_decimal(v, locale=locale)
    env.filters["pct"] = lambda v: "—" if v is None else format_decimal(round(v), locale=locale) + " %"
    env.filters["delta"] = lambda v: "—" if v is None else (
        ("+" if v >= 0 else "−") + format_decimal(abs(round(v, 1)), locale=locale))
    env.filters["day"] = lambda v: "—" if v is None else format_date(
        v.date() if isinstance(v, datetime) else v, "long", locale=locale)
    env.filters["text"] = lambda v: v.get(lang) if hasattr(v, "get") else str(v)
    env.globals["L"] = labels()[lang]
    env.globals["lang"] = lang
    return env


def money(value: tuple[int, int] | None, currency: str, lang: str) -> str:
    if value is None:
        return "—"
    locale = _LOCALES[lang]
    low, high = (format_decimal(v, locale=locale) for v in value)
    return f"{low} – {high} {currency}"


def render_html(template: str, context: dict[str, Any], lang: str) -> str:
    env = environment(lang)
    env.filters["money"] = lambda v, currency="EUR": money(v, currency, lang)
    return env.get_template(template).render(**context, today=date.today())


def render_pdf(template: str, context: dict[str, Any], lang: str) -> bytes:
    from weasyprint import HTML  # heavy: only when a PDF is asked for

    html = render_html(template, context, lang)
    return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
