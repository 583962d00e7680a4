"""What a syslog MSG carries besides text: key=value pairs (FortiGate, Stormshield, auditd,
sudo), CEF records (Palo Alto, Check Point...) and DICOM audit messages (PACS over syslog).
Parsers of hostile text: property-based tests say they never raise and read back what a
well-behaved sender writes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.core.errors import RecordError
from hygie.core.record import ATNA, SYSLOG, RawRecord
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.keyvalue import (
    CEF_HEADER,
    MAX_PAIRS,
    MAX_VALUE,
    message_pairs,
    parse_cef,
    parse_kv,
)
from hygie.normalize.records import record_to_event
from hygie.normalize.syslog import parse_syslog, syslog_fields

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthcare"
POLICY = PatientPolicy(b"u" * 32)
RECEIVED = 1_795_140_000.0  # 2026-11-19
_SPACE = re.compile(r"\s")


# -- key=value ----------------------------------------------------------------------------------

def test_fortigate_pairs_quoted_values_and_escapes() -> None:
    text = ('date=2026-11-20 time=02:14:07 devname="FGT CHSA 01" devid="FG200FT922900000" '
            'srcip=10.12.4.100 msg="said \\"no\\" to C:\\\\temp" action="deny" empty="" bare=')
    assert parse_kv(text) == {
        "date": "2026-11-20", "time": "02:14:07", "devname": "FGT CHSA 01",
        "devid": "FG200FT922900000", "srcip": "10.12.4.100",
        "msg": 'said "no" to C:\\temp', "action": "deny"}


def test_pairs_inside_free_text_sudo_pam_auditd() -> None:
    sudo = "  alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/bin/bash -p"
    assert parse_kv(sudo) == {"TTY": "pts/0", "PWD": "/home/alice", "USER": "#-1",
                              "COMMAND": "/bin/bash"}
    pam = ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= "
           "rhost=203.0.113.9  user=root")
    assert parse_kv(pam) == {"uid": "0", "euid": "0", "tty": "ssh", "rhost": "203.0.113.9",
                             "user": "root"}
    audit = 'type=EXECVE msg=audit(1795140000.123:4242): argc=3 a0="curl" a1="-o" a2="/tmp/x"'
    assert parse_kv(audit)["a0"] == "curl" and parse_kv(audit)["type"] == "EXECVE"


def test_what_is_not_a_pair() -> None:
    assert parse_kv("GET /index.php?a=b&c=d HTTP/1.1 x = y") == {}
    assert parse_kv("a" * 65 + "=long key") == {}
    assert parse_kv("1abc=digit first") == {}
    assert parse_kv("first=1 first=2") == {"first": "1"}
    assert parse_kv('k="never closed v=2') == {"k": '"never', "v": "2"}


def test_bounds() -> None:
    assert len(parse_kv(" ".join(f"k{i}=v" for i in range(MAX_PAIRS * 2)))) == MAX_PAIRS
    assert len(parse_kv("k=" + "x" * (MAX_VALUE * 2))["k"]) == MAX_VALUE


# -- CEF ---------------------------------------------------------------------------------------

PANOS = ("CEF:0|Palo Alto Networks|PAN-OS|10.2.4|end|TRAFFIC|1|rt=Nov 20 2026 02:14:07 GMT "
         "src=10.12.4.100 dst=10.10.2.21 suser= cs1Label=Rule cs1=clinique vers serveurs "
         "spt=50433 dpt=445 act=deny request=http://x/?a\\=b msg=line1\\nline2 path=C:\\\\tmp")


def test_cef_header_and_extension() -> None:
    assert parse_cef(PANOS) == {
        "cef.version": "0", "cef.vendor": "Palo Alto Networks", "cef.product": "PAN-OS",
        "cef.device_version": "10.2.4", "cef.signature_id": "end", "cef.name": "TRAFFIC",
        "cef.severity": "1", "rt": "Nov 20 2026 02:14:07 GMT", "src": "10.12.4.100",
        "dst": "10.10.2.21", "cs1Label": "Rule", "cs1": "clinique vers serveurs",
        "spt": "50433", "dpt": "445", "act": "deny", "request": "http://x/?a=b",
        "msg": "line1\nline2", "path": "C:\\tmp"}


def test_cef_escaped_pipes_in_header_and_a_prefix() -> None:
    found = parse_cef("host1 CEF:1|Check Point|VPN-1 & FireWall-1|R81|Log|a\\|b\\\\|5|act=Drop")
    assert found is not None
    assert (found["cef.product"], found["cef.name"], found["act"]) == (
        "VPN-1 & FireWall-1", "a|b\\", "Drop")


@pytest.mark.parametrize("text", ["CEF:0|a|b|c", "CEF:x|a|b|c|d|e|f|", "xCEF:0|a|b|c|d|e|f|",
                                  "CEF:", "", "CEF:0|" + "\\|" * 1000])
def test_incomplete_cef_is_none(text: str) -> None:
    assert parse_cef(text) is None


def test_message_pairs_prefers_cef_then_falls_back_to_kv() -> None:
    assert message_pairs(PANOS)["cef.vendor"] == "Palo Alto Networks"
    assert message_pairs("CEF:0|broken a=1") == {"a": "1"}
    assert message_pairs("no pairs at all") == {}


# -- properties --------------------------------------------------------------------------------

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
VALUES = st.text(min_size=1, max_size=40).filter(lambda v: "\x00" not in v)


def format_kv(pairs: dict[str, str]) -> str:
    """What a well-behaved sender writes: quote a value with spaces, quotes or backslashes."""
    out = []
    for key, value in pairs.items():
        if _SPACE.search(value) or value.startswith('"') or "\\" in value:
            value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{key}={value}")
    return " ".join(out)


def format_cef(header: list[str], pairs: dict[str, str]) -> str:
    escaped = [h.replace("\\", "\\\\").replace("|", "\\|") for h in header]
    ext = " ".join(f"{k}=" + v.replace("\\", "\\\\").replace("=", "\\=").replace("\n", "\\n")
                   .replace("\r", "\\r") for k, v in pairs.items())
    return "CEF:" + "|".join(escaped) + "|" + ext


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=12))
def test_kv_round_trip(pairs: dict[str, str]) -> None:
    assert parse_kv(format_kv(pairs)) == pairs


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=20), min_size=6, max_size=6),
       st.dictionaries(KEYS, VALUES.filter(lambda v: v == v.strip() and not _SPACE.search(v[-1])),
                       max_size=10))
def test_cef_round_trip(header: list[str], pairs: dict[str, str]) -> None:
    parsed = parse_cef(format_cef(["0", *header], pairs))
    assert parsed is not None
    expected = dict(zip(CEF_HEADER, ["0", *header]))
    expected.update((k, v) for k, v in pairs.items() if k not in expected)
    assert parsed == expected


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300)
       | st.from_regex(r'(CEF:\d\|)?([\w.=" \\|-]{0,12} ?){0,20}', fullmatch=True))
def test_arbitrary_text_never_raises(text: str) -> None:
    for parse in (parse_kv, message_pairs):
        found = parse(text)
        assert isinstance(found, dict) and len(found) <= MAX_PAIRS + len(CEF_HEADER)
        assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in found.items())
    assert parse_cef(text) is None or isinstance(parse_cef(text), dict)


def _kv_reference(text: str) -> dict[str, str]:
    """The module docstring's rules, one step at a time: find a key, then its quoted value
    (when a closing quote follows) or the word as it stands; the first of a key wins."""
    key_re = re.compile(r"(?<!\S)([A-Za-z_][A-Za-z0-9_.\-]{0,63})=")
    quoted_re = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
    pairs: dict[str, str] = {}
    position = 0
    for _ in range(MAX_PAIRS):
        key = key_re.search(text, position)
        if key is None:
            break
        quoted = quoted_re.match(text, key.end())
        if quoted is not None:
            value = re.sub(r'\\(["\\])', r"\1", quoted.group(1))
        else:
            value = re.match(r"\S*", text[key.end():]).group()  # type: ignore[union-attr]
        position = quoted.end() if quoted is not None else key.end() + len(value)
        if value and key.group(1) not in pairs:
            pairs[key.group(1)] = value[:MAX_VALUE]
    return pairs


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(['a', 'B', '_', '.', '-', '1', '=', '"', '\\', ' ', '\t', '\n',
                                 'é', 'k=v ', 'q="a b" ', 'z="\\"', '==']), max_size=30).map("".join))
def test_kv_one_pass_equals_the_step_by_step_rules(text: str) -> None:
    assert parse_kv(text) == _kv_reference(text)


def test_long_texts_are_read_up_to_the_pair_limit_with_the_same_rules() -> None:
    many = " ".join(f'k{n}="v {n}" x{n}=\\"y' for n in range(400))  # > 4 KiB, > MAX_PAIRS pairs
    assert len(many) > 4096
    assert parse_kv(many) == _kv_reference(many) and len(parse_kv(many)) == MAX_PAIRS
    hostile = "a=b " * 300_000  # one key 300,000 times: read up to the limit, not further
    assert parse_kv(hostile) == {"a": "b"} == _kv_reference(hostile)


# -- in syslog_fields --------------------------------------------------------------------------

def test_pairs_never_replace_syslog_fields() -> None:
    msg = parse_syslog(b"<38>Nov 20 02:14:07 lnx01 sudo[42]: HOST=evil Message=x facility=9 "
                       b"USER=root", RECEIVED)
    fields = syslog_fields(msg)
    assert (fields["host"], fields["facility"], fields["USER"]) == ("lnx01", 4, "root")
    assert "HOST" not in fields and "Message" not in fields


def test_cef_over_syslog_keeps_header_and_pairs() -> None:
    msg = parse_syslog(b"<14>Nov 20 02:14:07 PA-3220-CHSA " + PANOS.encode(), RECEIVED)
    fields = syslog_fields(msg)
    assert fields["host"] == "PA-3220-CHSA" and fields["message"] == PANOS
    assert (fields["cef.product"], fields["dpt"], fields["act"]) == ("PAN-OS", "445", "deny")


def test_json_bodies_are_not_read_as_pairs() -> None:
    fields = syslog_fields(parse_syslog(b'<14>Nov 20 02:14:07 host app: {"a": "b=c d=e"}',
                                         RECEIVED))
    assert fields["a"] == "b=c d=e" and "d" not in fields


# -- DICOM audit messages inside syslog ----------------------------------------------------------

def _syslog(payload: bytes) -> RawRecord:
    return RawRecord("chsa", "test", SYSLOG, payload, RECEIVED, "10.12.0.8:6514")


@pytest.mark.parametrize("before", [b"\xef\xbb\xbf", b"", b"  \n", b"\xef\xbb\xbf "])
def test_atna_over_syslog_is_the_audit_event(before: bytes) -> None:
    xml = (FIXTURES / "atna_export.xml").read_bytes()
    header = b"<85>1 2025-03-14T22:41:09.001+01:00 pacs-arc01.chsa.local dcm4chee-arc 3390 " \
             b"IHE+RFC-3881 [origin@48577 ip=\"10.12.0.8\"] "
    event = record_to_event(_syslog(header + before + xml), POLICY)
    alone = record_to_event(RawRecord("chsa", "test", ATNA, xml, RECEIVED), POLICY)
    header_fields = {"facility": 10, "severity": 5, "host": "pacs-arc01.chsa.local",
                     "hostname": "pacs-arc01.chsa.local", "app_name": "dcm4chee-arc",
                     "program": "dcm4chee-arc", "procid": "3390", "msgid": "IHE+RFC-3881",
                     "origin@48577.ip": "10.12.0.8"}
    assert event.fields == {**header_fields, **alone.fields}
    assert event.fields["LogSource"] == "dicom_atna" and "message" not in event.fields
    assert (event.time, event.host) == (alone.time, "RAD-WS-07")  # the audit's, not the header's


def test_atna_over_rfc3164_without_xml_declaration() -> None:
    xml = (FIXTURES / "atna_user_authentication_failure.xml").read_text("utf-8")
    body = xml.split("?>", 1)[1].strip().replace("<AuditMessage>", '<dicom:AuditMessage '
                                                 'xmlns:dicom="urn:x">', 1)
    body = body.replace("</AuditMessage>", "</dicom:AuditMessage>")
    event = record_to_event(_syslog(b"<85>Mar 15 08:12:45 pacs01 java: " + body.encode()), POLICY)
    assert (event.fields["EventID"], event.fields["app_name"]) == ("110114", "java")


def test_broken_or_hostile_audit_over_syslog_is_quarantined() -> None:
    with pytest.raises(RecordError, match="not well-formed"):
        record_to_event(_syslog(b"<85>1 - pacs - - - - <AuditMessage><Event"), POLICY)
    bomb = (b'<?xml version="1.0"?><!DOCTYPE AuditMessage [<!ENTITY a "aaaa">]>'
            b"<AuditMessage>&a;</AuditMessage>")
    with pytest.raises(RecordError):
        record_to_event(_syslog(b"<85>1 - pacs - - - - " + bomb), POLICY)


@pytest.mark.parametrize("text", ["<?xml version='1.0'?><Order/>", "AuditMessage sent",
                                  "<AuditMessages/>", "<!DOCTYPE html><html/>"])
def test_other_xml_in_syslog_stays_a_message(text: str) -> None:
    event = record_to_event(_syslog(b"<14>1 - host app - - - " + text.encode()), POLICY)
    assert event.fields["message"] == text and "LogSource" not in event.fields
