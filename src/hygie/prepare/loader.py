"""Load framework files, reporting every problem with its file and line.

A file is parsed twice from the same text: ``yaml.compose`` gives the node tree with the line of
every key and value, ``safe_load`` the data that pydantic validates. A pydantic error's location
(``questions -> 12 -> weight``) is walked down the node tree to the line of that value. A bad file
is reported and skipped; the other files still load. Cross-walk references are checked once all
files are read, since they point across files."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hygie.core.errors import HygieError, SourceLocation
from hygie.prepare.checks import CHECK_NAMES
from hygie.prepare.schema import Framework, Location, Question, semantic_problems

SHIPPED = Path(__file__).with_name("frameworks")


class FrameworkError(HygieError):
    """A problem in a framework file, with the file and line to look at."""

    def __init__(self, location: SourceLocation, reason: str) -> None:
        super().__init__(f"{location}: {reason}")
        self.location = location
        self.reason = reason


@dataclass(slots=True)
class Catalog:
    """The frameworks that loaded, their questions by id, and the cross-walk as an undirected
    graph (a link written in either file counts both ways)."""

    frameworks: dict[str, Framework] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    errors: list[FrameworkError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    questions: dict[str, tuple[str, Question]] = field(default_factory=dict)
    links: dict[str, set[str]] = field(default_factory=dict)

    def question(self, question_id: str) -> Question:
        return self.questions[question_id][1]

    def framework_of(self, question_id: str) -> Framework:
        return self.frameworks[self.questions[question_id][0]]


def site_file(data_dir: Path, name: str) -> Path | None:
    """A site's own data file (``evidence.yml``, ``costs.yml``, ``threat_landscape.yml``) in the
    data folder, replacing the shipped one's keys; None when the site has none."""
    path = data_dir / name
    return path if path.is_file() else None


def framework_dirs(extra: Sequence[Path] = (), data_dir: Path | None = None) -> list[Path]:
    """Shipped frameworks, then ``$HYGIE_DATA_DIR/frameworks`` (or ``data_dir``'s), then the
    folders given: a later file with the same framework id replaces an earlier one."""
    dirs = [SHIPPED]
    base = data_dir or (Path(os.environ["HYGIE_DATA_DIR"]) if os.environ.get("HYGIE_DATA_DIR")
                        else None)
    if base is not None and (base / "frameworks").is_dir():
        dirs.append(base / "frameworks")
    dirs.extend(Path(p) for p in extra)
    return dirs


def load_catalog(dirs: Iterable[Path] | None = None) -> Catalog:
    """Every ``*.yml``/``*.yaml`` of ``dirs`` (a file may be given instead of a folder)."""
    catalog = Catalog()
    nodes: dict[str, yaml.Node] = {}
    paths, missing = _files(dirs if dirs is not None else framework_dirs())
    catalog.errors.extend(FrameworkError(SourceLocation(str(m)), "no such file or folder")
                          for m in missing)
    for path in paths:
        framework, node, errors = load_file(path)
        catalog.errors.extend(errors)
        if framework is None or node is None:
            continue
        if framework.id in catalog.frameworks:
            catalog.notes.append(f"{path}: framework {framework.id!r} replaces the one in "
                                 f"{catalog.paths[framework.id]}")
        catalog.frameworks[framework.id] = framework
        catalog.paths[framework.id] = path
        nodes[framework.id] = node
    for framework_id, framework in list(catalog.frameworks.items()):
        clash = [q.id for q in framework.questions if q.id in catalog.questions]
        if clash:  # ids carry their framework's prefix, so only a copied file can clash
            catalog.errors.append(FrameworkError(SourceLocation(str(catalog.paths[framework_id])),
                                                 f"question ids already loaded: {clash[:3]}"))
            del catalog.frameworks[framework_id]
            continue
        for question in framework.questions:
            catalog.questions[question.id] = (framework_id, question)
    _link(catalog, nodes)
    return catalog


def load_file(path: Path) -> tuple[Framework | None, yaml.Node | None, list[FrameworkError]]:
    """One framework file: the framework (or None) and its problems, each with a line."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        return None, None, [FrameworkError(SourceLocation(where), f"cannot read: {exc}")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        return None, None, [FrameworkError(SourceLocation(where, line), f"not valid YAML: {reason}")]
    if not isinstance(data, dict) or node is None:
        return None, None, [FrameworkError(SourceLocation(where, 1), "a framework file is a "
                                           "mapping with id, version, title, domains, questions")]
    try:
        framework = Framework.model_validate(data)
    except ValidationError as exc:
        errors = [FrameworkError(SourceLocation(where, line_of(node, tuple(e["loc"]))),
                                 f"{_dotted(e['loc'])}: {e['msg']}") for e in exc.errors()]
        return None, node, errors
    problems = semantic_problems(framework, CHECK_NAMES)
    if problems:
        return None, node, [FrameworkError(SourceLocation(where, line_of(node, loc)),
                                           f"{_dotted(loc)}: {message}")
                            for loc, message in problems]
    return framework, node, []


def line_of(node: yaml.Node, location: Location) -> int:
    """1-based line of the value at ``location``; the deepest existing parent when the value is
    missing (a required key that is absent is reported on its mapping's line)."""
    line = node.start_mark.line + 1
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def _link(catalog: Catalog, nodes: dict[str, yaml.Node]) -> None:
    """Build the undirected cross-walk; a target id that no loaded file declares is an error
    at the line of the reference (the question still loads, without that link)."""
    for question_id in catalog.questions:
        catalog.links.setdefault(question_id, set())
    for framework_id, framework in catalog.frameworks.items():
        for index, question in enumerate(framework.questions):
            for position, target in enumerate(question.crosswalk):
                if target not in catalog.questions:
                    line = line_of(nodes[framework_id], ("questions", index, "crosswalk", position))
                    catalog.errors.append(FrameworkError(
                        SourceLocation(str(catalog.paths[framework_id]), line),
                        f"{question.id}: cross-walk to unknown question {target!r}"))
                    continue
                catalog.links[question.id].add(target)
                catalog.links[target].add(question.id)


def _files(dirs: Iterable[Path]) -> tuple[list[Path], list[Path]]:
    found: list[Path] = []
    missing: list[Path] = []
    for item in dirs:
        item = Path(item)
        if item.is_file():
            found.append(item)
        elif item.is_dir():
            found.extend(sorted(p for p in item.iterdir() if p.suffix in (".yml", ".yaml")))
        else:
            missing.append(item)
    return found, missing


def _dotted(location: Sequence[Any]) -> str:
    return " -> ".join(str(part) for part in location) or "(file)"
