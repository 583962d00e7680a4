"""Garbage mixed with valid records, sent for real: syslog over TCP and UDP on 127.0.0.1, and
JSON lines to the HTTP ingest app (httpx against the ASGI app). Afterwards every collector is
still serving (a valid record sent last arrives), and through the detection stage and the
state store (SQLite) every bad record is in the quarantine table with a reason, and nothing
else is: the quarantine count equals the number of bad records sent.

Streams come from a seeded random generator, so a failure replays exactly. Every message is
unique, as records are: two equal records from one read would share a key and count once.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import pytest

from hygie.core.record import JSON, SYSLOG, RawRecord
from hygie.detect.engine import Engine
from hygie.normalize.healthcare import PatientPolicy
from hygie.pipeline.detection import DetectionStage
from hygie.sources.http_ingest import ingest_app
from hygie.sources.syslog.listeners import SyslogListener
from hygie.store.state.db import open_database, sqlite_dsn
from hygie.store.state.store import RecordResult, StateStore

TENANT = "chu-a"
MAX_MESSAGE = 2048
TIMEOUT = 10.0


@dataclass
class Stream:
    """What was sent, and how many of them must end in quarantine."""

    frames: list[bytes] = field(default_factory=list)
    bad: int = 0
    good: int = 0


def syslog_stream(rng: random.Random, count: int, tcp: bool) -> Stream:
    """Valid RFC 5424/3164 messages, bad PRIs (the parser refuses them), printable and binary
    garbage (kept as format "unknown": a SOC keeps what it cannot read), oversize frames (the
    collector rejects them), over TCP in both framings."""
    stream = Stream()
    for i in range(count):
        roll = rng.random()
        if roll < 0.35:
            frame, good = (b"<134>1 2026-11-20T07:%02d:00Z pacs01 dcm4chee %d - - login ok %d"
                           % (i % 60, i, rng.getrandbits(32))), True
        elif roll < 0.5:
            frame, good = b"<38>Nov 20 07:00:%02d fw01 sshd[%d]: Failed password" % (i % 60, i), True
        elif roll < 0.65:
            frame, good = rng.choice([b"<%d>x %d" % (rng.randint(192, 99999), i),
                                      b"<-1>negative %d" % i, b"<ab>not a number %d" % i,
                                      b"<12 no close %d" % i]), False
        elif roll < 0.85:
            junk = bytes(rng.choice(range(1, 256)) for _ in range(rng.randint(1, 300)))
            frame, good = b"#%d " % i + junk.replace(b"\n", b" ").replace(b"\x00", b" "), True
        else:
            frame, good = b"<13>" + b"A" * rng.randint(MAX_MESSAGE, 3 * MAX_MESSAGE), False
        if tcp and rng.random() < 0.5:
            frame = str(len(frame)).encode() + b" " + frame
        elif tcp:
            frame += rng.choice([b"\n", b"\r\n"])
        stream.frames.append(frame)
        stream.good += good
        stream.bad += not good
    return stream


def http_body(rng: random.Random, count: int) -> tuple[bytes, int, int, int]:
    """(body, valid objects, lines the collector rejects, objects the parser quarantines)."""
    lines, good, rejected, oversize = [], 0, 0, 0
    for i in range(count):
        roll = rng.random()
        if roll < 0.5:
            lines.append(orjson.dumps({"EventID": 4624, "Computer": f"WS{i}", "n": i}))
            good += 1
        elif roll < 0.6:  # malformed shapes are read leniently, not refused
            lines.append(orjson.dumps({"Event": {"System": rng.choice([[], "x", {"a": i}]),
                                                 "n": i}}))
            good += 1
        elif roll < 0.9:
            lines.append(rng.choice([b'{"EventID": %d, "cut' % i, b"[%d]" % i, b"\xff\xfe%d" % i,
                                     b'"just a string %d"' % i, b"{%d}" % i]))
            rejected += 1
        else:  # over the normalise stage's limit for one record
            lines.append(orjson.dumps({"n": i, "pad": "x" * (1 << 20)}))
            oversize += 1
    return b"\n".join(lines) + b"\n", good, rejected, oversize


class Pipeline:
    """Records and collector rejections in, through the real stage and store."""

    def __init__(self, tmp_path: Path) -> None:
        self.records: list[RawRecord] = []
        self.rejects: list[RecordResult] = []
        self.state = StateStore(open_database(sqlite_dsn(tmp_path / "state.db")))
        self.state.ensure_tenant(TENANT)
        self.stage = DetectionStage(Engine.from_paths([], include_packs=True),
                                    PatientPolicy(b"live-fuzz-salt-0123456789"))

    async def sink(self, record: RawRecord) -> None:
        self.records.append(record)

    def accept(self, records: list[RawRecord]) -> None:
        self.records.extend(records)

    def on_reject(self, source: str, peer: str, reason: str, prefix: bytes) -> None:
        """What the service does with a frame the collector could not take: quarantine it."""
        record = RawRecord(TENANT, source, SYSLOG, prefix, time.time(), peer)
        self.rejects.append(RecordResult(TENANT, record.key(), source, SYSLOG, record.received,
                                         quarantine_reason=f"rejected by the collector: {reason}",
                                         payload=prefix))

    def run(self) -> list[RecordResult]:
        results = self.stage.process(self.records) + self.rejects
        self.state.store_results(results)
        return results

    def quarantined(self) -> list[tuple[str, str]]:
        rows = self.state.quarantine([TENANT], limit=100_000)
        return [(row.source, row.reason) for row in rows]


async def until(condition, timeout: float = TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("seed", [20261120, 7, 3054])
def test_garbage_never_stops_a_collector_and_every_bad_record_is_quarantined(
        tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    pipeline = Pipeline(tmp_path)
    tcp_stream, udp_stream = syslog_stream(rng, 120, tcp=True), syslog_stream(rng, 80, tcp=False)
    body, http_good, http_rejected, http_oversize = http_body(rng, 60)
    last = b"<134>1 2026-11-20T08:00:00Z pacs01 dcm4chee - - - still serving %d" % seed

    async def main() -> dict[str, int]:
        tcp = SyslogListener(TENANT, pipeline.sink, on_reject=pipeline.on_reject,
                             max_message=MAX_MESSAGE)
        udp = SyslogListener(TENANT, pipeline.sink, on_reject=pipeline.on_reject,
                             max_message=MAX_MESSAGE)
        tcp_port, udp_port = await tcp.start_tcp(), await udp.start_udp()
        try:
            # TCP: the stream cut at random points, then a connection dropped mid-frame
            _, writer = await asyncio.open_connection("127.0.0.1", tcp_port)
            data = b"".join(tcp_stream.frames)
            at = 0
            while at < len(data):
                step = rng.randint(1, 700)
                writer.write(data[at:at + step])
                await writer.drain()
                at += step
            _, cut = await asyncio.open_connection("127.0.0.1", tcp_port)
            cut.write(b"500 <13>1 - host app - - - only part of it")
            await cut.drain()
            cut.close()
            await cut.wait_closed()
            # UDP: one datagram per frame, paced so that loopback drops none
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                for frame in udp_stream.frames:
                    client.sendto(frame, ("127.0.0.1", udp_port))
                    await asyncio.sleep(0.001)
                expect_udp = len(udp_stream.frames)
                await until(lambda: udp.received + udp.rejected == expect_udp)
                client.sendto(last + b" udp", ("127.0.0.1", udp_port))
                await until(lambda: udp.received + udp.rejected == expect_udp + 1)
            writer.write(last + b" tcp\n")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            expect_tcp = len(tcp_stream.frames) + 2  # + the marker, + the cut-off frame
            await until(lambda: tcp.received + tcp.rejected == expect_tcp)
            # HTTP: the whole body in one request, then a valid record
            app = ingest_app(lambda token: TENANT if token == "t0k" else None, pipeline.accept)
            auth = {"Authorization": "Bearer t0k"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://hygie") as client:
                answer = (await client.post("/ingest", content=body, headers=auth)).json()
                final = await client.post("/ingest", content=b'{"EventID": 1, "last": true}',
                                          headers=auth)
                assert final.json()["accepted"] == 1
            return {"tcp_rejected": tcp.rejected, "udp_rejected": udp.rejected,
                    "http_accepted": answer["accepted"], "http_rejected": answer["rejected"],
                    "http_lines": len(answer["errors"])}
        finally:
            await tcp.stop()
            await udp.stop()

    counts = asyncio.run(asyncio.wait_for(main(), 6 * TIMEOUT))
    assert counts["http_rejected"] == http_rejected == counts["http_lines"]
    assert counts["http_accepted"] == http_good + http_oversize
    payloads = [record.payload for record in pipeline.records]
    assert last + b" tcp" in payloads and last + b" udp" in payloads
    assert payloads[-1] == b'{"EventID": 1, "last": true}'

    results = pipeline.run()
    rows = pipeline.quarantined()
    bad = tcp_stream.bad + udp_stream.bad + 1 + http_oversize  # + the cut-off TCP frame
    assert len(rows) == bad == sum(1 for r in results if r.quarantine_reason)
    assert all(reason for _, reason in rows)
    good = tcp_stream.good + udp_stream.good + 2 + http_good + 1  # + the three markers
    assert pipeline.stage.events == good
    reasons = " | ".join(reason for _, reason in rows)
    assert "PRI" in reasons and "exceeds the limit" in reasons and "connection closed" in reasons
