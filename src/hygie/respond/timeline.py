"""Timeline lines of response in the reader's language.

A line is stored with its English text (what older code, the audit trail and the API's
``text`` read) and, in ``CaseEntry.data``, a message key and its parameters (``msg``,
``args``); the console and the NIS 2 drafts render the key in French or English. A parameter
may be one value or ``{"en": ..., "fr": ...}`` (a step's name, a translated word). Lines
written before keys existed have no ``msg`` and are shown as they were written. Texts are
data: ``templates/timeline_texts.json``."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from hygie.store.state.models_cases import CaseEntry

TEXTS = Path(__file__).with_name("templates") / "timeline_texts.json"
LANGS = ("en", "fr")
Param = str | int | float | dict[str, str]


@lru_cache(maxsize=1)
def texts() -> dict[str, Any]:
    return json.loads(TEXTS.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def word(name: str) -> dict[str, str]:
    """A word of the catalog (``true``, ``parallel``, ``down``...) in both languages."""
    found = texts()["words"].get(name)
    return dict(found) if found else {"en": name, "fr": name}


def both(en: str, fr: str) -> dict[str, str]:
    return {"en": en, "fr": fr or en}


def reason(key: str, **params: Param) -> dict[str, str]:
    """A reason of the catalog, rendered in both languages (it becomes a parameter)."""
    template = texts()["reasons"][key]
    return {lang: template[lang].format_map({k: _pick(v, lang) for k, v in params.items()}) for lang in LANGS}


def _pick(value: Any, lang: str) -> str:
    if isinstance(value, dict):
        return str(value.get(lang) or value.get("en") or "")
    return str(value)


def message(key: str, **params: Param) -> tuple[str, dict[str, Any]]:
    """(English text, ``{"msg", "args"}``) of a catalog line."""
    data = {"msg": key, "args": params}
    return render("", data, "en"), data


def render(text: str, data: dict[str, Any] | None, lang: str) -> str:
    """The line in ``lang``: its key rendered when it has one, else its stored text."""
    key = (data or {}).get("msg")
    entry = texts().get(key) if isinstance(key, str) and "." in key else None
    template = entry.get(lang) or entry.get("en") if isinstance(entry, dict) else None
    if not template:
        return text
    args = data.get("args") if isinstance(data.get("args"), dict) else {}  # type: ignore[union-attr]
    try:
        return str(template.format_map({k: _pick(v, lang) for k, v in args.items()}))
    except (KeyError, ValueError, IndexError, AttributeError):
        return text


def entry_text(entry: Any, lang: str) -> str:
    """A ``CaseEntry`` (or anything with ``text`` and ``data``) in ``lang``."""
    return render(entry.text, entry.data if isinstance(entry.data, dict) else None, lang)


def add(session: Session, case_id: int, tenant_id: str, actor: str, kind: str, key: str,
        params: dict[str, Param], data: dict[str, Any] | None = None) -> None:
    """Write a catalog line on a case's timeline (in the caller's transaction)."""
    text, keyed = message(key, **params)
    session.add(CaseEntry(case_id=case_id, tenant_id=tenant_id, created=datetime.now(timezone.utc), author=actor,
                          kind=kind, text=text[:20_000], data={**(data or {}), **keyed}))
