"""What a telemetry or inventory check found, and the small helpers the checks share to turn a
measure into a score and a proof text. Apart from ``evidence.py`` so the asset checks
(``assets.py``) and the event checks use the same types without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict

Levels = list[tuple[float, float]]


class CheckConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(slots=True)
class Finding:
    """What one check found: ``score`` in [0, 1], or None with ``available`` False and the
    reason in ``proof`` when there was nothing to measure."""

    check: str
    available: bool
    score: float | None
    proof: str
    since: datetime | None
    until: datetime
    details: dict[str, Any] = field(default_factory=dict)


def level(share: float, levels: Levels) -> float:
    for threshold, score in levels:
        if share >= threshold:
            return score
    return 0.0


def share_text(part: int, whole: int) -> str:
    return f"{part} of {whole} ({100 * part / whole:.0f} %)"


def fmt_time(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


