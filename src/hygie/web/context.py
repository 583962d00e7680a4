"""What the console needs from the running service, handed over once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from hygie.store.events import EventStore
from hygie.store.state.access import AccessStore
from hygie.web.oidc import OidcConfig


@dataclass(slots=True)
class RuleInfo:
    """A loaded rule as the console shows it (the detection engine stays out of the web)."""

    rule_id: str
    title: str
    level: str
    pack: str
    tags: list[str]
    path: str = ""


@dataclass(slots=True)
class ConsoleContext:
    engine: Engine
    data_dir: Path
    events: EventStore | None = None  # the event store, for search (None: not kept here)
    rules: Callable[[], tuple[list[RuleInfo], list[tuple[str, str]]]] = lambda: ([], [])
    rule_text: Callable[[str], str | None] = lambda _rule_id: None
    # per-source ingest figures from the running service (source -> dict)
    ingest_health: Callable[[], dict[str, dict[str, Any]]] = dict
    secure_cookies: bool = False  # set when served over HTTPS (behind a TLS proxy)
    oidc: OidcConfig | None = None  # single sign-on, when configured
    access: AccessStore = field(init=False)

    def __post_init__(self) -> None:
        self.access = AccessStore(self.engine)

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"
