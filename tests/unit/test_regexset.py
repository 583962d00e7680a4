"""Hyperscan regex sets: the same answers as Python's ``re``, on the text they are used for."""

from __future__ import annotations

import functools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.detect.sigma import atoms as A
from hygie.detect.sigma import matcher as M
from hygie.detect.sigma import regexset as R
from hygie.detect.sigma.atoms import AtomTable

pytestmark = pytest.mark.skipif(not R.AVAILABLE, reason="no hyperscan wheel on this platform")

# Patterns whose reading could differ between PCRE and Python: anchors, classes, flags,
# look-arounds and back-references (prefilter or rejected), wildcards as fullmatch.
PATTERNS: list[tuple[str, int]] = [
    (r"^a.c$", 0), (r"a.c\Z", 0), (r"\bcmd\b", 0), (r"\s-c\s", 0), (r"\w+\.exe", 0),
    (r"(?i)POWERSHELL", 0), (r"powershell", re.IGNORECASE), (r"^b", re.MULTILINE),
    (r"a.b", re.DOTALL), (r"x(?=y)", 0), (r"(a)\1", 0), (r"(?<!z)q", 0), (r"[^\n]+\n$", 0),
    (r"\d{2,3}-\d", 0), (r"\x41|\101", 0), (r"[\]a-]+z", 0), (r"a{2}b{1,}c*?", 0),
    ("\\+.*" * 13 + "\\+", 0), (r"\S\s\S", 0), (r"[\s\S]{3}$", 0), (r"\Bb\B", 0),
]
ALPHABET = st.sampled_from(list("abcxyzqABCQ +-.\\/:_019\n\r\t\x0b\x0c\x1b\x7f") + ["cmd", "exe"])
TEXTS = st.lists(ALPHABET, max_size=30).map("".join)


def _python_answers(tests, text: str) -> set[int]:
    folded = text.casefold()
    return {atom for atom, test, wants_folded in tests if test(folded if wants_folded else text)}


@functools.cache
def _regex_set() -> tuple[R.RegexSet, list, list[int]]:
    candidates, tests = [], []
    for atom, (pattern, flags) in enumerate(PATTERNS):
        test = re.compile(pattern, flags).search
        tests.append((atom, test, False))
        hs_expression = R.expression(pattern, flags, False, False)
        assert hs_expression is not None, pattern
        candidates.append((atom, test, False, hs_expression))
    regexes, rejected = R.RegexSet.build(candidates)
    assert regexes is not None
    return regexes, tests, rejected


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_regex_set_answers_like_python(text: str) -> None:
    regexes, tests, rejected = _regex_set()
    kept = [t for t in tests if t[0] not in rejected]
    found: list[int] = []
    regexes.atoms(text, text.casefold(), found)
    assert set(found) == _python_answers(kept, text)


def test_exact_and_prefilter_modes_are_chosen_per_pattern() -> None:
    regexes, _tests, rejected = _regex_set()
    by_atom = {atom: test for atom, test, _folded in regexes.tests}
    assert by_atom[0] is None  # ^a.c$: exact, Hyperscan decides alone
    assert by_atom[1] is not None  # \Z differs (PCRE also before a final newline): confirmed
    assert 9 in rejected or by_atom[9] is not None  # look-ahead: never exact
    # The pathological pattern is exact: no backtracking on a long line of 13 '+'.
    assert by_atom[17] is None
    found: list[int] = []
    text = "+" * 13 + "a" * 5000 + "\n+"
    regexes.atoms(text, text, found)
    assert 17 not in found


@functools.cache
def _glob_set() -> tuple[R.RegexSet, list]:
    candidates, tests = [], []
    for atom, glob in enumerate(["a*c", "*cmd?exe", "x?z*", "*"]):
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
        test = re.compile(regex, re.DOTALL).fullmatch
        tests.append((atom, test, True))
        candidates.append((atom, test, True, R.expression(regex, re.DOTALL, True, True)))
    regexes, rejected = R.RegexSet.build(candidates)
    assert regexes is not None and not rejected
    return regexes, tests


@settings(max_examples=300, deadline=None)
@given(TEXTS)
def test_wildcards_are_whole_caseless_matches_of_the_folded_text(text: str) -> None:
    regexes, tests = _glob_set()
    found: list[int] = []
    regexes.atoms(text, text.casefold(), found)
    assert set(found) == _python_answers(tests, text)


def test_text_and_patterns_outside_the_common_ground_stay_in_python() -> None:
    assert R.plain_text("C:\\Windows\\system32\\cmd.exe /c \"a\"\r\n\t")
    assert not R.plain_text("C:\\Users\\Hélène")
    assert not R.plain_text("a\x1cb")  # Python's \s matches U+001C, PCRE's does not
    assert R.expression("é+", 0, False, False) is None
    assert R.expression("a{,3}", 0, False, False) is None  # Python: 0..3 a's; PCRE: literal
    assert R.expression("[[:alpha:]]", 0, False, False) is None
    assert R.expression("a b", re.VERBOSE, False, False) is None


@functools.cache
def _field_matcher() -> M.FieldMatcher:
    patterns = [(f"{re.escape(c)}{{{n}}}", 0) for c in "ab+x" for n in range(1, 9)] + PATTERNS
    table = AtomTable()
    ids = [table.intern(A.Atom("CommandLine", A.REGEX, pattern_flags)) for pattern_flags in patterns]
    ids.append(table.intern(A.Atom("CommandLine", A.CONTAINS, "cmd")))
    return M.FieldMatcher("commandline", table, ids)


@settings(max_examples=300, deadline=None)
@given(st.one_of(TEXTS, st.text(max_size=20)))
def test_field_matcher_with_a_regex_set_equals_the_one_by_one_path(text: str) -> None:
    matcher = _field_matcher()
    assert matcher.regexes is not None
    found = matcher._compute(text)
    saved, matcher.regexes = matcher.regexes, None
    try:
        assert found == matcher._compute(text)  # the one-by-one path, for every test
    finally:
        matcher.regexes = saved
