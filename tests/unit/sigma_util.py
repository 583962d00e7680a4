"""Helpers for rule-semantics tests: compile YAML rules, match flat events."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

from hygie.core.event import Event
from hygie.detect.engine import Engine
from hygie.detect.sigma.loader import load_paths

SYSMON = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 1}
_counter = itertools.count()


def rule_yaml(detection: str, logsource: str = "{product: windows, category: process_creation}",
              title: str = "test rule", extra: str = "") -> str:
    n = next(_counter)
    return (f"title: {title}\nid: 00000000-0000-4000-8000-{n:012d}\nstatus: test\n"
            f"logsource: {logsource}\nlevel: high\n{extra}detection:\n"
            + textwrap.indent(textwrap.dedent(detection).strip("\n"), "  ") + "\n")


def engine_for(tmp_path: Path, *documents: str, placeholders: dict[str, list[str]] | None = None
               ) -> Engine:
    folder = tmp_path / f"rules{next(_counter)}"
    folder.mkdir()
    for i, doc in enumerate(documents):
        (folder / f"r{i}.yml").write_text(doc, encoding="utf-8")
    loaded = load_paths([folder])
    engine = Engine(loaded, placeholders=placeholders)
    assert not engine.load_errors, engine.load_errors
    return engine


def hits(engine: Engine, fields: dict[str, Any], base: dict[str, Any] | None = SYSMON,
         time: str | None = "2026-11-20T08:00:00Z") -> list[str]:
    merged = {**(base or {}), **fields}
    return [a.title for a in engine.match_event(Event(merged, time, "HOST", "test", 1))]


def matches(tmp_path: Path, detection: str, fields: dict[str, Any], **kw: Any) -> bool:
    engine = engine_for(tmp_path, rule_yaml(detection, **kw))
    return bool(hits(engine, fields))
