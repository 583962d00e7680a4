"""CPE 2.3 names and version ranges (``hygie.intel.cpe``): the formatted-string grammar with its
quoting and wildcards, NISTIR 7696's attribute relations, and version order (PEP 440, then the
natural order), with properties checked by hypothesis."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.intel import cpe
from hygie.intel.cpe import ANY, NA, CpeError, Range, Relation, Tri

FORTIOS = "cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*"


def name(text: str) -> cpe.Name:
    return cpe.parse(text)


def test_fields_split_on_unquoted_colons_only_and_quotes_are_removed() -> None:
    parsed = name(r"cpe:2.3:o:cisco:ios:15.2\(4\)m:*:*:*:*:*:*:*")
    assert parsed.version == cpe.Value("value", "15.2(4)m")
    quoted = name(r"cpe:2.3:a:acme:web\:portal:1.0:*:*:*:*:*:*:*")
    assert quoted.product.literal == "web:portal" and quoted.version.literal == "1.0"
    assert name(r"cpe:2.3:a:acme:c\+\+_lib:-:*:*:*:*:*:*:*").version == NA
    assert name("cpe:2.3:A:Apache:Log4j:2.14.1:*:*:*:*:*:*:*").vendor.literal == "apache"  # no case


@pytest.mark.parametrize("text, why", [
    ("cpe:/a:apache:log4j:2.14.1", "CPE 2.2 URI"),
    ("cpe:2.3:a:apache:log4j:2.14.1", "13 fields"),
    ("cpe:2.3:x:apache:log4j:*:*:*:*:*:*:*:*", "part must be"),
    ("cpe:2.3:a:apache:log(4)j:*:*:*:*:*:*:*:*", "unquoted special character '('"),
    ("cpe:2.3:a:apache:lo*gj:*:*:*:*:*:*:*:*", "wildcard inside a value"),
    ("cpe:2.3:a:apache::*:*:*:*:*:*:*:*", "product is empty"),
    ("cpe:2.3:a:apache:\\log4j:*:*:*:*:*:*:*:*", "needs no quoting"),
    ("cpe:2.3:a:apache:log4j:*:*:*:*:*:*:*:x\\", "trailing backslash"),
])
def test_malformed_names_say_why(text: str, why: str) -> None:
    with pytest.raises(CpeError, match=why.replace("(", r"\(").replace("+", r"\+")):
        cpe.parse(text)


def test_wildcards_at_the_ends_and_the_attribute_relations_of_nistir_7696() -> None:
    office = name("cpe:2.3:a:microsoft:*office:201?:*:*:*:*:*:*:*")
    assert (office.product.before, office.product.literal, office.version.after) == ("*", "office", "?")
    i, k = cpe.literal("7.2.4"), cpe.literal("7.2.5")
    assert cpe.compare(ANY, ANY) is Relation.EQUAL and cpe.compare(ANY, NA) is Relation.SUPERSET
    assert cpe.compare(ANY, i) is Relation.SUPERSET and cpe.compare(NA, ANY) is Relation.SUBSET
    assert cpe.compare(NA, NA) is Relation.EQUAL and cpe.compare(NA, i) is Relation.DISJOINT
    assert cpe.compare(i, ANY) is Relation.SUBSET and cpe.compare(i, NA) is Relation.DISJOINT
    assert cpe.compare(i, i) is Relation.EQUAL and cpe.compare(i, k) is Relation.DISJOINT
    assert cpe.compare(office.product, cpe.literal("msoffice")) is Relation.SUPERSET
    assert cpe.compare(office.version, cpe.literal("2016")) is Relation.SUPERSET
    assert cpe.compare(office.version, cpe.literal("20166")) is Relation.DISJOINT  # ? is one character
    assert cpe.compare(office.version, NA) is Relation.DISJOINT
    assert cpe.compare(i, office.version) is Relation.UNDEFINED  # a target with wildcards


def test_name_matching_is_three_valued() -> None:
    criteria = name("cpe:2.3:a:microsoft:office:2016:*:*:*:*:*:x64:*")
    assert cpe.name_match(criteria, name("cpe:2.3:a:microsoft:office:2016:*:*:*:*:*:x64:*")) is Tri.YES
    assert cpe.name_match(criteria, name("cpe:2.3:a:microsoft:office:2016:*:*:*:*:*:x86:*")) is Tri.NO
    # the asset says nothing of its hardware: we cannot tell
    assert cpe.name_match(criteria, name("cpe:2.3:a:microsoft:office:2016:*:*:*:*:*:*:*")) is Tri.MAYBE
    # an inventory line without part or CPE is not held against a criteria's part
    assert cpe.name_match(name(FORTIOS), cpe.build("*", "fortinet", "fortios", "7.2.4")) is Tri.YES
    assert cpe.name_match(name(FORTIOS), name("cpe:2.3:a:fortinet:fortios:7.2.4:*:*:*:*:*:*:*")) is Tri.NO
    # versions of a fixed criteria compare as versions, not as strings
    assert cpe.name_match(name("cpe:2.3:a:x:y:7.2:*:*:*:*:*:*:*"), cpe.build("a", "x", "y", "7.2.0")) is Tri.YES


@pytest.mark.parametrize("left, right, order", [
    ("2.14.1", "2.15.0", -1), ("2.9", "2.10", -1), ("7.2", "7.2.0", 0), ("1.0rc1", "1.0", -1),
    ("2.0.1", "2.0-beta9", 1), ("v1.2", "1.2", 0),
    # not PEP 440: the natural order, never by string prefix
    ("15.2(4)M", "15.2(10)M", -1), ("10.2.1-build3", "10.2.1", 1), ("10.2.1-build3", "10.2.1-build12", -1),
    ("16.12.1", "16.12.1a", -1), ("13.1-49.15", "13.1-48.47", 1), ("13.1-49.15", "13.1-49.15", 0),
    ("7.2.10", "7.2.9", 1),
])
def test_version_order(left: str, right: str, order: int) -> None:
    assert cpe.compare_versions(left, right) == order
    assert cpe.compare_versions(right, left) == -order


def test_ranges_with_every_kind_of_bound() -> None:
    fortios = Range(start_including="7.2.0", end_excluding="7.2.7")
    assert [fortios.contains(v) for v in ("7.1.9", "7.2.0", "7.2.4", "7.2.6", "7.2.7", "7.2.10")] == [
        False, True, True, True, False, False]
    inclusive = Range(start_excluding="1.0", end_including="1.4")
    assert [inclusive.contains(v) for v in ("1.0", "1.0.1", "1.4", "1.4.0", "1.4.1")] == [
        False, True, True, True, False]
    assert str(fortios) == ">= 7.2.0, < 7.2.7" and str(Range()) == "every version"
    netscaler = Range(start_including="13.1", end_excluding="13.1-49.15")
    assert netscaler.contains("13.1-48.47") and not netscaler.contains("13.1-49.15")


def test_a_criteria_with_a_range_against_assets() -> None:
    criteria, bounds = name(FORTIOS), Range(start_including="7.2.0", end_excluding="7.2.7")
    assert cpe.match_with_range(criteria, bounds, name("cpe:2.3:o:fortinet:fortios:7.2.4:*:*:*:*:*:*:*")) is Tri.YES
    assert cpe.match_with_range(criteria, bounds, name("cpe:2.3:o:fortinet:fortios:7.2.7:*:*:*:*:*:*:*")) is Tri.NO
    assert cpe.match_with_range(criteria, bounds, name("cpe:2.3:o:fortinet:fortios:*:*:*:*:*:*:*:*")) is Tri.MAYBE
    assert cpe.match_with_range(criteria, bounds, name("cpe:2.3:o:fortinet:fortios:-:*:*:*:*:*:*:*")) is Tri.NO
    assert cpe.match_with_range(criteria, bounds, name("cpe:2.3:o:fortinet:fortiproxy:7.2.4:*:*:*:*:*:*:*")) is Tri.NO


def test_three_valued_logic() -> None:
    assert ~Tri.YES is Tri.NO and ~Tri.MAYBE is Tri.MAYBE
    assert cpe.tri_all([Tri.YES, Tri.MAYBE]) is Tri.MAYBE and cpe.tri_any([Tri.NO, Tri.MAYBE]) is Tri.MAYBE
    assert cpe.tri_all([Tri.YES, Tri.NO]) is Tri.NO and cpe.tri_any([Tri.YES, Tri.NO]) is Tri.YES


# -- properties ------------------------------------------------------------------------------------
LITERAL = st.text(alphabet="abcdefz019._-:()+!\\*?/ ", min_size=1, max_size=12)
VALUES = st.one_of(st.just(ANY), st.just(NA), LITERAL.map(lambda t: cpe.Value("value", t.lower())))
VERSIONS = st.lists(st.one_of(st.integers(0, 30).map(str), st.sampled_from(["a", "b", "rc", "build", "m", "p"])),
                    min_size=1, max_size=6).flatmap(
    lambda parts: st.lists(st.sampled_from([".", "-", "_", "(", ")", ""]), min_size=len(parts), max_size=len(parts))
    .map(lambda seps: "".join(p + s for p, s in zip(parts, seps))))


@given(st.lists(VALUES, min_size=11, max_size=11))
@settings(max_examples=300)
def test_formatting_then_parsing_gives_the_same_name(values: list[cpe.Value]) -> None:
    values[0] = cpe.Value("value", "a")  # a part is a, o or h
    original = cpe.Name(tuple(values))
    assert cpe.parse(original.formatted()) == original


@given(VALUES, VALUES)
def test_attribute_relations_are_converse(source: cpe.Value, target: cpe.Value) -> None:
    converse = {Relation.SUPERSET: Relation.SUBSET, Relation.SUBSET: Relation.SUPERSET,
                Relation.EQUAL: Relation.EQUAL, Relation.DISJOINT: Relation.DISJOINT}
    assert cpe.compare(target, source) is converse[cpe.compare(source, target)]


@given(VERSIONS, VERSIONS, VERSIONS)
@settings(max_examples=400)
def test_version_order_is_antisymmetric_and_reflexive(a: str, b: str, c: str) -> None:
    assert cpe.compare_versions(a, a) == 0
    assert cpe.compare_versions(a, b) == -cpe.compare_versions(b, a)
    keys = sorted([a, b, c], key=cpe.natural_key)  # the fallback order alone is total
    assert cpe.natural_key(keys[0]) <= cpe.natural_key(keys[1]) <= cpe.natural_key(keys[2])


@given(VERSIONS, VERSIONS, VERSIONS)
@settings(max_examples=400)
def test_a_range_holds_exactly_what_lies_between_its_bounds(low: str, high: str, version: str) -> None:
    inside = Range(start_including=low, end_excluding=high).contains(version)
    assert inside == (cpe.compare_versions(version, low) >= 0 and cpe.compare_versions(version, high) < 0)
    assert Range(start_including=version, end_including=version).contains(version)
    assert not Range(start_excluding=version).contains(version)
