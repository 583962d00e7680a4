"""Each Sigma value modifier and value type, positive and negative."""

from __future__ import annotations

import base64

import pytest

from tests.unit.sigma_util import engine_for, hits, matches, rule_yaml


@pytest.mark.parametrize(("detection", "fields", "expected"), [
    # plain equality: case-insensitive, Unicode-aware
    ("sel: {Image: 'C:\\Windows\\cmd.exe'}\ncondition: sel", {"Image": "c:\\windows\\CMD.EXE"}, True),
    ("sel: {Image: 'cmd.exe'}\ncondition: sel", {"Image": "C:\\cmd.exe"}, False),
    ("sel: {User: 'ÉLODIE'}\ncondition: sel", {"User": "élodie"}, True),
    ("sel: {User: 'STRASSE'}\ncondition: sel", {"User": "straße"}, True),  # full case folding
    # contains / startswith / endswith
    ("sel: {CommandLine|contains: 'delete shadows'}\ncondition: sel",
     {"CommandLine": "vssadmin.exe Delete Shadows /all"}, True),
    ("sel: {CommandLine|contains: 'delete shadows'}\ncondition: sel",
     {"CommandLine": "vssadmin list shadows"}, False),
    ("sel: {Image|startswith: 'C:\\Users\\'}\ncondition: sel", {"Image": "c:\\users\\a\\x.exe"}, True),
    ("sel: {Image|startswith: 'C:\\Users\\'}\ncondition: sel", {"Image": "D:\\c:\\users\\x.exe"}, False),
    ("sel: {Image|endswith: '\\psexec.exe'}\ncondition: sel", {"Image": "C:\\T\\PsExec.exe"}, True),
    ("sel: {Image|endswith: '\\psexec.exe'}\ncondition: sel", {"Image": "C:\\psexec.exe.bak"}, False),
    # all: every value must be present
    ("sel: {CommandLine|contains|all: [' -enc ', 'hidden']}\ncondition: sel",
     {"CommandLine": "powershell -w hidden -enc AAA"}, True),
    ("sel: {CommandLine|contains|all: ['-enc', 'hidden']}\ncondition: sel",
     {"CommandLine": "powershell -w hidden -enc AAA"}, True),
    ("sel: {CommandLine|contains|all: ['-enc', 'bypass']}\ncondition: sel",
     {"CommandLine": "powershell -w hidden -enc AAA"}, False),
    # wildcards inside values, escaped wildcards
    ("sel: {CommandLine: '*net* user *'}\ncondition: sel", {"CommandLine": "cmd /c NET1 USER x"}, True),
    ("sel: {CommandLine: 'a?c'}\ncondition: sel", {"CommandLine": "abc"}, True),
    ("sel: {CommandLine: 'a?c'}\ncondition: sel", {"CommandLine": "abbc"}, False),
    ("sel: {CommandLine: 'a\\*c'}\ncondition: sel", {"CommandLine": "a*c"}, True),
    ("sel: {CommandLine: 'a\\*c'}\ncondition: sel", {"CommandLine": "abc"}, False),
    ("sel: {CommandLine: '*'}\ncondition: sel", {"CommandLine": ""}, True),
    ("sel: {CommandLine: '*'}\ncondition: sel", {"Image": "x"}, False),
    # windash: - / and the unicode dashes
    ("sel: {CommandLine|windash|contains: ' -s '}\ncondition: sel", {"CommandLine": "psexec /s x"}, True),
    ("sel: {CommandLine|windash|contains: ' -s '}\ncondition: sel", {"CommandLine": "psexec \u2013s x"}, True),
    ("sel: {CommandLine|windash|contains: ' -s '}\ncondition: sel", {"CommandLine": "psexec s x"}, False),
    # re with flags
    ("sel: {CommandLine|re: 'vssadmin\\s+delete'}\ncondition: sel", {"CommandLine": "vssadmin   delete"}, True),
    ("sel: {CommandLine|re: 'vssadmin\\s+delete'}\ncondition: sel", {"CommandLine": "VSSADMIN delete"}, False),
    ("sel: {CommandLine|re|i: 'vssadmin\\s+delete'}\ncondition: sel", {"CommandLine": "VSSADMIN delete"}, True),
    ("sel: {CommandLine|re|m: '^delete$'}\ncondition: sel", {"CommandLine": "x\ndelete\ny"}, True),
    ("sel: {CommandLine|re: '^delete$'}\ncondition: sel", {"CommandLine": "x\ndelete\ny"}, False),
    ("sel: {CommandLine|re|s: 'a.b'}\ncondition: sel", {"CommandLine": "a\nb"}, True),
    ("sel: {CommandLine|re: 'a.b'}\ncondition: sel", {"CommandLine": "a\nb"}, False),
    # cidr
    ("sel: {DestinationIp|cidr: '10.0.0.0/8'}\ncondition: sel", {"DestinationIp": "10.1.2.3"}, True),
    ("sel: {DestinationIp|cidr: '10.0.0.0/8'}\ncondition: sel", {"DestinationIp": "11.1.2.3"}, False),
    ("sel: {DestinationIp|cidr: 'fe80::/10'}\ncondition: sel", {"DestinationIp": "fe80::1"}, True),
    ("sel: {DestinationIp|cidr: '10.0.0.0/8'}\ncondition: sel", {"DestinationIp": "not-an-ip"}, False),
    # numeric comparisons
    ("sel: {LogonType|gte: 10}\ncondition: sel", {"LogonType": 10}, True),
    ("sel: {LogonType|gt: 10}\ncondition: sel", {"LogonType": "10"}, False),
    ("sel: {LogonType|lt: 3}\ncondition: sel", {"LogonType": 2}, True),
    ("sel: {LogonType|lte: 3}\ncondition: sel", {"LogonType": "x"}, False),
    ("sel: {LogonType|neq: 3}\ncondition: sel", {"LogonType": 2}, True),
    ("sel: {LogonType|neq: 3}\ncondition: sel", {"LogonType": 3}, False),
    # numbers match their text form, booleans Sigma's spelling
    ("sel: {EventID: 1}\ncondition: sel", {}, True),
    ("sel: {Signed: true}\ncondition: sel", {"Signed": "true"}, True),
    ("sel: {Signed: false}\ncondition: sel", {"Signed": True}, False),
    # null and exists
    ("sel: {ParentImage: null}\ncondition: sel", {"Image": "x"}, True),
    ("sel: {ParentImage: null}\ncondition: sel", {"ParentImage": "x"}, False),
    ("sel: {ParentImage|exists: true}\ncondition: sel", {"ParentImage": "x"}, True),
    ("sel: {ParentImage|exists: false}\ncondition: sel", {"ParentImage": "x"}, False),
    ("sel: {ParentImage|exists: false}\ncondition: sel", {"Image": "x"}, True),
    # fieldref
    ("sel: {Image|fieldref: ParentImage}\ncondition: sel", {"Image": "A.exe", "ParentImage": "a.EXE"}, True),
    ("sel: {Image|fieldref: ParentImage}\ncondition: sel", {"Image": "A.exe", "ParentImage": "b.exe"}, False),
    ("sel: {Image|fieldref|startswith: ParentImage}\ncondition: sel",
     {"Image": "C:\\a\\b.exe", "ParentImage": "c:\\a"}, True),
    ("sel: {Image|fieldref|endswith: ParentImage}\ncondition: sel",
     {"Image": "C:\\a\\b.exe", "ParentImage": "c:\\a"}, False),
    # cased
    ("sel: {CommandLine|cased: 'AbC'}\ncondition: sel", {"CommandLine": "AbC"}, True),
    ("sel: {CommandLine|cased: 'AbC'}\ncondition: sel", {"CommandLine": "abc"}, False),
    ("sel: {CommandLine|cased|contains: 'AbC'}\ncondition: sel", {"CommandLine": "xAbCx"}, True),
    ("sel: {CommandLine|cased|contains: 'AbC'}\ncondition: sel", {"CommandLine": "xabcx"}, False),
    # time parts of a timestamp field
    ("sel: {UtcTime|hour: 3}\ncondition: sel", {"UtcTime": "2026-11-20 03:15:00.000"}, True),
    ("sel: {UtcTime|hour: 3}\ncondition: sel", {"UtcTime": "2026-11-20 04:15:00.000"}, False),
    ("sel: {UtcTime|month: 11}\ncondition: sel", {"UtcTime": "2026-11-20T04:15:00Z"}, True),
    # lists in events: any element
    ("sel: {Data|contains: 'evil'}\ncondition: sel", {"Data": ["good", "so evil"]}, True),
    ("sel: {Data|contains: 'evil'}\ncondition: sel", {"Data": ["good", "fine"]}, False),
    # case-insensitive field names
    ("sel: {ProcessId: 42}\ncondition: sel", {"ProcessID": 42}, True),
])
def test_value_semantics(tmp_path, detection: str, fields: dict, expected: bool) -> None:
    assert matches(tmp_path, detection, fields) is expected


def test_base64_and_base64offset(tmp_path) -> None:
    payload = base64.b64encode(b"xx IEX (New-Object Net.WebClient) yy").decode()
    assert matches(tmp_path, "sel: {CommandLine|base64offset|contains: 'IEX ('}\ncondition: sel",
                   {"CommandLine": f"powershell -enc {payload}"})
    plain = base64.b64encode(b"whoami").decode()
    assert matches(tmp_path, "sel: {CommandLine|base64: 'whoami'}\ncondition: sel",
                   {"CommandLine": plain})
    assert not matches(tmp_path, "sel: {CommandLine|base64offset|contains: 'IEX ('}\ncondition: sel",
                       {"CommandLine": "powershell -enc " + base64.b64encode(b"Get-Date").decode()})


@pytest.mark.parametrize("modifier,encoding", [("wide", "utf-16-le"),
                                               ("utf16be", "utf-16-be")])
def test_utf16_then_base64(tmp_path, modifier: str, encoding: str) -> None:
    encoded = base64.b64encode("Invoke-Mimikatz now".encode(encoding)).decode()
    detection = f"sel: {{CommandLine|{modifier}|base64offset|contains: 'Invoke-Mimikatz'}}\ncondition: sel"
    assert matches(tmp_path, detection, {"CommandLine": f"-enc {encoded}"})
    other = base64.b64encode("Get-Process".encode(encoding)).decode()
    assert not matches(tmp_path, detection, {"CommandLine": f"-enc {other}"})


def test_utf16_with_bom(tmp_path) -> None:
    encoded = base64.b64encode("ping".encode("utf-16")).decode()  # BOM + little endian
    assert matches(tmp_path, "sel: {CommandLine|utf16|base64offset|contains: 'ping'}\ncondition: sel",
                   {"CommandLine": encoded})


def test_expand_uses_placeholder_values(tmp_path) -> None:
    doc = rule_yaml("sel: {Image|endswith: '\\psexec.exe'}\n"
                    "admins: {Computer|expand: '%Admins_Workstations%'}\n"
                    "condition: sel and not admins")
    engine = engine_for(tmp_path, doc, placeholders={"Admins_Workstations": ["ADM-*", "IT-01"]})
    assert hits(engine, {"Image": "C:\\psexec.exe", "Computer": "WS-12"})
    assert not hits(engine, {"Image": "C:\\psexec.exe", "Computer": "adm-07"})
    assert not hits(engine, {"Image": "C:\\psexec.exe", "Computer": "IT-01"})


def test_expand_without_values_filters_nothing_and_says_so(tmp_path) -> None:
    doc = rule_yaml("sel: {Image|endswith: '\\psexec.exe'}\n"
                    "admins: {Computer|expand: '%Admins_Workstations%'}\n"
                    "condition: sel and not admins")
    engine = engine_for(tmp_path, doc, placeholders={})
    assert hits(engine, {"Image": "C:\\psexec.exe", "Computer": "ADM-01"})
    assert any("Admins_Workstations" in n for s in engine.statuses for n in s.notes)


def test_cache_keeps_true_and_1_apart(tmp_path) -> None:
    engine = engine_for(tmp_path, rule_yaml("sel: {Flag: 1}\ncondition: sel"))
    assert hits(engine, {"Flag": 1})
    assert not hits(engine, {"Flag": True})
    assert hits(engine, {"Flag": 1.0})


@pytest.mark.parametrize(("detection", "fields", "expected"), [
    ("sel: {CommandLine|exists: true}\ncondition: sel", {"commandline": "abc"}, True),
    ("sel: {CommandLine: null}\ncondition: sel", {"commandline": "abc"}, False),
    ("sel: {Image|fieldref: ParentImage}\ncondition: sel",
     {"image": "C:\\x.exe", "parentimage": "c:\\X.exe"}, True),
])
def test_presence_and_fieldref_ignore_field_name_case(tmp_path, detection, fields, expected) -> None:
    assert matches(tmp_path, detection, fields) is expected
