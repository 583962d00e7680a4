"""All regular-expression and wildcard atoms of one field, looked for in one Hyperscan pass.

Python's ``re`` runs one pattern at a time: a command line met for the first time paid for
every regex and wildcard of every process-creation rule (about 150 patterns, 20 µs). Hyperscan
(Intel's multi-pattern regex engine, the ``hyperscan`` wheel) looks for all of them in one scan.

A pattern that Hyperscan compiles exactly is decided by Hyperscan alone: no backtracking, so
``\\+.*\\+.*…`` (fourteen times) costs microseconds instead of the milliseconds Python spends on
a long line with thirteen ``+``. A pattern it only takes in ``HS_FLAG_PREFILTER`` mode
(look-arounds, back-references) is compiled to a superset of itself, and the patterns reported
are confirmed by the very ``re`` test the engine would have run. Both need PCRE and Python to
read pattern and text alike, so Hyperscan only sees:

- ASCII text without the separators U+001C..U+001F, which Python's ``\\s`` matches and PCRE's
  does not;
- ASCII patterns with none of the constructs that the two read differently (``{,n}``,
  ``[:class:]``, and ``\\Z`` for exact patterns), and only the flags both know.

Other text, patterns that Hyperscan rejects and platforms that have no wheel keep the
one-test-at-a-time path. ``tests/unit/test_regexset.py`` checks, on the SigmaHQ patterns, that
Hyperscan's answer equals Python's (exact) or contains it (prefilter).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

try:
    import hyperscan
except ImportError:  # pragma: no cover - no wheel for this platform: the per-test path is used
    hyperscan = None

AVAILABLE: bool = hyperscan is not None

# The flags of Sigma's ``re`` modifier (i, m, s); any other flag keeps a pattern out.
_KNOWN_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL
_UNSAFE_TEXT = re.compile(r"[^\x00-\x1b\x20-\x7f]").search

Test = Callable[[str], Any]


def plain_text(text: str) -> bool:
    """Whether Hyperscan may prefilter ``text`` (see the module docstring)."""
    return text.isascii() and _UNSAFE_TEXT(text) is None


def expression(pattern: str, flags: int, whole: bool, caseless: bool) -> tuple[bytes, int] | None:
    """The Hyperscan expression and flags (exact mode) of a Python pattern, or None to keep it
    in Python.

    ``whole`` is for ``fullmatch`` (wildcards), ``caseless`` for a wildcard tested on the
    casefolded text: on ASCII text, a caseless scan of the original text is the same test."""
    if hyperscan is None or not pattern.isascii() or flags & ~_KNOWN_FLAGS:
        return None
    if "{," in pattern or "[:" in pattern:  # Python: {0,n} and a plain set; PCRE: literal, class
        return None
    hs_flags = hyperscan.HS_FLAG_SINGLEMATCH | hyperscan.HS_FLAG_ALLOWEMPTY
    if caseless or flags & re.IGNORECASE:
        hs_flags |= hyperscan.HS_FLAG_CASELESS
    if flags & re.DOTALL:
        hs_flags |= hyperscan.HS_FLAG_DOTALL
    if flags & re.MULTILINE:
        hs_flags |= hyperscan.HS_FLAG_MULTILINE
    text = f"\\A(?:{pattern})\\z" if whole else pattern
    return text.encode("ascii"), hs_flags


def _modes(candidate: tuple[bytes, int]) -> list[tuple[bytes, int]]:
    """The ways to try a pattern: exact, then prefilter (Python's ``\\Z`` is PCRE's ``\\z``,
    which only a superset may ignore)."""
    text, flags = candidate
    prefilter = (text, flags | hyperscan.HS_FLAG_PREFILTER)
    return [prefilter] if b"\\Z" in text else [candidate, prefilter]


def _compiles(candidate: tuple[bytes, int]) -> bool:
    try:
        _compile([candidate])
        return True
    except hyperscan.error:
        return False


def _compile(expressions: Sequence[tuple[bytes, int]]) -> Any:
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[e for e, _ in expressions], ids=list(range(len(expressions))),
                     elements=len(expressions), flags=[f for _, f in expressions])
    return database


def _collect(pattern_id: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    hits.append(pattern_id)


class RegexSet:
    """One field's tests by Hyperscan pattern id: ``(atom id, test or None when Hyperscan's
    match is exact, wants casefolded text)``.

    A compiled database carries its own scratch space: one set serves one thread, like the
    engine that owns it."""

    __slots__ = ("database", "tests")

    def __init__(self, database: Any, tests: Sequence[tuple[int, Test | None, bool]]) -> None:
        self.database = database
        self.tests = tuple(tests)

    @classmethod
    def build(cls, candidates: Sequence[tuple[int, Test, bool, tuple[bytes, int]]]
              ) -> tuple[RegexSet | None, list[int]]:
        """The set of the candidates Hyperscan accepts, and the indices of those it rejects
        (back-references in some positions, patterns over its size limits...)."""
        if hyperscan is None or not candidates:
            return None, list(range(len(candidates)))
        chosen = {i: _modes(c[3])[0] for i, c in enumerate(candidates)}
        try:
            database = _compile(list(chosen.values()))
        except hyperscan.error:
            # The error does not say which pattern: try them one by one (~1 ms each).
            chosen = {}
            for index, candidate in enumerate(candidates):
                mode = next((m for m in _modes(candidate[3]) if _compiles(m)), None)
                if mode is not None:
                    chosen[index] = mode
            try:
                database = _compile(list(chosen.values())) if chosen else None
            except hyperscan.error:  # pragma: no cover - each passes alone but not together
                database, chosen = None, {}
        rejected = [i for i in range(len(candidates)) if i not in chosen]
        if database is None:
            return None, rejected
        tests = []
        for index, (_text, flags) in chosen.items():
            atom_id, test, folded, _expression = candidates[index]
            confirm = test if flags & hyperscan.HS_FLAG_PREFILTER else None
            tests.append((atom_id, confirm, folded))
        return cls(database, tests), rejected

    def atoms(self, text: str, folded: str, found: list[int]) -> None:
        """Append the atoms of the tests that ``text`` (a ``plain_text``) passes."""
        hits: list[int] = []
        self.database.scan(text.encode("ascii"), match_event_handler=_collect, context=hits)
        tests = self.tests
        for index in hits:
            atom_id, test, wants_folded = tests[index]
            if test is None or test(folded if wants_folded else text):
                found.append(atom_id)
