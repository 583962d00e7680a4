"""Loading CACAO 2.0 playbooks: JSON Schema validation (``schema/``), then the checks a schema
cannot express (every step a step points to exists, no cycles, variables declared, actions
known). A bad file is reported with its path, JSON pointer and line; the others still load."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from hygie.respond.builtins import BUILTINS
from hygie.respond.connectors.registry import ACTIONS
from hygie.respond.playbooks.jsonlines import line_for, pointer, value_lines
from hygie.respond.workflow import ConditionError, parse_condition, split_hygie_command

SCHEMA = Path(__file__).with_name("schema") / "cacao-2.0-hygie-subset.json"
LIBRARY = Path(__file__).with_name("library")
# Hygie's extension: French texts ("fr": {name, description, commands}) on the playbook and its steps
HYGIE_EXTENSION = "extension-definition--5a1f3e0c-7b1d-4c55-9d1e-6e8f0a2b7c41"
VARIABLE = re.compile(r"\$\$[a-zA-Z_][a-zA-Z0-9_-]{0,199}\$\$")
POINTERS = ("on_completion", "on_success", "on_failure", "on_true", "on_false")


@dataclass(frozen=True, slots=True)
class PlaybookProblem:
    path: str
    pointer: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        return f"{where}: {self.pointer or '/'}: {self.message}"


class PlaybookError(ValueError):
    """A playbook file that cannot be used; ``problems`` say where and why."""

    def __init__(self, problems: list[PlaybookProblem]) -> None:
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Playbook:
    id: str
    name: str
    path: str
    data: dict[str, Any]

    def text(self, lang: str = "en") -> tuple[str, str]:
        """(name, description) in ``lang`` (French from Hygie's extension, else English)."""
        if lang == "fr":
            fr = self.data.get("playbook_extensions", {}).get(HYGIE_EXTENSION, {}).get("fr", {})
            return fr.get("name", self.name), fr.get("description", self.data.get("description", ""))
        return self.name, self.data.get("description", "")

    def step(self, step_id: str) -> dict[str, Any]:
        return self.data["workflow"][step_id]

    @property
    def variables(self) -> dict[str, Any]:
        return self.data.get("playbook_variables", {})


def step_text(step: dict[str, Any], lang: str = "en") -> tuple[str, str]:
    if lang == "fr":
        fr = step.get("step_extensions", {}).get(HYGIE_EXTENSION, {}).get("fr", {})
        return fr.get("name", step.get("name", "")), fr.get("description", step.get("description", ""))
    return step.get("name", ""), step.get("description", "")


def command_text(step: dict[str, Any], index: int, lang: str = "en") -> str:
    """A command as a person reads it: French from the step's extension when asked."""
    command = step["commands"][index]
    if lang == "fr":
        texts = step.get("step_extensions", {}).get(HYGIE_EXTENSION, {}).get("fr", {}).get("commands", [])
        if index < len(texts):
            return str(texts[index])
    return str(command.get("description") or command.get("command", ""))


@dataclass(slots=True)
class Library:
    playbooks: dict[str, Playbook] = field(default_factory=dict)
    problems: list[PlaybookProblem] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # file name without .json -> id

    def get(self, playbook_id: str) -> Playbook | None:
        """By CACAO id, or by file name (``ransomware_workstation``) for people typing it."""
        return self.playbooks.get(playbook_id) or self.playbooks.get(self.aliases.get(playbook_id, ""))


@lru_cache(maxsize=1)
def _validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def load_file(path: Path) -> Playbook:
    """One playbook, validated; raises ``PlaybookError`` with every problem found."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlaybookError([PlaybookProblem(name, "", None, f"cannot read: {exc}")]) from exc
    return load_text(text, name)


def load_text(text: str, name: str = "<playbook>") -> Playbook:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlaybookError([PlaybookProblem(name, "", exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})")]) from exc
    lines = value_lines(text)
    problems = [PlaybookProblem(name, where, line_for(lines, where), message)
                for where, message in _schema_problems(data)]
    if not problems:
        problems = [PlaybookProblem(name, where, line_for(lines, where), message)
                    for where, message in _semantic_problems(data)]
    if problems:
        raise PlaybookError(problems)
    return Playbook(data["id"], data["name"], name, data)


def _schema_problems(data: Any) -> Iterator[tuple[str, str]]:
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        leaves = _leaf_errors(error)
        for leaf in leaves[:3]:
            yield pointer(list(leaf.absolute_path)), leaf.message[:300]


def _leaf_errors(error: Any) -> list[Any]:
    """The most precise errors under an if/then or $ref failure."""
    if not error.context:
        return [error]
    found: list[Any] = []
    for sub in error.context:
        found.extend(_leaf_errors(sub))
    return found or [error]


def _semantic_problems(data: dict[str, Any]) -> Iterator[tuple[str, str]]:
    workflow: dict[str, Any] = data["workflow"]
    if data["workflow_start"] not in workflow:
        yield "/workflow_start", f"step {data['workflow_start']} is not in the workflow"
    elif workflow[data["workflow_start"]]["type"] != "start":
        yield "/workflow_start", "the first step must be of type start"
    if "workflow_exception" in data and data["workflow_exception"] not in workflow:
        yield "/workflow_exception", f"step {data['workflow_exception']} is not in the workflow"
    declared = set(data.get("playbook_variables", {}))
    agents = set(data.get("agent_definitions", {}))
    targets = set(data.get("target_definitions", {}))
    for step_id, step in workflow.items():
        base = ["workflow", step_id]
        for key in POINTERS:
            if key in step and step[key] not in workflow:
                yield pointer([*base, key]), f"step {step[key]} is not in the workflow"
        for index, next_id in enumerate(step.get("next_steps", [])):
            if next_id not in workflow:
                yield pointer([*base, "next_steps", index]), f"step {next_id} is not in the workflow"
        if step.get("agent") and step["agent"] not in agents:
            yield pointer([*base, "agent"]), f"agent {step['agent']} is not in agent_definitions"
        for index, target in enumerate(step.get("targets", [])):
            if target not in targets:
                yield pointer([*base, "targets", index]), f"target {target} is not in target_definitions"
        known = declared | set(step.get("step_variables", {}))
        if step["type"] in ("if-condition", "while-condition"):
            try:
                parse_condition(step["condition"])
            except ConditionError as exc:
                yield pointer([*base, "condition"]), str(exc)
        for case, target in step.get("cases", {}).items():
            if target not in workflow:
                yield pointer([*base, "cases", case]), f"step {target} is not in the workflow"
        for where, text in _texts(step, base):
            for variable in VARIABLE.findall(text):
                if variable not in known:
                    yield where, f"variable {variable} is not declared"
        yield from _command_problems(step, base, known)
    cycle = _cycle(workflow)
    if cycle:
        yield pointer(["workflow", cycle]), "the workflow loops back to this step (use no cycles)"


def _command_problems(step: dict[str, Any], base: list[str | int], known: set[str]) -> Iterator[tuple[str, str]]:
    """Hygie actions exist; built-ins (``hygie.*``) have their arguments, name declared
    variables, and are alone in their step (they run without approval, the others may not)."""
    builtins = 0
    commands = step.get("commands", [])
    for index, command in enumerate(commands):
        if command["type"] != "x-hygie-action":
            continue
        where = pointer([*base, "commands", index, "command"])
        try:
            action, args = split_hygie_command(command["command"])
        except ValueError as exc:
            yield where, str(exc)
            continue
        if action in BUILTINS:
            builtins += 1
            definition = BUILTINS[action]
            for name in definition.params:
                if not args.get(name):
                    yield where, f"{action} needs {name}="
            for name in definition.names:
                variable = f"$${args.get(name, '').strip('$')}$$"
                if args.get(name) and variable not in known:
                    yield where, f"{name}={args[name]}: variable {variable} is not declared"
        elif action not in ACTIONS:
            yield where, f"unknown action {action} (known: {', '.join(sorted([*ACTIONS, *BUILTINS]))})"
    if builtins and builtins != len(commands):
        yield pointer([*base, "commands"]), "hygie.* built-ins must be alone in their step (they need no approval)"


def _texts(step: dict[str, Any], base: list[str | int]) -> Iterator[tuple[str, str]]:
    if "condition" in step:
        yield pointer([*base, "condition"]), step["condition"]
    if "switch" in step:
        yield pointer([*base, "switch"]), step["switch"]
    for index, command in enumerate(step.get("commands", [])):
        for key in ("command", "content"):
            if key in command:
                yield pointer([*base, "commands", index, key]), command[key]


def _successors(step: dict[str, Any]) -> list[str]:
    return [step[k] for k in POINTERS if k in step] + list(step.get("next_steps", [])) + \
        list(step.get("cases", {}).values())


def _cycle(workflow: dict[str, Any]) -> str | None:
    """A step on a cycle of the workflow graph, if there is one."""
    state: dict[str, int] = {}
    for root in workflow:
        if root in state:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(_successors(workflow[root])))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif child in workflow:
                if state.get(child) == 1:
                    return child
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(_successors(workflow[child]))))
    return None


def load_library(folders: Iterable[Path] = ()) -> Library:
    """Hygie's playbooks and those of ``folders``; a later file with the same id replaces an
    earlier one. Bad files are listed in ``problems``."""
    library = Library()
    for folder in [LIBRARY, *folders]:
        paths = sorted(folder.rglob("*.json")) if folder.is_dir() else [folder]
        for path in paths:
            try:
                playbook = load_file(path)
            except PlaybookError as exc:
                library.problems.extend(exc.problems)
                continue
            library.playbooks[playbook.id] = playbook
            library.aliases[path.stem] = playbook.id
    for playbook in library.playbooks.values():
        for step_id, step in playbook.data["workflow"].items():
            if step["type"] == "playbook-action" and step["playbook_id"] not in library.playbooks:
                library.problems.append(PlaybookProblem(
                    playbook.path, pointer(["workflow", step_id, "playbook_id"]), None,
                    f"playbook {step['playbook_id']} is not loaded"))
    return library
