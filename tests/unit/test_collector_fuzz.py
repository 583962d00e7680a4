"""Hostile input against the collectors' framing and every parser of the normalise stage.

The issue's rule: malformed input never stops a collector, and a bad record is quarantined
with its reason. So the stream framer must keep its memory bound and find the valid messages
after any garbage, whatever the chunking; and ``record_to_event`` must answer an event or
``RecordError``, nothing else, for any bytes of any kind, with an event the stages after it can
rely on (a UTC time string, a short host string): a parser that raises anything else, or lets
a non-string time or host through, would make the detection stage or a store fail on every
retry of the batch. Random bytes, mutated real samples (byte-level, and structure-aware for
JSON, XML and HL7), oversized and deeply nested input, XML entity attacks.

``HYGIE_FUZZ_EXAMPLES=5000`` raises every example count for a longer hunt.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.core.errors import RecordError
from hygie.core.event import Event, parse_time
from hygie.core.record import ATNA, FHIR, HL7, JSON, KINDS, SYSLOG, RawRecord
from hygie.normalize.healthcare import PatientPolicy
from hygie.normalize.records import MAX_RECORD_BYTES, record_to_event
from hygie.sources.syslog.framing import FramingError, StreamFramer

EXAMPLES = int(os.environ.get("HYGIE_FUZZ_EXAMPLES", "0"))
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "healthcare"
DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"
POLICY = PatientPolicy(b"fuzz-salt-0123456789abcdef")
RECEIVED = 1_790_000_000.0


def fuzz(examples: int) -> settings:
    return settings(max_examples=EXAMPLES or examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def check(kind: str, payload: bytes) -> Event | None:
    """The event of the payload or None for a RecordError; anything else fails the test."""
    record = RawRecord("chu-a", "fuzz", kind, payload, RECEIVED, "10.0.0.9:5514")
    try:
        event = record_to_event(record, POLICY)
    except RecordError as exc:
        assert str(exc)
        return None
    assert isinstance(event.fields, dict) and all(isinstance(k, str) for k in event.fields)
    assert isinstance(event.time, str) and parse_time(event.time) is not None
    assert event.host is None or (isinstance(event.host, str) and 0 < len(event.host) <= 255)
    return event


# --- (a) stream framing -----------------------------------------------------------------------

MAX = 64
_noise = st.binary(max_size=MAX + 16).map(lambda b: b.replace(b"\n", b"_").replace(b"\x00", b"_"))


@st.composite
def frames(draw: st.DrawFn) -> tuple[bytes, list[tuple[str, bytes]]]:
    """One frame of a stream and what the framer must make of it."""
    kind = draw(st.sampled_from(["lf", "octet", "noise", "long", "big-count", "bad-count"]))
    if kind == "lf":  # a syslog line, ended by LF, CRLF or NUL
        body = b"<13>" + draw(_noise)[:MAX - 5].replace(b"\r", b"_")
        end = draw(st.sampled_from([b"\n", b"\r\n", b"\x00"]))
        return body + end, [("msg", body)]
    if kind == "octet":  # any bytes at all inside, LF included
        body = draw(st.binary(min_size=1, max_size=MAX))
        return str(len(body)).encode() + b" " + body, [("msg", body)]
    if kind == "noise":  # a line of garbage: a message (the parser judges it) or too long
        body = draw(_noise)
        if body[:1].isdigit() and body[:1] != b"0":
            body = b"_" + body  # else it would open an octet count
        out = body.removesuffix(b"\r")
        expected = [("err", b"")] if len(body) > MAX else [("msg", out)] if out else []
        return body + b"\n", expected
    if kind == "long":
        return b"<" + b"x" * draw(st.integers(MAX, 4 * MAX)) + b"\n", [("err", b"")]
    if kind == "big-count":  # skipped exactly: what follows it is read normally
        size = draw(st.integers(MAX + 1, 3 * MAX))
        return str(size).encode() + b" " + draw(st.binary(min_size=size, max_size=size)), \
            [("err", b"")]
    digits = draw(st.text("0123456789", min_size=10, max_size=14))  # not a believable count
    return ("9" + digits).encode() + b" " + draw(_noise).replace(b"\r", b"_") + b"\n", \
        [("err", b"")]


def _frame_all(chunks: list[bytes]) -> list[tuple[str, bytes]]:
    framer = StreamFramer(max_size=MAX)
    out: list[bytes | FramingError] = []
    for chunk in chunks:
        out += framer.feed(chunk)
        assert framer.buffered <= MAX
    out += framer.close()
    return [("err", b"") if isinstance(item, FramingError) else ("msg", item) for item in out]


@fuzz(300)
@given(st.lists(frames(), min_size=1, max_size=12), st.data())
def test_framer_finds_every_valid_message_among_garbage_whatever_the_chunking(
        pieces: list[tuple[bytes, list[tuple[str, bytes]]]], data: st.DataObject) -> None:
    stream = b"".join(frame for frame, _ in pieces)
    expected = [item for _, items in pieces for item in items]
    assert _frame_all([stream]) == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=25)))
    assert _frame_all([stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]) == expected
    step = data.draw(st.integers(1, 7))
    assert _frame_all([stream[i:i + step] for i in range(0, len(stream), step)]) == expected


# --- (b) parsers: samples and how to spoil them ---------------------------------------------

def _demo_samples() -> list[bytes]:
    """One demo line per (channel, event id): every shape of the demo, none twice."""
    seen, out = set(), []
    for line in DEMO.read_bytes().splitlines():
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        key = (doc.get("Channel"), doc.get("EventID"))
        if key not in seen:
            seen.add(key)
            out.append(line)
    return out[:12]


EVTX_DUMP = {"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                       "System": {"Provider_attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770385f}"},
                                  "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
                                  "Computer": "CHSA-WS-URG-014", "EventRecordID": 4242,
                                  "TimeCreated_attributes": {"SystemTime": "2026-11-20T07:00:00.1234567Z"},
                                  "Security_attributes": {"UserID": "S-1-5-18"}},
                       "EventData": {"Image": "C:\\Windows\\System32\\vssadmin.exe",
                                     "CommandLine": "vssadmin delete shadows /all /quiet"}}}
ECS = {"@timestamp": "2026-11-20T07:00:00.000Z", "host": {"name": "ws3.chu.local"},
       "winlog": {"event_id": "4625", "channel": "Security", "computer_name": "DC01",
                  "event_data": {"TargetUserName": "admin", "IpAddress": "10.0.0.66"},
                  "user_data": {"x": {"y": "z"}}}}
SYSLOG_SAMPLES = [
    b"<165>1 2026-11-20T07:00:00.003Z pacs01.chu.local dcm4chee 2107 ID47 "
    b'[exampleSDID@32473 iut="3" eventSource="Application"] login failed for admin',
    b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    b"<13>1 - - - - - - \xef\xbb\xbf" + json.dumps(ECS).encode(),
    b"<166>2026-11-20T07:00:00Z asa01 : %ASA-6-302013: Built outbound TCP connection",
    b"<189>38: *Nov 20 2026 07:00:00.123: %SYS-5-CONFIG_I: Configured from console",
    b"<14>Nov 20 07:00:00 fw01 CEF:0|Fortinet|FortiGate|7.0|13|traffic|3|src=10.0.0.5 dst=8.8.8.8",
    b'<189>date=2026-11-20 time=07:00:00 devname="FGT60F" srcip=10.0.0.5 action="deny"',
    b"<86>Nov 20 07:00:00 host sudo: alice : TTY=pts/0 ; PWD=/home ; USER=root ; COMMAND=/bin/sh",
]


def _load(name: str) -> bytes:
    data = (FIXTURES / name).read_bytes()
    return data.replace(b"\n", b"\r") if name.endswith(".hl7") else data


SAMPLES: list[tuple[str, bytes]] = (
    [(JSON, line) for line in _demo_samples()]
    + [(JSON, json.dumps(EVTX_DUMP).encode()), (JSON, json.dumps(ECS).encode())]
    + [(SYSLOG, sample) for sample in SYSLOG_SAMPLES]
    + [(SYSLOG, b"<38>1 2026-11-20T07:00:00+01:00 pacs01 dcm4chee - - - "  # ATNA in syslog
        + _load("atna_export.xml"))]
    + [(ATNA, _load(p.name)) for p in sorted(FIXTURES.glob("*.xml"))]
    + [(HL7, _load(p.name)) for p in sorted(FIXTURES.glob("*.hl7"))]
    + [(FHIR, _load(p.name)) for p in sorted(FIXTURES.glob("*.json"))]
)
TOKENS = [b'"', b"'", b"<", b">", b"&", b"&amp;", b"&#0;", b"]]>", b"<!--", b"|", b"^", b"~",
          b"\\", b"\\F\\", b"\r", b"\n", b"\x00", b"\x0b", b"\x1c", b"\xff", b"\xef\xbb\xbf",
          b"{", b"}", b"[", b"]", b":", b",", b"=", b" ", b"null", b"-1", b"1e999",
          b"99999999999999999999999", "\u2028é".encode(), b"MSH|^~\\&|", b"<AuditMessage>",
          b"0001-01-01T00:00:00+01:00", b"9999-12-31T23:59:59-14:00", b"00010101000000+1400",
          b"Patient/", b'"resourceType":"AuditEvent"', b'"Event":', b"<1>", b"<999>", b"1 "]


@st.composite
def spoiled(draw: st.DrawFn) -> tuple[str, bytes]:
    """A sample with up to 6 byte-level edits, now and then given to another kind's parser."""
    kind, sample = draw(st.sampled_from(SAMPLES))
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(TOKENS) | st.binary(max_size=8))
        elif op == "delete":
            del data[at:at + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[at:]
        else:
            data[at:at] = data[at:at + draw(st.integers(1, 200))]
    if draw(st.integers(0, 9)) == 0:
        kind = draw(st.sampled_from(sorted(KINDS)))
    return kind, bytes(data)


@fuzz(400)
@given(st.sampled_from(sorted(KINDS) + ["cef"]), st.binary(max_size=3000))
def test_any_bytes_of_any_kind_give_an_event_or_a_record_error(kind: str, payload: bytes) -> None:
    check(kind, payload)


@fuzz(600)
@given(spoiled())
def test_spoiled_samples_give_an_event_or_a_record_error(case: tuple[str, bytes]) -> None:
    check(*case)


def test_every_sample_is_valid_to_begin_with() -> None:
    for kind, sample in SAMPLES:
        assert check(kind, sample) is not None, (kind, sample[:60])


# -- structure-aware: JSON values of every type where the parsers expect one ------------------

WINDOWS_KEYS = ["Event", "System", "EventData", "UserData", "Provider", "Provider_attributes",
                "#attributes", "#text", "TimeCreated", "TimeCreated_attributes", "SystemTime",
                "Security", "Security_attributes", "UserID", "EventID", "Computer", "Channel",
                "winlog", "event_data", "user_data", "event_id", "host", "name", "hostname",
                "@timestamp", "EventTime", "TimeCreated", "Hostname", "Name", "Guid"]
FHIR_KEYS = ["resourceType", "agent", "who", "reference", "identifier", "value", "requestor",
             "network", "address", "entity", "what", "role", "coding", "code", "recorded",
             "source", "observer", "type", "subtype", "outcome", "patient", "category"]
LEAVES = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
          | st.text(max_size=12)
          | st.sampled_from(["", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
                             "2026-11-20T07:00:00Z", "2026-13-45", "Patient/IPP-1", "Patient?",
                             "1", "R", "E", "x" * 300, "\u0000", "\ud7ff"]))


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    return st.recursive(LEAVES, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(keys) | st.text(max_size=6), inner,
                                          max_size=4), max_leaves=16)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


def _replace(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = _replace(doc[head], rest, value)
    return copy


@st.composite
def reshaped(draw: st.DrawFn, kind: str, keys: list[str]) -> bytes:
    """A JSON sample of ``kind`` with up to 3 nodes replaced by any JSON value."""
    doc = json.loads(draw(st.sampled_from([s for k, s in SAMPLES if k == kind])))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = paths[draw(st.integers(0, len(paths) - 1))]
        doc = _replace(doc, path, draw(json_values(keys)))
    return json.dumps(doc).encode()


@fuzz(200)
@given(reshaped(JSON, WINDOWS_KEYS))
def test_windows_shaped_json_with_any_values(payload: bytes) -> None:
    check(JSON, payload)


@fuzz(150)
@given(reshaped(FHIR, FHIR_KEYS))
def test_fhir_audit_events_with_any_values(payload: bytes) -> None:
    check(FHIR, payload)


ATNA_ATTRIBUTES = ["csd-code", "code", "originalText", "EventActionCode", "EventDateTime",
                   "EventOutcomeIndicator", "UserID", "UserIsRequestor", "NetworkAccessPointID",
                   "AlternativeUserID", "ParticipantObjectID", "ParticipantObjectTypeCode",
                   "ParticipantObjectTypeCodeRole", "UID", "NumberOfInstances", "AuditSourceID"]


@st.composite
def reshaped_atna(draw: st.DrawFn) -> bytes:
    """An ATNA sample with elements and attributes changed, removed, duplicated or moved."""
    root = ET.fromstring(draw(st.sampled_from([s for k, s in SAMPLES if k == ATNA])))
    for _ in range(draw(st.integers(1, 5))):
        elements = list(root.iter())
        element = elements[draw(st.integers(0, len(elements) - 1))]
        op = draw(st.sampled_from(["attribute", "remove", "duplicate", "rename", "text"]))
        if op == "attribute":
            value = draw(st.text(max_size=40) | st.sampled_from(
                ["", "99999999999999", "-1", "true", "0001-01-01T00:00:00+01:00", "110106"]))
            element.set(draw(st.sampled_from(ATNA_ATTRIBUTES)),
                        "".join(c for c in value if c.isprintable()))
        elif op in ("remove", "duplicate") and len(element):
            child = element[draw(st.integers(0, len(element) - 1))]
            if op == "remove":
                element.remove(child)
            else:
                element.append(ET.fromstring(ET.tostring(child)))
        elif op == "rename":
            element.tag = draw(st.sampled_from(["AuditMessage", "EventIdentification",
                                                "EventID", "ActiveParticipant", "SOPClass",
                                                "ParticipantObjectIdentification", "{urn:x}y"]))
        else:
            element.text = draw(st.text(max_size=20).filter(str.isprintable))
    return ET.tostring(root)


@fuzz(300)
@given(reshaped_atna())
def test_atna_messages_with_changed_elements(payload: bytes) -> None:
    check(ATNA, payload)


@st.composite
def reshaped_hl7(draw: st.DrawFn) -> bytes:
    """An HL7 sample with fields replaced by separator-heavy text, segments added or moved."""
    text = draw(st.sampled_from([s for k, s in SAMPLES if k == HL7])).decode()
    segments = [s.split("|") for s in text.strip("\r").split("\r")]
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["field", "field", "segment", "move"]))
        at = draw(st.integers(0, len(segments) - 1))
        if op == "field":
            fields = segments[at]
            index = draw(st.integers(1 if at else 3, len(fields)))  # MSH-1/2 stay mostly sane
            value = draw(st.text("^~\\&#ABZ019 .:+-/TSRFEX\u00e9", max_size=30))
            fields[index:index + 1] = [value]
        elif op == "segment":
            name = draw(st.sampled_from(["PID", "PV1", "EVN", "MSA", "ERR", "MRG", "OBX", "ZZ1"]))
            segments.insert(at + 1, [name, *draw(st.lists(st.text("^~&AB12", max_size=8),
                                                           max_size=6))])
        elif at:
            segments.insert(draw(st.integers(1, len(segments))), segments.pop(at))
    return "\r".join("|".join(s) for s in segments).encode()


@fuzz(200)
@given(reshaped_hl7())
def test_hl7_messages_with_changed_fields_and_segments(payload: bytes) -> None:
    check(HL7, payload)


# --- oversized, deeply nested, entity attacks: refused in bounded time and memory ----------

ROOT = b'<AuditMessage><EventIdentification EventActionCode="R"><EventID csd-code="110106"/>'
HL7_HEAD = b"MSH|^~\\&|LAB|CHU|HIS|CHU|20261120070000||ORU^R01|1|P|2.5\rPID|1||IPP-1\r"
HOSTILE: list[tuple[str, str, bytes, str | None]] = [
    *[(f"{kind}-5MB", kind, b"<13>" + b"A" * 5_000_000, "exceeds the limit")
      for kind in sorted(KINDS)],
    ("json-deep-arrays", JSON, b"[" * 200_000 + b"]" * 200_000, "limit"),
    ("json-deep-objects", JSON, b'{"Event":' * 1000 + b"{}" + b"}" * 1000, None),
    ("syslog-json-body-deep", SYSLOG, b"<13>1 - h a - - - " + b'{"a":' * 600 + b"1" + b"}" * 600,
     None),
    ("syslog-sd-backslashes", SYSLOG, b'<13>1 - h a - - [a x="' + b"\\" * 1_000_000, None),
    ("atna-billion-laughs", ATNA, b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
     + b"".join(b'<!ENTITY %c "%s">' % (98 + i, b"&%c;" % (97 + i) * 10) for i in range(9))
     + b"]>" + ROOT + b"<x>&j;</x></EventIdentification></AuditMessage>", "DTD"),
    ("atna-external-entity", ATNA, b'<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     + ROOT + b"<x>&x;</x></EventIdentification></AuditMessage>", "DTD"),
    ("atna-external-dtd", ATNA, b'<!DOCTYPE AuditMessage SYSTEM "http://203.0.113.9/a.dtd">'
     + ROOT + b"</EventIdentification></AuditMessage>", "DTD"),
    ("atna-deep", ATNA, b"<AuditMessage>" + b"<a>" * 80_000 + b"</a>" * 80_000
     + b"</AuditMessage>", "nested"),
    ("atna-wide", ATNA, ROOT + b"</EventIdentification>"
     + b"".join(b'<ParticipantObjectIdentification ParticipantObjectID="%d"/>' % i
                for i in range(15_000)) + b"</AuditMessage>", None),
    ("hl7-many-segments", HL7, HL7_HEAD + b"OBX|1|NM|GLU^Glucose||5.5|mmol/l\r" * 25_000, None),
    ("hl7-many-repetitions", HL7, HL7_HEAD.replace(b"IPP-1", b"1~" * 400_000), "limit"),
    ("fhir-deep-extensions", FHIR, b'{"resourceType":"AuditEvent","extension":'
     + b'[{"url":"u","extension":' * 300 + b"[]" + b"}]" * 300 + b"}", "not a valid"),
]


@pytest.mark.parametrize(("kind", "payload", "reason"), [case[1:] for case in HOSTILE],
                         ids=[case[0] for case in HOSTILE])
def test_hostile_payloads_are_refused_in_bounded_time_and_memory(kind: str, payload: bytes,
                                                                 reason: str | None) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        if reason is None:
            check(kind, payload)  # acceptable either way, as long as it is quick
        else:
            with pytest.raises(RecordError, match=reason):
                record_to_event(RawRecord("t", "s", kind, payload, RECEIVED), POLICY)
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < 5.0, f"{elapsed:.1f} s"
    assert peak < 64 * len(payload) + 32 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_the_size_limit_is_the_same_for_every_kind() -> None:
    for kind in sorted(KINDS):
        with pytest.raises(RecordError, match="exceeds the limit"):
            record_to_event(RawRecord("t", "s", kind, b"x" * (MAX_RECORD_BYTES + 1), RECEIVED),
                            POLICY)


# --- what the fuzzing found: each raised something other than RecordError before its fix ----

_FHIR = json.loads(_load("fhir_auditevent_r4_read.json"))
_ATNA = _load("atna_export.xml")
FOUND = [
    ("evtx-system-not-an-object", JSON, b'{"Event": {"System": "x"}}'),
    ("evtx-attributes-not-an-object", JSON, b'{"Event": {"System": {"Provider_attributes": "x"}}}'),
    ("evtx-time-attributes-a-number", JSON, b'{"Event": {"System": {"TimeCreated_attributes": 5}}}'),
    ("evtx-attributes-node-a-number", JSON, b'{"Event": {"System": {"Provider": {"#attributes": 5}}}}'),
    ("evtx-time-and-host-not-strings", JSON, b'{"Event": {"System": {"TimeCreated_attributes": '
                                             b'{"SystemTime": 5}, "Computer": {"a": 1}}}}'),
    ("flat-time-not-a-time", JSON, b'{"EventTime": "2026-13-45", "Hostname": ["a", "b"]}'),
    ("hl7-time-past-year-9999-in-utc", HL7, b"MSH|^~\\&|A|B|C|D|99991231235959-0100||ADT^A01|1|P|2.5\r"),
    ("fhir-time-before-year-1-in-utc", FHIR, json.dumps({**_FHIR, "recorded": "0001-01-01T00:00:00+14:00"}).encode()),
    ("atna-time-before-year-1-in-utc", ATNA, _ATNA.replace(
        _ATNA[_ATNA.index(b'EventDateTime="'):_ATNA.index(b'"', _ATNA.index(b'EventDateTime="') + 15) + 1],
        b'EventDateTime="0001-01-01T00:00:00+01:00"')),
    ("syslog-time-before-year-1-in-utc", SYSLOG, b"<13>1 0001-01-01T00:00:00+01:00 h a - - - x"),
    ("syslog-json-body-too-deep-to-write", SYSLOG, b"<13>1 - h a - - - " + b'{"a":' * 300 + b"1" + b"}" * 300),
]


@pytest.mark.parametrize(("kind", "payload"), [case[1:] for case in FOUND], ids=[case[0] for case in FOUND])
def test_found_by_fuzzing(kind: str, payload: bytes) -> None:
    event = check(kind, payload)
    assert event is not None
    if "time" in str(payload) or b"Time" in payload:
        assert parse_time(event.time) is not None


def test_unusable_times_and_hosts_do_not_stop_detection(tmp_path: Path) -> None:
    """A correlation rule reads every matching event's time and the alert store its host: an
    event whose time was a number, or a time UTC cannot hold, made the whole batch fail, and
    fail again on every redelivery."""
    from hygie.detect.engine import Engine
    from hygie.pipeline.detection import DetectionStage
    from hygie.store.state.db import open_database, sqlite_dsn
    from hygie.store.state.store import StateStore

    stage = DetectionStage(Engine.from_paths([], include_packs=True), POLICY)
    records = []
    for i in range(12):  # RDP brute force: ten failed logons from one address
        system: dict[str, Any] = {"EventID": 4625, "Channel": "Security", "Computer": {"n": i},
                                  "TimeCreated_attributes": {"SystemTime": i}}
        doc = {"Event": {"System": system, "EventData": {"LogonType": 10,
                                                         "IpAddress": "203.0.113.9"}}}
        flat = {"EventID": 4625, "Channel": "Security", "LogonType": 10, "Hostname": "DC01",
                "IpAddress": "203.0.113.9", "EventTime": "0001-01-01T00:00:00+01:00", "n": i}
        records += [RawRecord("chu-a", "fuzz", JSON, json.dumps(d).encode(), RECEIVED + i)
                    for d in (doc, flat)]
    results = stage.process(records)
    assert stage.events == len(records) and not stage.quarantined
    assert any(alert.kind == "correlation" for r in results for alert in r.alerts)
    state = StateStore(open_database(sqlite_dsn(tmp_path / "state.db")))
    state.ensure_tenant("chu-a")
    state.store_results(results)
    assert state.alert_count(["chu-a"]) > 0


_STAGE: dict[str, Any] = {}
_BATCHES = itertools.count()


def _stage_and_store(tmp: Path) -> tuple[Any, Any]:
    """One detection stage (Hygie's packs, correlation included) and one SQLite state store
    for all examples: building them per example would dominate the run."""
    if not _STAGE:
        from hygie.detect.engine import Engine
        from hygie.pipeline.detection import DetectionStage
        from hygie.store.state.db import open_database, sqlite_dsn
        from hygie.store.state.store import StateStore

        _STAGE["stage"] = DetectionStage(Engine.from_paths([], include_packs=True), POLICY)
        _STAGE["state"] = StateStore(open_database(sqlite_dsn(tmp / "state.db")))
        _STAGE["state"].ensure_tenant("chu-a")
    return _STAGE["stage"], _STAGE["state"]


def _brute_force(value: Any) -> bytes:
    """A failed RDP logon whose group-by field (Computer) holds ``value``."""
    return json.dumps({"EventID": 4625, "Channel": "Security", "LogonType": 10,
                       "IpAddress": "203.0.113.9", "Hostname": value}).encode()


@fuzz(60)
@given(st.lists(reshaped(JSON, WINDOWS_KEYS) | json_values(WINDOWS_KEYS).map(_brute_force)
                | spoiled(), min_size=1, max_size=30))
def test_the_detection_stage_and_store_take_any_batch(tmp_path_factory: pytest.TempPathFactory,
                                                      batch: list[Any]) -> None:
    """Every record gets a result (an event, or quarantine with a reason) and the batch is
    stored: nothing a sender writes makes the stage or the store fail a batch."""
    stage, state = _stage_and_store(tmp_path_factory.getbasetemp())
    records = [RawRecord("chu-a", f"fuzz-{next(_BATCHES)}",
                         *(item if isinstance(item, tuple) else (JSON, item)), RECEIVED)
               for item in batch]  # a source of its own: never a redelivery of an earlier one
    results = stage.process(records)
    assert len(results) == len(records)
    assert all(r.quarantine_reason or r.event is not None for r in results)
    state.store_results(results)
    stage.mark_stored(results)
