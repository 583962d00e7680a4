"""Syslog parsing: the RFCs' own examples, the senders a hospital has, and never a crash."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.core.errors import RecordError
from hygie.normalize.syslog import SyslogMessage, parse_syslog, syslog_fields

BOM = "\ufeff".encode()
RECEIVED = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc).timestamp()


def parse(payload: bytes, received: float = RECEIVED) -> SyslogMessage:
    return parse_syslog(payload, received)


# -- RFC 5424 section 6.5 ------------------------------------------------------------------------

def test_rfc5424_example_1_no_structured_data() -> None:
    msg = parse(b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
                + BOM + b"'su root' failed for lonvick on /dev/pts/8")
    assert msg == SyslogMessage(4, 2, "2003-10-11T22:14:15.003000Z", "mymachine.example.com",
                                "su", None, "ID47", {},
                                "'su root' failed for lonvick on /dev/pts/8", "rfc5424")


def test_rfc5424_example_2_offset_to_utc() -> None:
    msg = parse(b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
                b"%% It's time to make the do-nuts.")
    assert (msg.facility, msg.severity) == (20, 5)
    assert msg.timestamp == "2003-08-24T12:14:15.000003Z"
    assert (msg.hostname, msg.app_name, msg.procid, msg.msgid) == ("192.0.2.1", "myproc",
                                                                   "8710", None)
    assert msg.message == "%% It's time to make the do-nuts."


def test_rfc5424_example_3_structured_data_and_message() -> None:
    msg = parse(b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] '
                + BOM + b"An application event log entry...")
    assert msg.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}}
    assert msg.message == "An application event log entry..."
    fields = syslog_fields(msg)
    assert fields["exampleSDID@32473.eventID"] == "1011"
    assert fields["app_name"] == fields["program"] == "evntslog"
    assert fields["host"] == fields["hostname"] == "mymachine.example.com"
    assert fields["msgid"] == "ID47" and "procid" not in fields


def test_rfc5424_example_4_two_elements_no_message() -> None:
    msg = parse(b'<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 '
                b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
                b'[examplePriority@32473 class="high"]')
    assert msg.structured_data["examplePriority@32473"] == {"class": "high"}
    assert msg.message == "" and msg.format == "rfc5424"


def test_rfc5424_sd_escapes() -> None:
    msg = parse(b'<13>1 - - - - - [x@1 a="q\\"uote" b="back\\\\slash" c="br\\]acket" '
                b'd="kept\\n"] text')
    assert msg.structured_data["x@1"] == {"a": 'q"uote', "b": "back\\slash", "c": "br]acket",
                                          "d": "kept\\n"}
    assert msg.timestamp is None and msg.hostname is None and msg.message == "text"


def test_rfc5424_malformed_sd_keeps_the_text() -> None:
    msg = parse(b'<13>1 - host app - - [x@1 a="unterminated] text')
    assert msg.format == "rfc5424" and msg.structured_data == {}
    assert msg.message == '[x@1 a="unterminated] text'


# -- RFC 3164 section 5.4 and its variants -------------------------------------------------------

def test_rfc3164_example_1() -> None:
    msg = parse(b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8")
    assert msg == SyslogMessage(4, 2, "2025-10-11T22:14:15Z", "mymachine", "su", None, None,
                                {}, "'su root' failed for lonvick on /dev/pts/8", "rfc3164")


def test_rfc3164_example_2_no_pri_no_header() -> None:
    msg = parse(b"Use the BFG!")
    assert msg == SyslogMessage(None, None, None, None, None, None, None, {}, "Use the BFG!",
                                "unknown")


def test_rfc3164_example_3_zone_read_as_hostname_as_a_relay_would() -> None:
    msg = parse(b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make "
                b"the do-nuts.  %%  Ingredients: Mix=OK, Jeans=OK, Tray=OK")
    assert (msg.facility, msg.severity, msg.hostname) == (20, 5, "CST")
    assert msg.message.startswith("1987 mymachine myproc[10]: %%")


def test_rfc3164_example_4_invalid_timestamp_is_unknown_not_lost() -> None:
    text = "1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All"
    msg = parse(b"<0>" + text.encode())
    assert (msg.facility, msg.severity, msg.format, msg.message) == (0, 0, "unknown", text)


def test_rfc3164_no_hostname_and_pid() -> None:
    msg = parse(b"<38>Jan  5 10:00:00 sshd[4242]: Accepted password for bob")
    assert (msg.hostname, msg.app_name, msg.procid) == (None, "sshd", "4242")
    assert msg.timestamp == "2026-01-05T10:00:00Z"


def test_rsyslog_traditional_forward_format() -> None:  # rsyslog omfwd's default template
    msg = parse(b"<86>Jan  5 09:59:58 pacs01 sudo[991]:   alice : TTY=pts/0 ; COMMAND=/bin/ls")
    assert (msg.facility, msg.severity, msg.hostname) == (10, 6, "pacs01")
    assert (msg.app_name, msg.procid) == ("sudo", "991")
    assert msg.message == "  alice : TTY=pts/0 ; COMMAND=/bin/ls"


def test_rsyslog_rfc3339_forward_format() -> None:  # RSYSLOG_ForwardFormat
    msg = parse(b"<13>2026-01-05T10:00:00.123456+01:00 web01 sshd[4242]: Accepted publickey\n")
    assert msg.timestamp == "2026-01-05T09:00:00.123456Z" and msg.format == "rfc3164"
    assert (msg.hostname, msg.app_name, msg.message) == ("web01", "sshd", "Accepted publickey")


def test_cisco_asa() -> None:
    msg = parse(b"<166>Jan 05 2026 10:00:00: %ASA-6-302013: Built outbound TCP connection 9 "
                b"for outside:8.8.8.8/53 (8.8.8.8/53) to inside:10.0.0.5/5353 (10.0.0.5/5353)")
    assert (msg.facility, msg.severity, msg.timestamp) == (20, 6, "2026-01-05T10:00:00Z")
    assert (msg.app_name, msg.msgid) == ("ASA", "302013")
    assert msg.message.startswith("Built outbound TCP connection 9")


def test_cisco_ios_with_sequence_number_and_milliseconds() -> None:
    msg = parse(b"<189>123: *Mar  1 18:46:11.123 UTC: %SYS-5-CONFIG_I: Configured from console")
    assert msg.timestamp == "2026-03-01T18:46:11.123000Z"
    assert (msg.app_name, msg.msgid, msg.message) == ("SYS", "CONFIG_I",
                                                      "Configured from console")


def test_fortigate_key_value_is_kept_whole_and_its_pairs_become_fields() -> None:
    text = ('date=2026-01-05 time=10:00:00 devname="FGT60F" logid="0000000013" type="traffic" '
            'subtype="forward" srcip=10.0.0.5 dstip=8.8.8.8 action="deny"')
    msg = parse(b"<189>" + text.encode())
    assert (msg.facility, msg.severity, msg.format, msg.message) == (23, 5, "unknown", text)
    assert syslog_fields(msg) == {
        "facility": 23, "severity": 5, "message": text, "date": "2026-01-05", "time": "10:00:00",
        "devname": "FGT60F", "logid": "0000000013", "type": "traffic", "subtype": "forward",
        "srcip": "10.0.0.5", "dstip": "8.8.8.8", "action": "deny"}


def test_windows_event_from_nxlog_as_json() -> None:
    body = (b'{"EventTime":"2026-01-05 10:00:00","Hostname":"WS01.hospital.local",'
            b'"EventID":4625,"Channel":"Security","Message":"An account failed to log on.",'
            b'"EventData":{"TargetUserName":"bob","IpAddress":"10.0.0.9"},"program":"x"}')
    msg = parse(b"<14>Jan  5 10:00:00 WS01 Microsoft-Windows-Security-Auditing[620]: " + body)
    fields = syslog_fields(msg)
    assert fields["EventID"] == 4625 and fields["Channel"] == "Security"
    assert fields["EventData.TargetUserName"] == "bob"
    # syslog's own fields win, names compared case-insensitively as rules compare them
    assert fields["hostname"] == "WS01" and "Hostname" not in fields
    assert fields["program"] == "Microsoft-Windows-Security-Auditing"
    assert fields["message"] == body.decode()


def test_cee_cookie_json() -> None:
    msg = parse(b'<13>1 - h app - - - @cee: {"action":"login","user":{"name":"bob"}}')
    fields = syslog_fields(msg)
    assert fields["action"] == "login" and fields["user.name"] == "bob"


def test_year_rollover() -> None:
    received = datetime(2027, 1, 1, 0, 0, 10, tzinfo=timezone.utc).timestamp()
    assert parse(b"<13>Dec 31 23:59:59 h a: x", received).timestamp == "2026-12-31T23:59:59Z"
    assert parse(b"<13>Jan  1 00:00:05 h a: x", received).timestamp == "2027-01-01T00:00:05Z"
    msg = parse_syslog(b"<13>Dec 31 23:59:59 h a: x", received, default_year=2020)
    assert msg.timestamp == "2020-12-31T23:59:59Z"


def test_invalid_utf8_is_replaced() -> None:
    msg = parse(b"<13>1 - h app - - - caf\xe9")
    assert msg.message == "caf\ufffd"


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "empty"), (b"\r\n", "empty"), (b"<999>Jan  5 10:00:00 h a: x", "PRI 999 out of range"),
    (b"<192>x", "PRI 192 out of range 0-191"), (b"<1234>x", "out of range"),
    (b"<abc>x", "not a number"), (b"<>x", "not a number"), (b"<13 x", "not closed"),
])
def test_bad_pri_or_empty_is_a_record_error(payload: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        parse(payload)


def test_text_that_is_plainly_not_a_pri_is_kept() -> None:
    msg = parse(b'<?xml version="1.0"?><AuditMessage/>')
    assert msg.format == "unknown" and msg.message.startswith("<?xml")


# -- properties ----------------------------------------------------------------------------------

pieces = st.sampled_from([b"<13>", b"<191>", b"<0>", b"1 ", b"- ", b"[", b"]", b'="', b"\\",
                          b"Jan  5 ", b"Dec 31 23:59:59 ", b"2026-01-05T10:00:00Z ", b"host ",
                          b"sshd[1]: ", b"%ASA-6-302013: ", b"12: *", b"@cee: ", b'{"a":{"b":1}}',
                          b"\xef\xbb\xbf", b"\xff", b" ", b":", b"\n"])
payloads = st.one_of(st.binary(max_size=200), st.lists(pieces, max_size=15).map(b"".join))


@settings(max_examples=300, deadline=None)
@given(payloads, st.floats(min_value=0, max_value=4e9))
def test_any_bytes_parse_or_raise_record_error(payload: bytes, received: float) -> None:
    try:
        msg = parse_syslog(payload, received)
    except RecordError:
        return
    assert msg.format in ("rfc5424", "rfc3164", "unknown")
    assert msg.facility is None or 0 <= msg.facility <= 23
    fields = syslog_fields(msg)
    assert isinstance(fields, dict) and all(isinstance(key, str) for key in fields)
