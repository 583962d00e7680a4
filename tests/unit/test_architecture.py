"""The one-way flow, checked: each stage imports only the stages before it and ``core``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "hygie"
# stage -> the hygie packages it may import (besides itself)
ALLOWED = {
    "core": set(),
    "sources": {"core"},
    "normalize": {"core", "sources"},
    "detect": {"core", "sources", "normalize"},
    "alerts": {"core", "sources", "normalize", "detect"},
    # the bus and the state store carry and keep what the stages produce: they know only core
    "bus": {"core"},
    "store": {"core"},
    # intel (feeds, indicators, assets) feeds detection: the pipeline matches its indicators
    "intel": {"core", "store"},
    "pipeline": {"core", "sources", "normalize", "detect", "alerts", "bus", "store", "intel"},
    # respond acts on alerts (cases, playbooks); prepare reads the stores (assessment, KPIs)
    "respond": {"core", "sources", "normalize", "detect", "alerts", "store"},
    "prepare": {"core", "store"},
    # the faces call the stages; no stage imports a face
    "web": {"core", "sources", "normalize", "detect", "alerts", "bus", "store", "pipeline",
            "respond", "prepare", "intel"},
    "cli": {"core", "sources", "normalize", "detect", "alerts", "bus", "store", "pipeline",
            "respond", "prepare", "web", "intel"},
    "demo": {"core"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hygie."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("hygie."))
    return found


@pytest.mark.parametrize("stage", sorted(ALLOWED))
def test_stage_depends_only_on_earlier_stages(stage: str) -> None:
    for path in (PACKAGE / stage).rglob("*.py"):
        wrong = _imports(path) - ALLOWED[stage] - {stage}
        assert not wrong, f"{path.relative_to(PACKAGE)} imports {sorted(wrong)}"


def test_every_stage_is_declared() -> None:
    stages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
    assert stages <= set(ALLOWED), stages - set(ALLOWED)


def test_no_module_is_too_long() -> None:
    long = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
            if len(p.read_text(encoding="utf-8").splitlines()) > 600]
    assert not long
