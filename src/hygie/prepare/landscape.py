"""The health sector's threat landscape as data (``threat_landscape.yml``): groups of ATT&CK
techniques, each naming the public sources it rests on, and the coverage of those techniques by
the rules a hospital has enabled.

Data, not code, so that a site or a regional agency can replace it with its own reading of the
sector (``$HYGIE_DATA_DIR/threat_landscape.yml``). A bad file is reported as ``file:line:
reason`` and refused as a whole: a KPI against half a landscape would mislead."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from hygie.prepare.loader import line_of
from hygie.prepare.schema import Strict, Text

SHIPPED_LANDSCAPE = Path(__file__).with_name("threat_landscape.yml")
TECHNIQUE = r"^T\d{4}(\.\d{3})?$"


class Technique(Strict):
    id: str = Field(pattern=TECHNIQUE)
    name: str = Field(min_length=1)


class Source(Strict):
    title: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    published: str = Field(pattern=r"^\d{4}-\d{2}$")
    url: str = Field(pattern=r"^https?://")
    about: Text


class Group(Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,59}$")
    title: Text
    summary: Text
    sources: list[str] = Field(min_length=1)
    techniques: list[Technique] = Field(min_length=1)


class Landscape(Strict):
    sources: dict[str, Source]
    groups: list[Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Landscape:
        seen: set[str] = set()
        for group in self.groups:
            if group.id in seen:
                raise ValueError(f"group {group.id!r} appears twice")
            seen.add(group.id)
            unknown = [s for s in group.sources if s not in self.sources]
            if unknown:
                raise ValueError(f"group {group.id!r} cites unknown source(s) {unknown}")
        return self

    @property
    def techniques(self) -> list[Technique]:
        """Every technique once, in the file's order (a technique may sit in two groups)."""
        out: dict[str, Technique] = {}
        for group in self.groups:
            for technique in group.techniques:
                out.setdefault(technique.id, technique)
        return list(out.values())


def load_landscape(path: Path | None = None) -> Landscape:
    """The landscape in ``path`` (default: the shipped one). Raises ValueError naming the file
    and the line of each problem."""
    path = Path(path or SHIPPED_LANDSCAPE)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ValueError(f"{path}:{mark.line + 1 if mark else 0}: not valid YAML: "
                         f"{getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict) or node is None:
        raise ValueError(f"{path}:1: a threat landscape is a mapping with sources and groups")
    try:
        return Landscape.model_validate(data)
    except ValidationError as exc:
        problems = [f"{path}:{line_of(node, tuple(e['loc']))}: "
                    f"{' -> '.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()]
        raise ValueError("; ".join(problems)) from None


@dataclass(frozen=True, slots=True)
class GroupCoverage:
    group: Group
    covered: list[Technique]
    missing: list[Technique]


@dataclass(frozen=True, slots=True)
class SectorCoverage:
    """The landscape's techniques with and without an enabled rule, overall and per group;
    ``rules``: per covered technique id, how many enabled rules cover it."""

    covered: list[Technique]
    missing: list[Technique]
    rules: dict[str, int]
    groups: list[GroupCoverage]

    @property
    def share(self) -> float:
        total = len(self.covered) + len(self.missing)
        return len(self.covered) / total if total else 0.0


def _attack_ids(tags: Iterable[str]) -> set[str]:
    norm = (t.strip().lower().replace("_", "-") for t in tags)
    return {t[len("attack."):] for t in norm if t.startswith("attack.t")}


def _covers(rule: set[str], wanted: str) -> bool:
    return any(t == wanted or t.startswith(wanted + ".") or wanted.startswith(t + ".") for t in rule)


def sector_coverage(rule_tags: Iterable[Iterable[str]], landscape: Landscape) -> SectorCoverage:
    """Which techniques of ``landscape`` at least one rule (a list of tags each) is tagged with;
    a sub-technique covers its technique and the reverse."""
    rules = [_attack_ids(tags) for tags in rule_tags]
    counts = {t.id: sum(_covers(r, t.id.lower()) for r in rules) for t in landscape.techniques}
    hit = {k for k, n in counts.items() if n}
    groups = [GroupCoverage(g, [t for t in g.techniques if t.id in hit], [t for t in g.techniques if t.id not in hit])
              for g in landscape.groups]
    techniques = landscape.techniques
    return SectorCoverage([t for t in techniques if t.id in hit], [t for t in techniques if t.id not in hit],
                          {k: n for k, n in counts.items() if n}, groups)
