"""Helpers of the tests of the Cython-compiled kernels (``detect/sigma/kernel.py``,
``intel/kernel.py``): the same answers compiled and interpreted, and compiled in CI."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest


def interpreted(module: ModuleType) -> ModuleType:
    """The module loaded from its .py source, whether or not a compiled build sits beside it."""
    source = Path(module.__file__ or "").with_name(module.__name__.rsplit(".", 1)[-1] + ".py")
    spec = importlib.util.spec_from_file_location(module.__name__.replace(".", "_") + "_source", source)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def require_compiled_in_ci(module: ModuleType) -> None:
    """The figures in the README are those of the compiled kernels: CI must build them."""
    if os.environ.get("CI") != "true":
        pytest.skip("only enforced in CI (a developer may run the interpreted kernel)")
    assert module.COMPILED, f"{module.__file__} is not the Cython build"
