"""On real data: fields whose regexes and wildcards Hyperscan scans in one pass get exactly the
atoms that the one-by-one Python tests give, for every value of the attack samples."""

from __future__ import annotations

from collections import defaultdict

import pytest

from hygie.detect.sigma import regexset
from hygie.normalize.reader import read_events
from tests.conftest import ATTACK_SAMPLES, require_corpora


@pytest.mark.corpus
@pytest.mark.skipif(not regexset.AVAILABLE, reason="no hyperscan wheel on this platform")
def test_regex_sets_agree_with_python_on_the_attack_samples(sigmahq_engine) -> None:
    require_corpora()
    values: dict[str, set[str]] = defaultdict(set)
    for event in read_events([ATTACK_SAMPLES]):
        for name, value in event.fields.items():
            if isinstance(value, str):
                values[name.casefold()].add(value)
    aliases = {"newprocessname": "image", "parentprocessname": "parentimage"}
    for name, target in aliases.items():
        values[target] |= values.get(name, set())
    matchers = [m for m in sigmahq_engine._matchers.values() if m.regexes is not None]
    assert matchers, "the SigmaHQ process-creation rules should give command lines a regex set"
    checked = 0
    for matcher in matchers:
        saved = matcher.regexes
        for text in sorted(values.get(matcher.name, ())):
            with_set = matcher._compute(text)
            matcher.regexes = None
            try:
                assert with_set == matcher._compute(text), (matcher.name, text[:200])
            finally:
                matcher.regexes = saved
            checked += 1
    assert checked > 1000
