"""Shared fixtures: where ../shared is, and a Sigma engine over the SigmaHQ Windows rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CORPORA = SHARED / "corpora"
SIGMA = CORPORA / "sigma"
REGRESSION = CORPORA / "sigma-regression"
ATTACK_SAMPLES = CORPORA / "evtx-attack-samples"
WINDOWS_RULE_DIRS = [
    SIGMA / "rules" / "windows",
    SIGMA / "rules-emerging-threats",
    SIGMA / "rules-threat-hunting" / "windows",
]


def require_corpora() -> None:
    """Skip without ../shared on a developer machine; fail in CI, where it must exist."""
    if CORPORA.is_dir():
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CORPORA} is missing: CI must run the corpus tests", pytrace=False)
    pytest.skip(f"{CORPORA} is missing (corpus tests need ../shared)")


@pytest.fixture(scope="session")
def sigmahq_engine():
    """All SigmaHQ Windows rules plus emerging threats, compiled once per test session."""
    require_corpora()
    from hygie.detect.engine import Engine

    engine = Engine.from_paths(WINDOWS_RULE_DIRS)
    engine.warm_up()
    return engine
