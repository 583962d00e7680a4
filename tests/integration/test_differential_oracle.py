"""Differential oracle: Hygie's engine against the same rules converted by pySigma's SQLite
backend and run by SQLite, over the same routed events (see ``oracle_sqlite``).

On the whole of ``../shared/corpora/evtx-attack-samples`` with the SigmaHQ Windows rules, the
two (rule, event) hit sets must be equal except for the differences listed, with their cause,
in ``oracle_known_differences.yml``; a listed difference that no longer occurs fails too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from sigma.collection import SigmaCollection

from tests.integration.oracle_sqlite import (
    Comparison,
    EventRow,
    OracleDatabase,
    compare_with_hygie,
    convert_rules,
)

SHARED = Path(__file__).resolve().parents[3] / "shared"
CORPORA = SHARED / "corpora"
SAMPLES = CORPORA / "evtx-attack-samples"
RULE_DIRS = [
    CORPORA / "sigma" / "rules" / "windows",
    CORPORA / "sigma" / "rules-emerging-threats",
    CORPORA / "sigma" / "rules-threat-hunting" / "windows",
]
KNOWN = Path(__file__).with_name("oracle_known_differences.yml")


def _require_corpora() -> None:
    missing = [p for p in (SAMPLES, *RULE_DIRS) if not p.is_dir()]
    if not missing:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing[0]} is missing: CI must run the corpus tests", pytrace=False)
    pytest.skip(f"{missing[0]} is missing (corpus tests need ../shared)")


def _known() -> dict[str, Any]:
    doc = yaml.safe_load(KNOWN.read_text(encoding="utf-8")) or {}
    return {"not_converted": doc.get("not_converted") or {},
            "differences": doc.get("differences") or {}}


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    """Rules loaded once: Hygie compiles them, then the backend converts them (its pipeline
    rewrites rules in place, so it goes second)."""
    _require_corpora()
    from hygie.detect.engine import Engine, load_placeholders
    from hygie.detect.sigma.loader import load_paths
    from hygie.normalize.logsources import LogSourceRouter
    from hygie.normalize.reader import ReadStats, read_events

    loaded = load_paths(RULE_DIRS)
    placeholders = load_placeholders(None)  # what Engine.from_paths uses
    engine = Engine(loaded, LogSourceRouter.from_file(), placeholders)
    conversion = convert_rules(((item.rule_id, item.rule) for item in loaded.rules),
                               placeholders)
    stats = ReadStats()
    events = list(read_events([SAMPLES], stats))
    assert stats.files == 277 and len(events) == 8255, (stats.files, len(events), stats.problems)
    return compare_with_hygie(engine, conversion, events)


@pytest.mark.corpus
def test_backend_converts_every_rule_but_the_listed_ones(comparison: Comparison) -> None:
    known = _known()["not_converted"]
    unexpected = {k: v for k, v in comparison.not_converted.items() if k not in known}
    stale = sorted(set(known) - set(comparison.not_converted))
    wrong = {k: (known[k]["error"], v) for k, v in comparison.not_converted.items()
             if k in known and known[k]["error"] not in v}
    assert not unexpected, f"rules the oracle cannot run, not listed in {KNOWN.name}: {unexpected}"
    assert not stale, f"listed in {KNOWN.name} as not converted, but now converted: {stale}"
    assert not wrong, f"not converted for another reason than listed (listed, actual): {wrong}"
    lost = {k: (v.get("hygie_hits"), comparison.hygie_not_compared.get(k, 0))
            for k, v in known.items()
            if v.get("hygie_hits", comparison.hygie_not_compared.get(k, 0))
            != comparison.hygie_not_compared.get(k, 0)}
    assert not lost, f"Hygie's hits on rules the oracle cannot run (listed, actual): {lost}"
    assert not comparison.not_in_hygie, f"rules Hygie did not load: {comparison.not_in_hygie}"
    assert len(comparison.compared) >= 2900
    assert not comparison.merged_fields, "events with fields differing only by case: the " \
        "oracle keeps the first (SQLite columns ignore case); check the differences by hand"


@pytest.mark.corpus
def test_hit_sets_equal_but_for_listed_differences(comparison: Comparison) -> None:
    # A corpus this size must exercise the engines: equal empty sets would prove nothing.
    assert len(comparison.oracle) >= 1000 and len({h[0] for h in comparison.oracle}) >= 300
    known = _known()["differences"]
    found = comparison.differences()
    problems: list[str] = []
    for rule_id, (hygie_only, sqlite_only) in found.items():
        entry = known.get(rule_id)
        counts = (entry or {}).get("hygie_only", hygie_only), (entry or {}).get(
            "sqlite_only", sqlite_only)
        if entry is not None and counts == (hygie_only, sqlite_only):
            continue
        examples = sorted(
            ("hygie only" if hit in comparison.hygie else "sqlite only", hit[1], hit[2])
            for hit in comparison.hygie ^ comparison.oracle if hit[0] == rule_id)[:3]
        status = "unlisted" if entry is None else f"listed with counts {counts}"
        problems.append(f"{rule_id}: {hygie_only} Hygie-only, {sqlite_only} SQLite-only "
                        f"events ({status}); e.g. {examples}")
    for rule_id in sorted(set(known) - set(found)):
        problems.append(f"{rule_id}: listed in {KNOWN.name} but no longer differs")
    assert not problems, "\n".join(problems)


def test_oracle_keeps_sigma_semantics_on_sample_rows() -> None:
    """The oracle on its own (no corpus): a filter on a missing field, booleans, lists,
    regex, keywords and field case, on hand-made rows."""
    rules = SigmaCollection.from_yaml("""
title: t1
id: 00000000-0000-4000-8000-000000000001
logsource: {product: windows}
detection:
  sel: {Image|endswith: '\\x.exe', Initiated: 'true'}
  filter: {CommandLine|re: 'safe\\d'}
  condition: sel and not filter
---
title: t2
id: 00000000-0000-4000-8000-000000000002
logsource: {product: windows}
detection:
  keywords: ['evil', 4242]
  condition: keywords
---
title: t3
id: 00000000-0000-4000-8000-000000000003
logsource: {product: windows}
detection:
  sel: {Data|contains: 'two', processid: 7}
  condition: sel
""")
    conversion = convert_rules((str(r.id), r) for r in rules.rules)
    assert not conversion.errors
    rows = [
        EventRow("a", 1, 0, {"Image": "C:\\X.EXE", "Initiated": True}),  # no CommandLine
        EventRow("a", 2, 0, {"Image": "c:\\x.exe", "Initiated": True, "CommandLine": "safe1"}),
        EventRow("a", 3, 0, {"Image": "c:\\x.exe", "Initiated": False, "Other": "is EVIL"}),
        EventRow("a", 4, 0, {"Data": ["one", "two"], "ProcessId": 7, "Size": 4242}),
        EventRow("a", 5, 1, {"Image": "c:\\x.exe", "Initiated": "true"}),  # other route
    ]
    database = OracleDatabase(rows)
    routes = {rule_id: [0] for rule_id in conversion.rules}
    hits = database.hits(conversion, routes)
    assert {(rule[-1], offset) for rule, _, offset in hits} == {
        ("1", 1), ("2", 3), ("2", 4), ("3", 4)}
