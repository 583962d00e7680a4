"""Condition grammar, keywords, log-source routing, bad rules, and property-based checks."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.detect.sigma.loader import load_paths
from tests.unit.sigma_util import engine_for, hits, matches, rule_yaml

SELECTIONS = """
selection_a: {Image|endswith: '\\a.exe'}
selection_b: {CommandLine|contains: 'bbb'}
filter_x: {User: 'svc'}
"""


def _m(tmp_path, condition: str, fields: dict) -> bool:
    return matches(tmp_path, SELECTIONS + f"condition: {condition}", fields)


def test_one_of_and_all_of_patterns(tmp_path) -> None:
    a = {"Image": "C:\\a.exe"}
    ab = {"Image": "C:\\a.exe", "CommandLine": "x bbb"}
    assert _m(tmp_path, "1 of selection_*", a)
    assert not _m(tmp_path, "all of selection_*", a)
    assert _m(tmp_path, "all of selection_*", ab)
    assert _m(tmp_path, "1 of them", {"User": "SVC"})
    assert not _m(tmp_path, "all of them", ab)
    assert _m(tmp_path, "all of them", {**ab, "User": "svc"})


def test_not_and_parentheses(tmp_path) -> None:
    a = {"Image": "C:\\a.exe"}
    assert _m(tmp_path, "selection_a and not filter_x", a)
    assert not _m(tmp_path, "selection_a and not filter_x", {**a, "User": "svc"})
    assert _m(tmp_path, "not (selection_a or selection_b)", {"Image": "b.exe"})
    assert not _m(tmp_path, "not (selection_a or selection_b)", a)
    assert _m(tmp_path, "(selection_a or selection_b) and not filter_x", {"CommandLine": "bbb"})
    # a missing field does not match a filter, so "not filter" holds
    assert _m(tmp_path, "selection_a and not 1 of filter_*", a)


def test_list_of_maps_is_or_and_map_is_and(tmp_path) -> None:
    detection = """
    sel:
      - Image|endswith: '\\x.exe'
        CommandLine|contains: 'go'
      - User: admin
    condition: sel
    """
    assert matches(tmp_path, detection, {"Image": "c:\\x.exe", "CommandLine": "go now"})
    assert not matches(tmp_path, detection, {"Image": "c:\\x.exe", "CommandLine": "stop"})
    assert matches(tmp_path, detection, {"User": "ADMIN"})


def test_multiple_conditions_are_alternatives(tmp_path) -> None:
    detection = SELECTIONS + "condition:\n  - selection_a\n  - selection_b"
    assert matches(tmp_path, detection, {"CommandLine": "bbb"})


def test_keywords_match_any_field(tmp_path) -> None:
    detection = "keywords: ['mimikatz', 'sekurlsa::']\ncondition: keywords"
    assert matches(tmp_path, detection, {"CommandLine": "run MimiKatz.exe"})
    assert matches(tmp_path, detection, {"ScriptBlockText": "sekurlsa::logonpasswords"})
    assert not matches(tmp_path, detection, {"CommandLine": "notepad"})
    both = "keywords: {'|all': ['net', 'user']}\ncondition: keywords"
    assert matches(tmp_path, both, {"CommandLine": "net", "User": "user1"})


def test_rules_never_fire_on_another_log_source(tmp_path) -> None:
    doc = rule_yaml("sel: {Image|endswith: '\\cmd.exe'}\ncondition: sel")
    engine = engine_for(tmp_path, doc)
    sysmon_file = {"Channel": "Microsoft-Windows-Sysmon/Operational", "EventID": 11}
    assert hits(engine, {"Image": "C:\\cmd.exe"})
    assert not hits(engine, {"Image": "C:\\cmd.exe"}, base=sysmon_file)
    assert not hits(engine, {"Image": "C:\\cmd.exe"}, base={"Channel": "Security", "EventID": 4624})


def test_security_4688_is_process_creation_with_sysmon_names(tmp_path) -> None:
    doc = rule_yaml("sel: {Image|endswith: '\\vssadmin.exe', ParentImage|endswith: '\\cmd.exe'}\n"
                    "condition: sel")
    engine = engine_for(tmp_path, doc)
    event = {"NewProcessName": "C:\\Windows\\System32\\vssadmin.exe",
             "ParentProcessName": "C:\\Windows\\System32\\cmd.exe"}
    found = engine.match_event(__import__("hygie.core.event", fromlist=["Event"]).Event(
        {"Channel": "Security", "EventID": 4688, **event}, None, "H", "t", 1))
    assert [a.title for a in found] == ["test rule"]
    assert found[0].matched["Image"].endswith("vssadmin.exe")


def test_service_rules_route_by_channel(tmp_path) -> None:
    doc = rule_yaml("sel: {EventID: 1102}\ncondition: sel",
                    logsource="{product: windows, service: security}")
    engine = engine_for(tmp_path, doc)
    assert hits(engine, {}, base={"Channel": "Security", "EventID": 1102})
    assert not hits(engine, {}, base={"Channel": "System", "EventID": 1102})


def test_bad_rules_are_reported_with_file_and_line_and_others_load(tmp_path) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "good.yml").write_text(rule_yaml("sel: {Image: x}\ncondition: sel"))
    (folder / "bad_yaml.yml").write_text("title: x\ndetection:\n  sel: [unclosed\n")
    (folder / "bad_modifier.yml").write_text(
        rule_yaml("sel: {Image|nosuchmodifier: x}\ncondition: sel"))
    (folder / "bad_condition.yml").write_text(rule_yaml("sel: {Image: x}\ncondition: sel and"))
    (folder / "bad_regex.yml").write_text(rule_yaml("sel: {Image|re: '(unclosed'}\ncondition: sel"))
    from hygie.detect.engine import Engine

    engine = Engine(load_paths([folder]))
    assert [r.title for r in engine.rules] == ["test rule"]
    by_file = {e.location.path.rsplit("/", 1)[-1]: e for e in engine.load_errors}
    assert set(by_file) == {"bad_yaml.yml", "bad_modifier.yml", "bad_condition.yml", "bad_regex.yml"}
    assert by_file["bad_yaml.yml"].location.line == 4
    assert "nosuchmodifier" in by_file["bad_modifier.yml"].reason
    assert by_file["bad_modifier.yml"].location.line == 7
    assert by_file["bad_regex.yml"].location.line == 7
    assert all(e.location.line > 0 for e in engine.load_errors)


# -- properties -------------------------------------------------------------------------------
TEXT = st.text(alphabet=string.ascii_letters + "éÉßẞ\\ -/.", max_size=30)
NEEDLE = st.text(alphabet=string.ascii_letters + "éÉß\\ -.", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=TEXT, needle=NEEDLE)
def test_string_modifiers_agree_with_python(tmp_path, value: str, needle: str) -> None:
    quoted = needle.replace("'", "''").replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    doc = "\n".join([
        rule_yaml(f"sel: {{F|contains: '{quoted}'}}\ncondition: sel", title="contains"),
        "---",
        rule_yaml(f"sel: {{F|startswith: '{quoted}'}}\ncondition: sel", title="startswith"),
        "---",
        rule_yaml(f"sel: {{F|endswith: '{quoted}'}}\ncondition: sel", title="endswith"),
        "---",
        rule_yaml(f"sel: {{F: '{quoted}'}}\ncondition: sel", title="equals"),
    ])
    engine = engine_for(tmp_path, doc)
    got = set(hits(engine, {"F": value}))
    v, n = value.casefold(), needle.casefold()
    expected = {name for name, ok in (("contains", n in v), ("startswith", v.startswith(n)),
                                      ("endswith", v.endswith(n)), ("equals", v == n)) if ok}
    assert got == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.booleans(), b=st.booleans(), c=st.booleans(),
       form=st.sampled_from(["a and b or c", "a and (b or c)", "not a and not (b and c)",
                             "(a or not b) and c", "not (a or b or c)", "a and not b and not c"]))
def test_condition_algebra_matches_python(tmp_path, a: bool, b: bool, c: bool, form: str) -> None:
    detection = ("a: {A: 'yes'}\nb: {B: 'yes'}\nc: {C: 'yes'}\n"
                 f"condition: {form}")
    fields = {k: ("yes" if v else "no") for k, v in (("A", a), ("B", b), ("C", c))}
    assert matches(tmp_path, detection, fields) is eval(form, {}, {"a": a, "b": b, "c": c})  # noqa: S307
