"""The engine's shortcuts give the answers of the slow path: the compiled kernel, value
pre-checks (inert values, regex hints, character counts), the CIDR set, presence by layout."""

from __future__ import annotations

import random

import ahocorasick
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.detect.sigma import atoms as A
from hygie.detect.sigma import kernel
from tests.unit.kernel_util import interpreted, require_compiled_in_ci
from tests.unit.sigma_util import engine_for, hits, matches, rule_yaml


def _interpreted_kernel():
    return interpreted(kernel)


def test_kernel_is_compiled_in_ci() -> None:
    require_compiled_in_ci(kernel)


class _Matcher:
    def __init__(self, cache: dict, answer: frozenset) -> None:
        self.cache, self.answer, self.calls = cache, answer, []

    def atoms_for(self, value):
        self.calls.append(value)
        return self.answer


@pytest.mark.parametrize("implementation", ["installed", "source"])
def test_true_atom_parts_paths(implementation: str) -> None:
    module = kernel if implementation == "installed" else _interpreted_kernel()
    image = _Matcher({"c:\\x.exe": frozenset({1})}, frozenset({9}))
    keyword = _Matcher({}, frozenset({7}))
    caches = {"Image": image.cache, "Guid": keyword.cache, "Pid": keyword.cache}
    matchers = {"Image": image, "Guid": keyword, "Pid": keyword}
    inert = {"Guid": "0123456789abcdefABCDEF-{}", "Pid": "0123456789abcdefABCDEF-{}"}
    resolved: list[str] = []

    def resolve(name: str) -> bool:
        resolved.append(name)
        return False

    fields = {"Image": "c:\\x.exe", "Guid": "{AB-12}", "Pid": 4242, "Other": "z", "Flag": True}
    parts = module.true_atom_parts(fields, caches, matchers, set(), inert, resolve)
    assert parts == [frozenset({1})]  # cached hit; inert str and int skipped; unknown resolved
    assert resolved == ["Other", "Flag"] and keyword.calls == []
    fields = {"Image": "c:\\y.exe", "Guid": "{AB-12}mimikatz", "Pid": [1]}
    parts = module.true_atom_parts(fields, caches, matchers, {"Other"}, inert, resolve)
    assert parts == [frozenset({9}), frozenset({7}), frozenset({7})]  # misses go to atoms_for
    assert image.calls == ["c:\\y.exe"] and keyword.calls == ["{AB-12}mimikatz", [1]]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["ab", "b", "abc", "c", "bca", "zz"]), min_size=1, max_size=6,
                unique=True),
       st.text(alphabet="abcz", max_size=12))
def test_scan_same_in_compiled_and_source(patterns: list[str], text: str) -> None:
    automaton = ahocorasick.Automaton()
    for number, pattern in enumerate(patterns):
        automaton.add_word(pattern, (len(pattern), (number,), (100 + number,), (200 + number,)))
    automaton.make_automaton()
    expected = set()
    for number, pattern in enumerate(patterns):
        if pattern in text:
            expected.add(number)
        if text.startswith(pattern):
            expected.add(100 + number)
        if text.endswith(pattern):
            expected.add(200 + number)
    for module in (kernel, _interpreted_kernel()):
        found: list[int] = []
        module.scan(automaton, text, found)
        assert set(found) == expected


def test_inert_values_are_skipped_only_when_no_keyword_is_made_of_them(tmp_path) -> None:
    words = rule_yaml("keywords: [mimikatz]\ncondition: keywords", title="words")
    hexes = rule_yaml("keywords: [deadbeef]\ncondition: keywords", title="hex")
    digits = rule_yaml("keywords: ['4444']\ncondition: keywords", title="port")
    engine = engine_for(tmp_path, words, hexes, digits)
    guid = "{DEADBEEF-0000-1111-2222-333355556666}"
    assert hits(engine, {"ProcessGuid": guid}) == ["hex"]
    assert hits(engine, {"ProcessGuid": guid.lower()}) == ["hex"]
    assert hits(engine, {"SourcePort": 4444}) == ["port"]
    assert hits(engine, {"SourcePort": 14444}) == ["port"]
    assert hits(engine, {"Note": "Mimikatz"}) == ["words"]
    only_words = engine_for(tmp_path, rule_yaml("keywords: [mimikatz]\ncondition: keywords"))
    assert hits(only_words, {"ProcessGuid": guid, "SourcePort": 4444}) == []
    assert hits(only_words, {"ProcessGuid": guid + " mimikatz"}) == ["test rule"]


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    (r"\s-c\s", "sh -c id", True),
    (r"\s-c\s", "sh -cx id", False),
    (r"\s-c\s", "SH -C ID", False),  # case-sensitive regex: the hint must not widen it
    (r"\+.*\+.*\+", "a+b+c+", True),
    (r"\+.*\+.*\+", "a+b+c", False),
    (r"[Rr]undll32\.exe", "Rundll32.exe x", True),
    (r"[Rr]undll32\.exe", "RUNDLL32.EXE x", False),
    (r"(?i)[Rr]undll32\.exe", "RUNDLL32.EXE x", True),
])
def test_regex_hints_keep_regex_semantics(tmp_path, pattern: str, value: str, expected: bool) -> None:
    detection = f"sel:\n  CommandLine|re: '{pattern}'\ncondition: sel"
    assert matches(tmp_path, detection, {"CommandLine": value}) is expected


def test_required_literal_and_repeat() -> None:
    assert A.required_literal(r"[Rr][Uu][Nn]dll32(\.exe)?") == "rundll32"
    assert A.required_literal(r"\s-c\s") is None
    assert A.required_literal(r"\s-c\s", min_length=1) == "-c"
    assert A.required_literal(r"[ab]cd") is None
    assert A.required_repeat(r"\{.*\{.*\{") == ("{", 3)
    assert A.required_repeat(r"\w+") == ("", 0)


@pytest.mark.parametrize(("networks", "value", "expected"), [
    (["10.0.0.0/8", "192.168.0.0/16"], "192.168.4.2", True),
    (["10.0.0.0/8", "192.168.0.0/16"], "192.169.0.1", False),
    (["10.0.0.0/8"], " 10.255.255.255 ", True),
    (["10.0.0.0/8"], "010.0.0.1", False),  # leading zeros are ambiguous: not an address
    (["10.0.0.0/8"], "::ffff:10.0.0.1", False),  # IPv6, even when IPv4-mapped
    (["fe80::/10"], "fe80::1%eth0", True),
    (["2001:db8::/32"], "2001:db9::1", False),
    (["10.0.0.0/8"], "10.0.0", False),
])
def test_cidr_set(tmp_path, networks: list[str], value: str, expected: bool) -> None:
    listed = "".join(f"\n    - '{n}'" for n in networks)
    detection = f"sel:\n  DestinationIp|cidr:{listed}\ncondition: sel"
    assert matches(tmp_path, detection, {"DestinationIp": value}) is expected


def test_presence_by_layout_sees_null_values(tmp_path) -> None:
    rule = rule_yaml("sel: {ParentImage: null}\ncondition: sel", title="no parent")
    engine = engine_for(tmp_path, rule)
    for _ in range(2):  # the second round hits the per-layout cache
        assert hits(engine, {"Image": "a", "ParentImage": "b"}) == []
        assert hits(engine, {"Image": "a", "ParentImage": None}) == ["no parent"]
        assert hits(engine, {"Image": "a"}) == ["no parent"]


def test_repeated_events_hit_the_parts_cache_with_the_same_alerts(tmp_path) -> None:
    rule = rule_yaml("sel: {Image|endswith: '\\\\vssadmin.exe', CommandLine|contains: 'delete'}\n"
                     "condition: sel", title="vss")
    engine = engine_for(tmp_path, rule)
    rng = random.Random(7)
    for _ in range(50):
        image = rng.choice(["c:\\w\\vssadmin.exe", "c:\\w\\cmd.exe"])
        line = rng.choice(["vssadmin delete shadows", "vssadmin list"])
        expected = ["vss"] if image.endswith("vssadmin.exe") and "delete" in line else []
        assert hits(engine, {"Image": image, "CommandLine": line}) == expected
