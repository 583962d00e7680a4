"""The per-event hot path of the engine: one pass over the event's fields, cache lookups only.

This module is plain Python and runs as is. ``pip install`` also compiles it with Cython (see
``setup.py``), so that the loop below, which runs once per field of every event, runs as C
rather than as interpreted bytecode. Keep it small, free of imports from the rest of Hygie,
and typed with builtin types only, so that the compiled and the interpreted module behave the
same (``tests/unit/test_engine_fast_paths.py`` runs both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

try:  # pragma: no cover - the attribute only exists when Cython compiled this file
    import cython

    COMPILED: bool = cython.compiled
except ImportError:  # pragma: no cover - Cython is a build-time dependency only
    COMPILED = False


def true_atom_parts(fields: dict, caches: dict, matchers: dict, ignored: set, inert: dict,
                    resolve: Callable[[str], bool]) -> list:
    """The non-empty atom sets of the event's fields, one per field that has a matcher.

    ``caches`` maps an event field name to its matcher's cache (a str or int value -> the
    frozenset of its true atoms) and ``matchers`` to the matcher itself; ``ignored`` holds the
    names no rule looks at. A name in none of them is resolved once by ``resolve``, which
    fills them and says whether the field has a matcher. Values that are not str or int
    (lists, bools, floats, None) and cache misses go through ``matcher.atoms_for``.

    ``inert`` maps the names whose matcher has keyword atoms only to characters that none of
    its literals is made of alone: a missed int, or a missed str made only of these characters
    (a record id, a GUID, a time), cannot match and is skipped without being cached, as such
    values are mostly unique and would only churn the cache.
    """
    parts: list = []
    cache: dict
    for name, value in fields.items():
        found_cache = caches.get(name)
        if found_cache is None:
            if name in ignored or not resolve(name):
                continue
            found_cache = caches[name]
        cache = found_cache
        cls = type(value)
        found = cache.get(value) if cls is str or cls is int else None
        if found is None:
            chars = inert.get(name)
            if chars is not None and (cls is int or (cls is str and not value.strip(chars))):
                continue
            found = matchers[name].atoms_for(value)
        if found:
            parts.append(found)
    return parts


def scan(automaton: Any, text: str, found: list) -> None:
    """Append to ``found`` the atoms of the automaton's patterns that ``text`` satisfies.

    Each pattern's payload is ``(length, contains, startswith, endswith)``: its atoms of each
    kind; a startswith atom needs the pattern to end at ``length - 1``, an endswith atom at
    the text's last character."""
    last: int = len(text) - 1
    end: int
    payload: tuple
    for end, payload in automaton.iter(text):
        if payload[1]:
            found.extend(payload[1])
        if payload[2] and end + 1 == payload[0]:
            found.extend(payload[2])
        if payload[3] and end == last:
            found.extend(payload[3])
