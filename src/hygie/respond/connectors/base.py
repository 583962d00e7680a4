"""What every connector action receives and returns.

An action is a function ``(ctx, args, dry_run) -> Outcome``. With ``dry_run`` it checks what
it can without changing anything and says what it would do. ``Outcome.rollback`` lists the
actions that undo it (re-enable, re-add to a group, unblock, release), with the arguments that
restore the state found before, so a rollback puts back what was there, not a guess."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
            raise ConnectorError(f"setting {name!r} is missing")
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
