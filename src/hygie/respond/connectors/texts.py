"""Connector outcome summaries and error messages in French and English.

A connector says what it did (or why it could not) with a key of the ``connectors`` section
of ``templates/timeline_texts.json`` and its parameters, so the case timeline can show the
line in the reader's language. The English rendering stays the plain text that the audit
log, the CLI and the API's ``summary`` read. A parameter may be a value or ``{"en": ...,
"fr": ...}`` (a nested message, a translated word). Errors keep their class (``ConnectorError``,
``SettingsError``...): ``error`` only adds ``key`` and ``params`` to them. No database or
network import here: connectors load it cheaply."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

CATALOG = Path(__file__).parents[1] / "templates" / "timeline_texts.json"
LANGS = ("en", "fr")
E = TypeVar("E", bound=BaseException)


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """The connectors' texts: ``{key: {"en": ..., "fr": ...}}``."""
    return json.loads(CATALOG.read_text(encoding="utf-8"))["connectors"]  # type: ignore[no-any-return]


def pick(value: Any, lang: str) -> Any:
    """A parameter in ``lang`` (a bilingual dict gives its text; other values as they are)."""
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or "")
    return value


def render(key: str, params: Mapping[str, Any], lang: str) -> str:
    """The text of ``key`` in ``lang`` (English when the language has none). An unknown key
    is a bug of Hygie's, not of the input: ``KeyError``."""
    entry = catalog()[key]
    template = entry.get(lang) or entry["en"]
    return template.format_map({name: pick(value, lang) for name, value in params.items()})


def say(key: str, **params: Any) -> dict[str, str]:
    """``key`` rendered in both languages (usable as a parameter of another message)."""
    return {lang: render(key, params, lang) for lang in LANGS}


def error(kind: type[E], key: str, **params: Any) -> E:
    """An exception of class ``kind`` whose text is ``key`` in English, carrying the key."""
    exc = kind(render(key, params, "en"))
    exc.key, exc.params = key, params  # type: ignore[attr-defined]
    return exc


def error_texts(exc: BaseException) -> dict[str, str]:
    """An exception's message in both languages: rendered from its key when it has one,
    else its text in both (a library's message, in English)."""
    key = getattr(exc, "key", None)
    if isinstance(key, str) and key in catalog():
        return say(key, **getattr(exc, "params", {}))
    return {lang: str(exc) for lang in LANGS}


def localized(result: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """A run step's stored result with each outcome's ``summary`` in ``lang``: from its key
    (``msg``) and parameters (``args``), or its stored French (``summary_fr``); else as stored."""
    outcomes = []
    for outcome in result.get("outcomes", []):
        key = outcome.get("msg")
        if lang != "en" and isinstance(key, str) and key in catalog():
            outcome = {**outcome, "summary": render(key, outcome.get("args") or {}, lang)}
        elif lang == "fr" and outcome.get("summary_fr"):  # a manual step's, from the playbook's French
            outcome = {**outcome, "summary": outcome["summary_fr"]}
        outcomes.append(outcome)
    return {**result, "outcomes": outcomes} if "outcomes" in result else dict(result)
