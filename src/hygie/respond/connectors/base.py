"""What every connector action receives and returns.

An action is a function ``(ctx, args, dry_run) -> Outcome``. With ``dry_run`` it checks what
it can without changing anything and says what it would do. ``Outcome.rollback`` lists the
actions that undo it (re-enable, re-add to a group, unblock, release), with the arguments that
restore the state found before, so a rollback puts back what was there, not a guess.

Summaries and errors are catalog keys with parameters (``texts``): ``Outcome.said`` and
``texts.error(ConnectorError, key, ...)``, so the case timeline shows them in French too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hygie.respond.connectors import texts
from hygie.respond.secrets import Secret


class ConnectorError(RuntimeError):
    """An action that could not be carried out (bad settings, peer refused, timeout)."""


@dataclass(frozen=True, slots=True)
class ActionContext:
    tenant: str
    settings: dict[str, Any]  # this connector's section, secrets as ``Secret``
    key: str  # idempotency key of this execution (also sent to peers that accept one)
    timeout: float = 30.0
    case_id: int | None = None
    run_id: int | None = None

    def need(self, name: str) -> Any:
        if name not in self.settings or self.settings[name] in (None, ""):
            raise texts.error(ConnectorError, "setting_missing", name=name)
        return self.settings[name]

    def secret(self, name: str) -> str:
        """A secret setting's clear value (only for the call that needs it)."""
        value = self.settings.get(name)
        if value is None:
            return ""
        return value.reveal() if isinstance(value, Secret) else str(value)


@dataclass(slots=True)
class Outcome:
    ok: bool
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    rollback: list[dict[str, Any]] = field(default_factory=list)  # [{"action":, "args":}]
    msg: str = ""  # key of ``summary`` in the connectors' catalog ("" : summary has no French)
    args: dict[str, Any] = field(default_factory=dict)  # its parameters (JSON values)

    @classmethod
    def said(cls, ok: bool, key: str, params: dict[str, Any], detail: dict[str, Any] | None = None,
             rollback: list[dict[str, Any]] | None = None) -> Outcome:
        """An outcome whose summary is the catalog's ``key`` (stored in English, keyed)."""
        return cls(ok, texts.render(key, params, "en"), detail or {}, rollback or [], key, params)

    @classmethod
    def failed(cls, exc: BaseException, action: str = "") -> Outcome:
        """A failure from an exception (its key kept), prefixed with the action's name if given."""
        error = texts.error_texts(exc)
        if action:
            return cls.said(False, "action_error", {"action": action, "error": error})
        return cls.said(False, "error", {"error": error})

    def text(self, lang: str) -> str:
        """The summary in ``lang`` (its stored English text when it has no key)."""
        if self.msg and self.msg in texts.catalog():
            try:
                return texts.render(self.msg, self.args, lang)
            except (KeyError, ValueError, IndexError):
                return self.summary
        return self.summary

    def both(self) -> dict[str, str]:
        return {lang: self.text(lang) for lang in texts.LANGS}
