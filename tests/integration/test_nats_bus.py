"""The JetStream adapter against a real nats-server: publish, fetch, ack, redelivery after a nak
and after ack_wait, dedup by Nats-Msg-Id, a full stream refused with a clear error, and
credentials kept out of what is logged."""

from __future__ import annotations

import asyncio
import logging

import pytest

from hygie.bus.nats import (DETECT_CONSUMER, EVENTS_CONSUMER, EVENTS_STREAM, RECORDS_STREAM, BusError,
                            BusFull, JetStreamBus, NatsOptions, StreamLimits, decode_events, redact)
from hygie.core.record import JSON, RawRecord
from tests.integration.nats_util import NatsServer


@pytest.fixture(scope="module")
def nats_server(tmp_path_factory):
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server


def _records(n: int, tenant: str = "chu-a", start: int = 0) -> list[RawRecord]:
    return [RawRecord(tenant, f"http:{tenant}", JSON, b'{"EventID": %d}' % i, 1_790_000_000.0 + i)
            for i in range(start, start + n)]


async def _fresh_bus(url: str, **limits: float) -> JetStreamBus:
    """A bus on emptied streams (each test starts from nothing; the server is shared)."""
    bus = await JetStreamBus.connect(NatsOptions(url, connect_timeout=10),
                                     StreamLimits(**limits))  # type: ignore[arg-type]
    for stream in (RECORDS_STREAM, EVENTS_STREAM):
        await bus.js.delete_stream(stream)
    await bus.ensure_streams()
    return bus


def test_publish_fetch_ack_and_dedup(nats_server) -> None:
    async def main() -> None:
        bus = await _fresh_bus(nats_server.url)
        records = _records(10)
        assert await bus.publish_records(records) == 10
        assert await bus.publish_records(records[:4] + _records(2, start=10)) == 2  # 4 duplicates
        consumer = await bus.consumer(RECORDS_STREAM, DETECT_CONSUMER)
        assert await consumer.backlog() == 12
        got = await consumer.fetch(100, 2.0)
        assert [RawRecord.from_bytes(d.data) for d in got] == records + _records(2, start=10)
        assert all(d.delivered == 1 for d in got)
        for delivery in got:
            await delivery.ack()
        await bus.nc.flush()
        assert await consumer.fetch(100, 0.3) == []
        for _ in range(20):  # acks are asynchronous on the server side: bounded wait
            if await consumer.backlog() == 0:
                break
            await asyncio.sleep(0.05)
        assert await consumer.backlog() == 0
        # work queue: the acknowledged records are gone, and still deduplicated in the window
        assert await bus.publish_records(records) == 0
        assert (await bus.js.stream_info(RECORDS_STREAM)).state.messages == 0
        await bus.close()
    asyncio.run(main())


def test_redelivery_after_nak_and_after_ack_wait(nats_server) -> None:
    async def main() -> None:
        bus = await _fresh_bus(nats_server.url, ack_wait_s=1.0)
        await bus.publish_records(_records(3))
        consumer = await bus.consumer(RECORDS_STREAM, DETECT_CONSUMER)
        first = await consumer.fetch(10, 2.0)
        assert len(first) == 3
        await first[0].nak(0.2)  # refused now: back after 0.2 s
        await first[1].ack()
        # first[2] is neither: it comes back once ack_wait (1 s) has passed
        await bus.nc.flush()
        again = await consumer.fetch(10, 0.8)
        assert [d.data for d in again] == [first[0].data] and again[0].delivered == 2
        await again[0].ack()
        late = await consumer.fetch(10, 3.0)
        assert [d.data for d in late] == [first[2].data] and late[0].delivered == 2
        await late[0].in_progress()  # a heartbeat keeps it from coming back...
        await asyncio.sleep(0.7)
        await late[0].in_progress()
        await asyncio.sleep(0.6)
        assert await consumer.fetch(10, 0.2) == []  # ...past its first ack_wait
        await late[0].ack()
        await bus.close()
    asyncio.run(main())


def test_full_stream_is_refused_with_a_clear_error(nats_server) -> None:
    async def main() -> None:
        bus = await _fresh_bus(nats_server.url, max_msgs=5)
        assert await bus.publish_records(_records(5)) == 5
        with pytest.raises(BusFull, match="full"):
            await bus.publish_records(_records(3, start=5))
        consumer = await bus.consumer(RECORDS_STREAM, DETECT_CONSUMER)
        acked = 0
        for _ in range(20):  # detection catches up: room again (a fetch may bring fewer)
            for delivery in await consumer.fetch(2 - acked, 2.0):
                await delivery.ack()
                acked += 1
            if acked == 2:
                break
        assert acked == 2
        await bus.nc.flush()
        for _ in range(40):  # the server removes acknowledged messages asynchronously: bounded wait
            if (await bus.js.stream_info(RECORDS_STREAM)).state.messages == 3:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the stream did not drop the two acknowledged records")
        assert await bus.publish_records(_records(2, start=5)) == 2
        await bus.close()
    asyncio.run(main())


def test_events_are_packed_under_max_payload(nats_server) -> None:
    async def main() -> None:
        bus = await _fresh_bus(nats_server.url)
        big = b'{"x": "' + b"a" * 300_000 + b'"}'  # 4 of them exceed one 1 MB message
        items = [("chu-a", f"key{i}", big) for i in range(4)] + [("chu-b", "keyb", b'{"b": 1}')]
        await bus.publish_events(items)
        await bus.publish_events(items)  # the same batch again: the same messages, deduplicated
        consumer = await bus.consumer(EVENTS_STREAM, EVENTS_CONSUMER)
        got = await consumer.fetch(100, 2.0)
        docs = [doc for d in got for doc in decode_events(d.data)]
        assert len(got) >= 3 and sorted(docs) == sorted(doc for _, _, doc in items)
        await bus.close()
    asyncio.run(main())


def test_connection_errors_do_not_show_secrets(caplog) -> None:
    assert redact("nats://hygie:s3cret@10.0.0.5:4222") == "nats://hygie:***@10.0.0.5:4222"
    assert redact("tls://tok3n@nats.example:4222") == "tls://***@nats.example:4222"
    assert redact("nats://nats.example:4222") == "nats://nats.example:4222"
    options = NatsOptions("nats://hygie:s3cret@127.0.0.1:1", connect_timeout=1.5)
    with caplog.at_level(logging.DEBUG), pytest.raises(BusError) as error:
        asyncio.run(JetStreamBus.connect(options))
    assert "hygie:***@127.0.0.1:1" in str(error.value)
    assert "s3cret" not in str(error.value) and "s3cret" not in caplog.text


def test_a_server_without_jetstream_is_named(tmp_path) -> None:
    with NatsServer(tmp_path, jetstream=False) as plain:
        with pytest.raises(BusError, match="JetStream"):
            asyncio.run(JetStreamBus.connect(NatsOptions(plain.url, connect_timeout=5)))
