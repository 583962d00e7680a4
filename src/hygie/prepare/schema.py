"""The shape of a framework file, as pydantic models.

Pydantic checks types and required keys; ``semantic_problems`` checks what a model cannot say
on its own (a question's domain and scale exist, ids are unique and carry the framework's
prefix). Both report a *location* (a path of keys and indexes) that the loader turns into a
line of the user's file."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Size = Literal["small", "medium", "large"]
SIZES: tuple[Size, ...] = ("small", "medium", "large")
NOT_APPLICABLE = "na"  # an answer that takes a question out of every score
ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
Location = tuple[str | int, ...]


class Strict(BaseModel):
    """Unknown keys are errors: a misspelt ``wieght`` must not silently become weight 1."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Text(Strict):
    """A text in both languages Hygie ships (French for CaRE's public, English elsewhere)."""

    fr: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def get(self, lang: str) -> str:
        return self.fr if lang == "fr" else self.en


class Level(Strict):
    value: int = Field(ge=0, le=100)
    label: Text


class Scale(Strict):
    """Ordered answer levels; a value's score is ``value / max value``."""

    levels: list[Level] = Field(min_length=2)

    @property
    def top(self) -> int:
        return max(level.value for level in self.levels)

    def fraction(self, value: int) -> float:
        return value / self.top

    def nearest(self, fraction: float) -> int:
        """The level whose score is closest to ``fraction`` (ties: the lower level)."""
        return min((abs(level.value / self.top - fraction), level.value)
                   for level in self.levels)[1]


BUILTIN_SCALES: dict[str, Scale] = {
    "yesno": Scale(levels=[Level(value=0, label=Text(fr="Non", en="No")),
                           Level(value=1, label=Text(fr="Oui", en="Yes"))]),
    "maturity": Scale(levels=[
        Level(value=0, label=Text(fr="Absent", en="Not in place")),
        Level(value=1, label=Text(fr="Initié, partiel", en="Started, partial")),
        Level(value=2, label=Text(fr="Largement en place", en="Largely in place")),
        Level(value=3, label=Text(fr="En place, vérifié", en="In place and verified")),
    ]),
}


class Domain(Strict):
    id: str = Field(pattern=ID)
    title: Text
    ref: str | None = None  # the framework's own reference (e.g. "axe 4 / D1")


class Question(Strict):
    id: str = Field(pattern=ID)
    domain: str
    text: Text
    scale: str = "maturity"
    weight: float = Field(default=1.0, gt=0, le=10)
    crosswalk: list[str] = Field(default_factory=list)
    remediation: str | None = Field(default=None, pattern=ID)
    evidence: str | None = None  # name of a telemetry check (prepare/evidence.py)
    sizes: list[Size] = Field(default_factory=lambda: list(SIZES), min_length=1)
    ref: str | None = None


class Framework(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    version: str
    title: Text
    source: str = ""
    note: Text | None = None
    scales: dict[str, Scale] = Field(default_factory=dict)
    domains: list[Domain] = Field(min_length=1)
    questions: list[Question] = Field(min_length=1)

    def scale(self, name: str) -> Scale:
        return self.scales.get(name) or BUILTIN_SCALES[name]

    def domain(self, domain_id: str) -> Domain:
        return next(d for d in self.domains if d.id == domain_id)


def semantic_problems(framework: Framework, known_checks: set[str]) -> list[tuple[Location, str]]:
    """What the models alone do not catch, each with the location of the offending value."""
    problems: list[tuple[Location, str]] = []
    domains = {d.id for d in framework.domains}
    seen_domains: set[str] = set()
    for index, domain in enumerate(framework.domains):
        if domain.id in seen_domains:
            problems.append((("domains", index, "id"), f"duplicate domain id {domain.id!r}"))
        seen_domains.add(domain.id)
    prefix = framework.id + "."
    seen: set[str] = set()
    for index, question in enumerate(framework.questions):
        here: Location = ("questions", index)
        if not question.id.startswith(prefix):
            problems.append((here + ("id",), f"question id {question.id!r} must start with "
                             f"the framework id {prefix!r}"))
        if question.id in seen:
            problems.append((here + ("id",), f"duplicate question id {question.id!r}"))
        seen.add(question.id)
        if question.domain not in domains:
            problems.append((here + ("domain",), f"unknown domain {question.domain!r} "
                             f"(declared: {', '.join(sorted(domains))})"))
        if question.scale not in framework.scales and question.scale not in BUILTIN_SCALES:
            known = sorted(set(framework.scales) | set(BUILTIN_SCALES))
            problems.append((here + ("scale",), f"unknown scale {question.scale!r} "
                             f"(known: {', '.join(known)})"))
        if question.evidence is not None and question.evidence not in known_checks:
            problems.append((here + ("evidence",), f"unknown telemetry check "
                             f"{question.evidence!r} (known: {', '.join(sorted(known_checks))})"))
        for position, target in enumerate(question.crosswalk):
            if target.startswith(prefix):
                problems.append((here + ("crosswalk", position), f"cross-walk {target!r} "
                                 "points into the same framework"))
    for name, scale in framework.scales.items():
        values = [level.value for level in scale.levels]
        if len(set(values)) != len(values) or min(values) != 0:
            problems.append((("scales", name), "scale levels must be distinct and start at 0"))
    return problems


def is_valid_id(text: str) -> bool:
    return re.fullmatch(ID, text) is not None
