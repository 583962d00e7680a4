"""French and English: gettext catalogs (``locales/<lang>/LC_MESSAGES/messages.po``), read
with Babel at start; the language comes from the ``lang`` cookie, else the browser's
Accept-Language, else English."""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

LOCALES = Path(__file__).with_name("locales")
LANGUAGES = ("en", "fr")


@functools.cache
def catalog(language: str) -> gettext.NullTranslations:
    path = LOCALES / language / "LC_MESSAGES" / "messages.po"
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as handle:
        parsed = read_po(handle, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def language_of(request: Request) -> str:
    chosen = request.cookies.get("lang")
    if chosen in LANGUAGES:
        return chosen
    ranked = []
    for part in request.headers.get("accept-language", "").split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        ranked.append((weight, tag.split("-")[0].lower()))
    for _weight, language in sorted(ranked, reverse=True):
        if language in LANGUAGES:
            return language
    return "en"


def translations_for(request: Request) -> tuple[gettext.NullTranslations, str]:
    language = language_of(request)
    return catalog(language), language
