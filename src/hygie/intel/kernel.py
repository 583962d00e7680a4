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
    already classified as hitting no indicator) and that could hold one (``could_hold``);
    numbers, booleans and None are skipped, as no indicator is one. Returns False, ``out``
    then incomplete, at the first list or object among the values: the caller takes its slow
    path."""
    for value in fields.values():
        cls = type(value)
        if cls is str:
            if value not in known and could_hold(value):
                out.append(value)
        elif cls is list or cls is dict or cls is tuple:
            return False
    return True


def could_hold(text: str) -> bool:
    """False for texts no indicator can be found in, by the rules of ``Snapshot.lookup``:
    shorter than 4; digits only, not of a hash's length (ports, counters, ids); and, without
    a URL in them, text with a space or over 320 characters that is no ``;`` list (messages,
    command lines). Such texts are many and mostly unique: not remembering them keeps the
    matcher's table of known values for those that repeat."""
    size = len(text)
    if size < 4:
        return False
    if text.isdigit():
        return size == 32 or size == 40 or size == 64
    if "://" in text:
        return True
    if ";" in text and size <= 2048:
        return True
    return size <= 320 and " " not in text
