"""SigmaHQ's own regression data: each rule must match its sample (by rule id, as SigmaHQ's
runner does) at least ``match_count`` times. Data written by SigmaHQ, not by us."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from hygie.normalize.reader import ReadStats, read_events
from tests.conftest import REGRESSION, require_corpora

# Rules whose regression sample Hygie does not match, with the reason. Must stay short.
KNOWN_MISSES: dict[str, str] = {}


def _cases() -> list[tuple[str, Path, int]]:
    if not REGRESSION.is_dir():
        return []
    cases = []
    for info_path in sorted(REGRESSION.rglob("info.yml")):
        info = yaml.safe_load(info_path.read_text(encoding="utf-8"))
        rule_id = str(info["rule_metadata"][0]["id"])
        for test in info.get("regression_tests_info") or []:
            if test.get("type", "evtx") != "evtx":
                continue
            sample = info_path.parent / Path(test["path"]).name
            cases.append((rule_id, sample, int(test.get("match_count") or 1)))
    return cases


CASES = _cases()


@pytest.mark.corpus
def test_regression_corpus_present() -> None:
    require_corpora()
    assert len(CASES) >= 130, f"expected the 134+ SigmaHQ regression cases, found {len(CASES)}"


@pytest.mark.corpus
@pytest.mark.parametrize(("rule_id", "sample", "minimum"), CASES,
                         ids=[f"{c[1].parent.name}" for c in CASES])
def test_rule_matches_its_regression_sample(sigmahq_engine, rule_id: str, sample: Path,
                                            minimum: int) -> None:
    if rule_id in KNOWN_MISSES:
        pytest.xfail(KNOWN_MISSES[rule_id])
    known = {r.rule_id for r in sigmahq_engine.rules}
    assert rule_id in known, f"rule {rule_id} did not load: {sigmahq_engine.load_errors[:3]}"
    stats = ReadStats()
    events = list(read_events([sample], stats))
    assert events, f"no events read from {sample}: {stats.problems}"
    hits = Counter(a.rule_id for e in events for a in sigmahq_engine.match_event(e))
    assert hits[rule_id] >= minimum, (
        f"{sample.parent.name}: rule matched {hits[rule_id]} of {len(events)} events, "
        f"expected >= {minimum}")
