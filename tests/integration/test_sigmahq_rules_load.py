"""Every rule of the SigmaHQ corpus loads and compiles, or is listed here with its reason."""

from __future__ import annotations

import pytest

from hygie.detect.engine import Engine
from tests.conftest import SIGMA, require_corpora

# rule file (relative to the corpus) -> why Hygie cannot load it. Must stay short and justified.
EXPECTED_FAILURES: dict[str, str] = {}


@pytest.mark.corpus
def test_all_sigmahq_rules_load() -> None:
    require_corpora()
    engine = Engine.from_paths([SIGMA / "rules", SIGMA / "rules-emerging-threats",
                                SIGMA / "rules-threat-hunting"])
    failed = {str(e.location.path).split(str(SIGMA) + "/", 1)[-1]: e.reason
              for e in engine.load_errors}
    assert failed == EXPECTED_FAILURES
    assert len(engine.rules) + len(engine.correlations) == 3754
    active = sum(1 for s in engine.statuses if s.active)
    assert active >= 2850, f"only {active} rules have a mapped log source"
