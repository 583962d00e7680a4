"""Counts of alerts by rule, level and ATT&CK tactic: what an analyst reads first."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from hygie.core.alert import LEVEL_RANK, Alert


@dataclass(slots=True)
class AlertSummary:
    total: int = 0
    by_rule: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (id, title, level)
    by_level: Counter[str] = field(default_factory=Counter)
    by_tactic: Counter[str] = field(default_factory=Counter)
    by_host: Counter[str] = field(default_factory=Counter)

    def add(self, alert: Alert) -> None:
        self.total += 1
        self.by_rule[(alert.rule_id, alert.title, alert.level)] += 1
        self.by_level[alert.level] += 1
        for tactic in alert.tactics or ["(none)"]:
            self.by_tactic[tactic] += 1
        self.by_host[alert.host or "(unknown)"] += 1

    def rules_by_severity(self) -> list[tuple[tuple[str, str, str], int]]:
        """Most severe first, then most frequent."""
        return sorted(self.by_rule.items(), key=lambda kv: (-LEVEL_RANK.get(kv[0][2], 0), -kv[1]))
