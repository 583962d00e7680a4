"""Hygie's ``ransomware`` rule pack: every rule fires on its positive fixture, not on its
negative one, carries ATT&CK tags and a level; and the demo data set lights up the pack."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from hygie.detect.engine import Engine
from hygie.normalize.windows import normalize_record

ROOT = Path(__file__).resolve().parents[2]
PACK_DIR = ROOT / "src" / "hygie" / "detect" / "packs" / "ransomware"
FIXTURES = ROOT / "tests" / "fixtures" / "packs" / "ransomware"
DEMO = ROOT / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
RULE_FILES = sorted(PACK_DIR.glob("*.yml"))


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def _expected_ids(path: Path) -> set[str]:
    """The rules a file's positive fixture must fire: its correlations if it has any (their
    base rules raise no alert of their own), else its rules."""
    docs = _documents(path)
    correlations = {str(d["id"]) for d in docs if "correlation" in d}
    return correlations or {str(d["id"]) for d in docs}


def _all_ids(path: Path) -> set[str]:
    return {str(d["id"]) for d in _documents(path)}


def _events(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                yield normalize_record(json.loads(line), str(path), number)


@pytest.fixture(scope="module")
def engine() -> Engine:
    loaded = Engine.from_paths([PACK_DIR])
    assert loaded.load_errors == [], [str(e) for e in loaded.load_errors]
    return loaded


def test_pack_has_enough_rules() -> None:
    assert len(RULE_FILES) >= 22


def test_pack_loads_without_errors(engine: Engine) -> None:
    assert engine.load_errors == []


def test_rule_ids_are_unique() -> None:
    ids = [str(d["id"]) for path in RULE_FILES for d in _documents(path)]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_metadata(rule_file: Path) -> None:
    for doc in _documents(rule_file):
        assert doc.get("level") in {"informational", "low", "medium", "high", "critical"}
        tags = [str(t) for t in doc.get("tags") or []]
        assert any(t.startswith("attack.t") for t in tags), f"{doc['title']}: no ATT&CK tag"
        for key in ("title", "id", "status", "description", "references", "author", "date",
                    "falsepositives"):
            assert doc.get(key), f"{rule_file.name}: '{doc.get('title')}' lacks {key}"
        assert "logsource" in doc or "correlation" in doc


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_fixture_files_exist(rule_file: Path) -> None:
    for kind in ("positive", "negative"):
        fixture = FIXTURES / f"{rule_file.stem}.{kind}.jsonl"
        assert fixture.is_file(), f"missing {fixture}"
        assert fixture.read_text(encoding="utf-8").strip(), f"empty {fixture}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_fires_on_positive_fixture(engine: Engine, rule_file: Path) -> None:
    expected = _expected_ids(rule_file)
    events = list(_events(FIXTURES / f"{rule_file.stem}.positive.jsonl"))
    if any("correlation" in d for d in _documents(rule_file)):
        fired = {a.rule_id for a in engine.run(events)}
        assert expected <= fired, f"{rule_file.stem}: correlation did not fire"
        return
    for event in events:  # a single-event rule must fire on each positive event
        fired = {a.rule_id for a in engine.run([event])}
        assert fired & expected, f"{rule_file.stem}: no alert for line {event.offset}"


@pytest.mark.parametrize("rule_file", RULE_FILES, ids=lambda p: p.stem)
def test_rule_silent_on_negative_fixture(engine: Engine, rule_file: Path) -> None:
    own = _all_ids(rule_file)
    events = list(_events(FIXTURES / f"{rule_file.stem}.negative.jsonl"))
    alerts = [a for a in engine.run(events) if a.rule_id in own]
    assert alerts == [], f"{rule_file.stem}: fired on {[(a.source, a.offset) for a in alerts]}"


def _demo_lines() -> tuple[list[dict[str, Any]], int]:
    good: list[dict[str, Any]] = []
    bad = 0
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            good.append(json.loads(line))
        except json.JSONDecodeError:
            bad += 1
    return good, bad


def test_demo_has_exactly_three_malformed_lines() -> None:
    good, bad = _demo_lines()
    assert bad == 3
    assert 1500 <= len(good) <= 3000


def test_demo_triggers_most_of_the_pack(engine: Engine) -> None:
    good, _ = _demo_lines()
    events = [normalize_record(doc, str(DEMO), n) for n, doc in enumerate(good, 1)]
    alerts = engine.run(events)
    pack_ids = {i for path in RULE_FILES for i in _all_ids(path)}
    fired = {a.rule_id for a in alerts} & pack_ids
    assert len(fired) >= 12, f"only {len(fired)} pack rules fired on the demo"
