"""A received record on the wire (spool, NATS) and its key: round trips, the older all-JSON wire
form still read, and keys that never change (they are stored: dedup across restarts)."""

from __future__ import annotations

import base64

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from hygie.core.record import KINDS, RawRecord

RECORDS = st.builds(
    RawRecord, tenant=st.text(min_size=1, max_size=20), source=st.text(max_size=30),
    kind=st.sampled_from(sorted(KINDS)), payload=st.binary(max_size=300),
    received=st.floats(min_value=0, max_value=4e9, allow_nan=False),
    peer=st.none() | st.text(max_size=40), seq=st.integers(min_value=0, max_value=10**6))


def _older_wire_form(record: RawRecord) -> bytes:
    """What ``to_bytes`` wrote before the payload travelled as it is (kept in spools and
    streams written by an older version)."""
    try:
        payload, encoding = record.payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        payload, encoding = base64.b64encode(record.payload).decode("ascii"), "base64"
    return orjson.dumps({"t": record.tenant, "s": record.source, "k": record.kind, "p": payload,
                         "e": encoding, "r": record.received, "a": record.peer, "q": record.seq})


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_wire_forms_round_trip(record: RawRecord) -> None:
    assert RawRecord.from_bytes(record.to_bytes()) == record
    assert RawRecord.from_bytes(_older_wire_form(record)) == record


def test_payload_travels_unescaped_and_newlines_in_it_are_kept() -> None:
    record = RawRecord("chu-a", "syslog:udp", "syslog", b'<13>a "quoted"\nsecond line\xff', 1.5)
    wire = record.to_bytes()
    assert wire.endswith(record.payload)
    assert RawRecord.from_bytes(wire) == record


def test_keys_are_stable() -> None:
    """Keys are stored (alert keys, event store rows): the same record must keep its key
    across versions. These were computed by the first implementation."""
    record = RawRecord("chu-a", "http:chu-a", "json", b'{"EventID": 4625}', 1795140000.25,
                       "127.0.0.1:5514", 3)
    assert record.key() == "8f99c911ed0cd591abf1792f4dd0b23d"
    assert RawRecord("t", "s", "syslog", b"", 0.0).key() == "b33fc8c255e562f0bca2ff4606771519"
