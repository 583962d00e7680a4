"""The threat-intelligence matcher's pass over every event, compiled like the Sigma engine's
kernel (``setup.py``, Cython) so that it runs as C; plain Python, and importable uncompiled
(slower, same results: ``tests/unit/test_intel_kernel.py`` runs both)."""

from __future__ import annotations

try:  # pragma: no cover - the attribute only exists when Cython compiled this file
    import cython

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build-time dependency only
    COMPILED = False


def unknown_texts(fields: dict, known: dict, out: list) -> bool:
    """Append to ``out`` the str values of ``fields`` that are not keys of ``known`` (the values
    already classified as hitting no indicator); numbers, booleans and None are skipped, as no
    indicator is one. Returns False, ``out`` then incomplete, at the first list or object
    among the values: the caller takes its slow path."""
    for value in fields.values():
        cls = type(value)
        if cls is str:
            if value not in known:
                out.append(value)
        elif cls is list or cls is dict or cls is tuple:
            return False
    return True
