"""What detection produces: one alert per (rule, event), or per correlation window."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LEVELS: tuple[str, ...] = ("informational", "low", "medium", "high", "critical")
LEVEL_RANK: dict[str, int] = {name: rank for rank, name in enumerate(LEVELS)}

ATTACK_TACTICS: dict[str, str] = {
    "reconnaissance": "TA0043",
    "resource_development": "TA0042",
    "initial_access": "TA0001",
    "execution": "TA0002",
    "persistence": "TA0003",
    "privilege_escalation": "TA0004",
    "defense_evasion": "TA0005",
    "credential_access": "TA0006",
    "discovery": "TA0007",
    "lateral_movement": "TA0008",
    "collection": "TA0009",
    "command_and_control": "TA0011",
    "exfiltration": "TA0010",
    "impact": "TA0040",
}


@dataclass(slots=True)
class Alert:
    """A rule hit. ``matched`` holds the event fields the rule's conditions looked at and found."""

    rule_id: str
    title: str
    level: str
    tags: list[str]
    time: str | None
    host: str | None
    source: str
    offset: int
    matched: dict[str, Any]
    pack: str = ""
    kind: str = "sigma"
    event: dict[str, Any] | None = None
    related: list[tuple[str, int]] = field(default_factory=list)

    @property
    def tactics(self) -> list[str]:
        """ATT&CK tactic names found in the rule's tags (``attack.lateral_movement`` ...)."""
        found = []
        for tag in self.tags:
            name = tag.removeprefix("attack.").replace("-", "_")
            if name in ATTACK_TACTICS:
                found.append(name)
        return found

    @property
    def techniques(self) -> list[str]:
        return [t.removeprefix("attack.").upper() for t in self.tags if t.startswith("attack.t")]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule_id": self.rule_id,
            "title": self.title,
            "level": self.level,
            "pack": self.pack,
            "kind": self.kind,
            "time": self.time,
            "host": self.host,
            "tactics": self.tactics,
            "techniques": self.techniques,
            "tags": self.tags,
            "source": self.source,
            "offset": self.offset,
            "matched": self.matched,
        }
        if self.related:
            out["related"] = [{"source": s, "offset": o} for s, o in self.related]
        if self.event is not None:
            out["event"] = self.event
        return out
