"""Load Sigma rule files with pySigma; every failure names its file and line.

A bad file never stops the others from loading: its problems become :class:`RuleLoadError`
entries and the run goes on (the Wazuh/SigmaHQ habit: rules are data, reviewed like code).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaRuleLocation

from hygie.core.errors import RuleLoadError, SourceLocation

RULE_SUFFIXES = (".yml", ".yaml")
# libyaml's C loader when available (same results as yaml.safe_load_all, several times faster);
# the parsed documents go straight to pySigma, so each file is parsed once.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(slots=True)
class LoadedRule:
    """A pySigma rule plus where it came from (file, pack)."""

    rule: SigmaRule | SigmaCorrelationRule
    path: str
    pack: str
    text: str = field(repr=False, default="")

    @property
    def rule_id(self) -> str:
        return str(self.rule.id) if self.rule.id else f"{self.path}#{self.rule.title}"


@dataclass(slots=True)
class RuleLoad:
    rules: list[LoadedRule]
    errors: list[RuleLoadError]


def iter_rule_files(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in RULE_SUFFIXES and path.is_file():
            yield path


def locate(text: str, reason: str) -> int:
    """Best line for an error: the first line naming a token quoted in the reason, else the
    ``detection:``/``condition:`` line, else 1."""
    lines = text.splitlines()
    for token in re.findall(r"'([^']{2,80})'|\"([^\"]{2,80})\"", reason):
        needle = token[0] or token[1]
        for number, line in enumerate(lines, 1):
            if needle in line:
                return number
    for key in ("condition:", "detection:"):
        for number, line in enumerate(lines, 1):
            if line.strip().startswith(key):
                return number
    return 1


def load_file(path: Path, pack: str) -> RuleLoad:
    """Load one YAML file (it may hold several documents: rules and correlations)."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return RuleLoad([], [RuleLoadError(SourceLocation(where), f"cannot read: {exc}")])
    try:
        documents = list(yaml.load_all(text, Loader=_YAML_LOADER))  # noqa: S506 - safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = getattr(exc, "problem", None) or str(exc)
        return RuleLoad([], [RuleLoadError(SourceLocation(where, line), f"invalid YAML: {problem}")])
    try:
        collection = SigmaCollection.from_dicts(
            documents, collect_errors=True, source=SigmaRuleLocation(path)
        )
    except (SigmaError, ValueError, TypeError, AttributeError, KeyError) as exc:
        reason = str(exc)
        return RuleLoad([], [RuleLoadError(SourceLocation(where, locate(text, reason)), reason)])
    rules: list[LoadedRule] = []
    errors: list[RuleLoadError] = []
    seen: set[str] = set()
    for error in [*collection.errors, *(e for r in collection.rules for e in r.errors)]:
        reason = _clean(str(error)).replace(f" in {where}", "")
        if reason not in seen:  # pySigma reports a rule's errors on the rule and the collection
            seen.add(reason)
            errors.append(RuleLoadError(SourceLocation(where, locate(text, reason)), reason))
    rules.extend(LoadedRule(rule, where, pack, text) for rule in collection.rules if not rule.errors)
    return RuleLoad(rules, errors)


def _clean(reason: str) -> str:
    return re.sub(r"\s+", " ", reason).strip()


def load_paths(paths: Iterable[str | Path], pack: str | None = None) -> RuleLoad:
    """Load every rule file under the given files/folders. The pack is the folder's name."""
    rules: list[LoadedRule] = []
    errors: list[RuleLoadError] = []
    for raw in paths:
        root = Path(raw)
        if not root.exists():
            errors.append(RuleLoadError(SourceLocation(str(root)), "no such rule file or folder"))
            continue
        label = pack or (root.name if root.is_dir() else root.parent.name)
        for path in iter_rule_files(root):
            loaded = load_file(path, label)
            rules.extend(loaded.rules)
            errors.extend(loaded.errors)
    return RuleLoad(rules, errors)
