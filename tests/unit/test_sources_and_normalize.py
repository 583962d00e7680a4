"""Readers and normalisers: every input shape, and bad input reported without stopping."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hygie.core.event import parse_time
from hygie.normalize.reader import ReadStats, read_events
from hygie.normalize.windows import normalize_record

EVTX_DUMP = {"Event": {"#attributes": {"xmlns": "x"}, "System": {
    "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "G"}},
    "EventID": {"#attributes": {"Qualifiers": 0}, "#text": 1}, "Channel": "Microsoft-Windows-Sysmon/Operational",
    "Computer": "WS1", "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T07:00:00.1234567Z"}},
    "Security": {"#attributes": {"UserID": "S-1-5-18"}}},
    "EventData": {"Image": "C:\\a.exe", "CommandLine": "a -x", "Data": {"#text": "d"}}}}
SEPARATE = {"Event": {"System": {"Provider_attributes": {"Name": "P"}, "EventID": 4688, "Channel": "Security",
                                 "Computer": "DC1", "TimeCreated_attributes": {"SystemTime": "2026-11-20T07:00:00Z"}},
                      "EventData": {"NewProcessName": "C:\\b.exe"}}}
USERDATA = {"Event": {"System": {"EventID": 1102, "Channel": "Security", "Computer": "DC1"},
                      "UserData": {"LogFileCleared": {"SubjectUserName": "eve", "#attributes": {}}}}}
FLAT = {"EventTime": "2026-11-20 07:00:00", "Hostname": "WS2", "Channel": "Security",
        "EventID": "4625", "SourceName": "Microsoft-Windows-Security-Auditing", "IpAddress": "10.0.0.1"}
ECS = {"@timestamp": "2026-11-20T07:00:00.000Z", "host": {"name": "ws3.chu.local"},
       "winlog": {"event_id": "1", "channel": "Microsoft-Windows-Sysmon/Operational",
                  "provider_name": "Microsoft-Windows-Sysmon", "event_data": {"Image": "C:\\c.exe"}}}


def test_evtx_dump_shape() -> None:
    event = normalize_record(EVTX_DUMP)
    assert event.fields["EventID"] == 1 and event.fields["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert event.fields["Image"] == "C:\\a.exe" and event.fields["Data"] == "d"
    assert event.host == "WS1" and event.fields["UserID"] == "S-1-5-18"
    assert parse_time(event.time).microsecond == 123456


def test_separate_attributes_and_userdata() -> None:
    event = normalize_record(SEPARATE)
    assert event.fields["Provider_Name"] == "P" and event.time == "2026-11-20T07:00:00Z"
    assert normalize_record(USERDATA).fields["SubjectUserName"] == "eve"


def test_flat_and_ecs_shapes() -> None:
    flat = normalize_record(FLAT)
    assert flat.fields["EventID"] == 4625 and flat.fields["Computer"] == "WS2"
    assert flat.fields["Provider_Name"].startswith("Microsoft") and flat.host == "WS2"
    assert parse_time(flat.time).hour == 7
    ecs = normalize_record(ECS)
    assert ecs.fields["EventID"] == 1 and ecs.fields["Image"] == "C:\\c.exe"
    assert ecs.host == "ws3.chu.local" and ecs.fields["Channel"].startswith("Microsoft-Windows-Sysmon")


def _read(path: Path) -> tuple[list, ReadStats]:
    stats = ReadStats()
    return list(read_events([path], stats)), stats


def test_jsonl_with_bad_lines_reports_and_goes_on(tmp_path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text("\n".join([json.dumps(FLAT), "{broken", "", "[1, 2]", json.dumps(ECS)]) + "\n")
    events, stats = _read(path)
    assert len(events) == 2
    assert [(p.offset, p.reason.split(":")[0]) for p in stats.problems] == [
        (2, "invalid JSON on line 2"), (4, "unusable record")]


def test_concatenated_pretty_json_and_array_and_gzip(tmp_path) -> None:
    pretty = tmp_path / "dump.json"
    pretty.write_text(json.dumps(EVTX_DUMP, indent=2) + "\n" + json.dumps(SEPARATE, indent=2))
    assert len(_read(pretty)[0]) == 2
    array = tmp_path / "array.json"
    array.write_text(json.dumps([FLAT, ECS, FLAT]))
    assert len(_read(array)[0]) == 3
    packed = tmp_path / "events.log.gz"
    packed.write_bytes(gzip.compress((json.dumps(FLAT) + "\n").encode() * 5))
    assert len(_read(packed)[0]) == 5


def test_concatenated_with_a_bad_document_resynchronises(tmp_path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps(FLAT, indent=2) + "\n{ \"x\": oops }\n" + json.dumps(ECS, indent=2))
    events, stats = _read(path)
    assert len(events) == 2 and stats.problem_count == 1


def test_truncated_gzip_and_missing_path(tmp_path) -> None:
    packed = tmp_path / "cut.jsonl.gz"
    packed.write_bytes(gzip.compress((json.dumps(FLAT) + "\n").encode() * 200)[:-30])
    events, stats = _read(packed)
    assert stats.problem_count >= 1 and len(events) < 200
    events, stats = _read(tmp_path / "nope")
    assert not events and "no such file" in stats.problems[0].reason


def test_corrupt_evtx_chunk_is_reported_and_rest_is_read(tmp_path) -> None:
    from tests.conftest import ATTACK_SAMPLES, require_corpora

    require_corpora()
    source = ATTACK_SAMPLES / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx"
    data = bytearray(source.read_bytes())
    intact, _ = _read(source)
    for i in range(0x1000 + 65536 + 2000, 0x1000 + 65536 + 2600):  # inside the second chunk
        data[i] = 0x41
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))
    events, stats = _read(broken)
    assert 0 < len(events) < len(intact)
    assert stats.problem_count >= 1 and "chunk" in stats.problems[0].reason
    assert stats.problems[0].offset > 0


def test_not_an_evtx_file(tmp_path) -> None:
    path = tmp_path / "x.evtx"
    path.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    events, stats = _read(path)
    assert not events and stats.problem_count == 1


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(
    st.binary(max_size=80),
    st.recursive(st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.text(max_size=10),
                 lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                 max_leaves=10).map(lambda v: orjson.dumps(v)),
    st.sampled_from([orjson.dumps(FLAT), orjson.dumps(EVTX_DUMP), orjson.dumps(ECS),
                     orjson.dumps({"Event": None}), orjson.dumps({"Event": {"System": []}}),
                     orjson.dumps({"winlog": {"event_data": 5}})]),
), max_size=8))
def test_reader_never_crashes_and_accounts_for_every_line(tmp_path, lines: list[bytes]) -> None:
    path = tmp_path / "fuzz.jsonl"
    lines = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines]
    path.write_bytes(b"\n".join(lines) + b"\n")
    events, stats = _read(path)  # must not raise, whatever the bytes
    good = sum(1 for line in lines if line in (orjson.dumps(FLAT), orjson.dumps(ECS)))
    # A file whose first bytes are EVTX's magic is read as EVTX (content wins over names), and
    # one opening with a bare "{" or "[" as concatenated JSON: the line accounting is JSONL's.
    if lines and lines[0].strip() not in (b"{", b"[") and not lines[0].startswith(b"ElfFile\x00"):
        assert len(events) >= good  # valid lines are never lost because of bad neighbours


def test_gzipped_evtx_is_read(tmp_path) -> None:
    from tests.conftest import ATTACK_SAMPLES, require_corpora

    require_corpora()
    source = ATTACK_SAMPLES / "AutomatedTestingTools" / "PanacheSysmon_vs_AtomicRedTeam01.evtx"
    packed = tmp_path / "sysmon.evtx.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    plain, _ = _read(source)
    events, stats = _read(packed)
    assert len(events) == len(plain) > 0 and stats.problem_count == 0
    assert events[0].source == str(packed)


def test_a_character_cut_by_a_read_chunk_is_decoded_whole(tmp_path) -> None:
    """Concatenated JSON is decoded 1 MiB at a time: a UTF-8 character across two reads must
    not become two replacement characters."""
    from hygie.sources.json_file import read_json

    head = b'{\n  "pad": "'
    pad = b"a" * ((1 << 20) - len(head) - 1)  # "é" (2 bytes) starts on the chunk's last byte
    path = tmp_path / "big.json"
    path.write_bytes(head + pad + 'é"\n}\n{"b": "ü"}'.encode())
    docs = [doc for _, doc in read_json(str(path), lambda problem: None)]
    assert docs[0]["pad"].endswith("aé") and docs[1] == {"b": "ü"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from([b"{", b"[", b"", b"  "]),
                          st.sampled_from([orjson.dumps(FLAT), orjson.dumps(ECS), b"[1, 2]",
                                           json.dumps(FLAT, indent=2).encode()])),
                max_size=8), st.booleans())
def test_raw_reader_finds_what_the_hunt_reader_finds(tmp_path, lines: list[bytes],
                                                     packed: bool) -> None:
    """``read_json_raw`` (the folder collector's) sees the documents ``read_json`` (the hunt's)
    sees, at the same offsets, plus the JSON lines that do not parse, as they are."""
    from hygie.sources.json_file import read_json, read_json_raw

    body = b"\n".join(lines) + b"\n"
    path = tmp_path / "f.json"
    path.write_bytes(gzip.compress(body) if packed else body)
    problems: list = []
    parsed = list(read_json(str(path), problems.append))
    raw = list(read_json_raw(str(path), lambda problem: None))
    valid = []
    for offset, text in raw:
        try:
            valid.append((offset, orjson.loads(text)))
        except orjson.JSONDecodeError:
            continue
    assert valid == parsed
    assert len(raw) == len(parsed) + sum(1 for p in problems if "invalid JSON on line" in p.reason)
