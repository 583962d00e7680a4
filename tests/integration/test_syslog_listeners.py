"""Syslog listeners on real sockets (127.0.0.1, port 0). Every wait is bounded."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hygie.core.record import SYSLOG, RawRecord
from hygie.sources.syslog.listeners import SyslogListener, server_ssl_context

TIMEOUT = 5.0


class Collect:
    """A sink that keeps records; optionally slow, or blocked until released."""

    def __init__(self, pause_every: int = 0, gate: asyncio.Event | None = None) -> None:
        self.records: list[RawRecord] = []
        self.pause_every = pause_every
        self.gate = gate

    async def __call__(self, record: RawRecord) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.pause_every and len(self.records) % self.pause_every == 0:
            await asyncio.sleep(0.01)
        self.records.append(record)


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(coro(), 4 * TIMEOUT))


def octet(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def test_udp_datagrams_become_records() -> None:
    async def main() -> None:
        sink = Collect()
        listener = SyslogListener("hospital-a", sink)
        port = await listener.start_udp()
        assert port > 0 and listener.port == port
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"<13>Jan  5 10:00:00 host app: one\n", ("127.0.0.1", port))
            client.sendto(b"<13>1 - host app - - - two", ("127.0.0.1", port))
            local = client.getsockname()
            await until(lambda: len(sink.records) == 2)
        await listener.stop()
        first, second = sink.records
        assert first.payload == b"<13>Jan  5 10:00:00 host app: one"  # trailing LF dropped
        assert second.payload == b"<13>1 - host app - - - two"
        assert first.tenant == "hospital-a" and first.kind == SYSLOG
        assert first.source == f"syslog/udp:127.0.0.1:{port}"
        assert first.peer == f"127.0.0.1:{local[1]}"
        assert first.received > 0 and listener.received == 2
    run(main)


def test_udp_oversize_datagram_is_rejected() -> None:
    async def main() -> None:
        rejects: list[tuple[str, str, str, bytes]] = []
        sink = Collect()
        listener = SyslogListener("t", sink, max_message=100,
                                  on_reject=lambda *args: rejects.append(args))
        port = await listener.start_udp()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.sendto(b"<13>" + b"x" * 500, ("127.0.0.1", port))
            client.sendto(b"<13>ok", ("127.0.0.1", port))
            await until(lambda: len(sink.records) == 1)
        await listener.stop()
        assert listener.rejected == 1 and len(rejects) == 1
        source, peer, reason, prefix = rejects[0]
        assert source == listener.source and peer.startswith("127.0.0.1:")
        assert "504 bytes" in reason and prefix == (b"<13>" + b"x" * 500)[:200]
    run(main)


def test_udp_queue_overflow_counts_dropped() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        sink = Collect(gate=gate)
        listener = SyslogListener("t", sink, udp_queue_size=5)
        port = await listener.start_udp()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for i in range(50):
                client.sendto(b"<13>msg %d" % i, ("127.0.0.1", port))
            # one record is in the blocked sink, five queued, the rest dropped
            await until(lambda: listener.dropped >= 44 and listener.queued == 5)
        gate.set()
        await until(lambda: listener.received + listener.dropped == 50)
        await listener.stop()
        assert listener.dropped in (44, 45)
        assert len(sink.records) == listener.received
    run(main)


async def send_tcp(port: int, data: bytes, ssl_context: ssl.SSLContext | None = None) -> None:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(
        "127.0.0.1", port, ssl=ssl_context,
        server_hostname="localhost" if ssl_context else None), TIMEOUT)
    writer.write(data)
    await asyncio.wait_for(writer.drain(), TIMEOUT)
    writer.close()
    await asyncio.wait_for(writer.wait_closed(), TIMEOUT)


def test_tcp_octet_counting_and_lf_framing() -> None:
    async def main() -> None:
        sink = Collect()
        rejects: list[str] = []
        listener = SyslogListener("t", sink, max_message=1000,
                                  on_reject=lambda s, p, reason, b: rejects.append(reason))
        port = await listener.start_tcp()
        counted = octet(b"<13>1 - h a - - - multi\nline") + octet(b"<13>second")
        await send_tcp(port, counted)
        await send_tcp(port, b"<13>third\r\n<13>fourth\n" + b"x" * 2000 + b"\n<13>fifth")
        await until(lambda: len(sink.records) == 5)
        await listener.stop()
        assert [r.payload for r in sink.records] == [
            b"<13>1 - h a - - - multi\nline", b"<13>second", b"<13>third", b"<13>fourth",
            b"<13>fifth"]  # the last one flushed at connection end
        assert sink.records[0].source == f"syslog/tcp:127.0.0.1:{port}"
        assert sink.records[0].peer and sink.records[0].peer.startswith("127.0.0.1:")
        assert listener.rejected == 1 and "exceeds the limit of 1000" in rejects[0]
    run(main)


def test_tcp_slow_sink_loses_nothing() -> None:
    async def main() -> None:
        sink = Collect(pause_every=50)  # 40 pauses of 10 ms
        listener = SyslogListener("t", sink, read_size=4096)
        port = await listener.start_tcp()
        padding = b"p" * 200
        stream = b"".join(octet(b"<13>n=%d " % i + padding) if i % 2 else
                          b"<13>n=%d " % i + padding + b"\n" for i in range(2000))
        await send_tcp(port, stream)
        await until(lambda: len(sink.records) == 2000)
        await listener.stop()
        assert [r.payload.split(b" ")[0] for r in sink.records] == [
            b"<13>n=%d" % i for i in range(2000)]
    run(main)


def test_tcp_connection_limit() -> None:
    async def main() -> None:
        sink = Collect()
        listener = SyslogListener("t", sink, max_connections=2)
        port = await listener.start_tcp()
        open_ = []
        for i in range(2):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"<13>hello %d\n" % i)
            open_.append((reader, writer))
            await until(lambda: len(sink.records) == i + 1)
        assert listener.connections == 2
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"<13>refused\n")
        try:  # the listener closes it: EOF, or a reset
            assert await asyncio.wait_for(reader.read(100), TIMEOUT) == b""
        except ConnectionError:
            pass
        writer.close()
        assert listener.refused == 1
        for reader, writer in open_:
            writer.close()
        await until(lambda: listener.connections == 0)
        await listener.stop()
        assert [r.payload for r in sink.records] == [b"<13>hello 0", b"<13>hello 1"]
    run(main)


def test_tcp_idle_timeout_closes_connection() -> None:
    async def main() -> None:
        sink = Collect()
        listener = SyslogListener("t", sink, idle_timeout=0.2)
        port = await listener.start_tcp()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"<13>trailing, no LF")
        await until(lambda: listener.connections == 1)
        assert await asyncio.wait_for(reader.read(100), TIMEOUT) == b""
        await until(lambda: listener.connections == 0)
        assert [r.payload for r in sink.records] == [b"<13>trailing, no LF"]
        writer.close()
        await listener.stop()
    run(main)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for localhost (openssl; the cryptography package is absent)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    folder: Path = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=30)
    return str(cert), str(key)


def client_context(cert: str, client_cert: tuple[str, str] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=cert)
    if client_cert:
        context.load_cert_chain(*client_cert)
    return context


def test_tls_both_framings(certificate: tuple[str, str]) -> None:
    cert, key = certificate

    async def main() -> None:
        sink = Collect()
        listener = SyslogListener("t", sink)
        port = await listener.start_tcp(ssl_context=server_ssl_context(cert, key))
        await send_tcp(port, octet(b"<13>1 - h a - - - over tls") + b"<13>lf framed\n",
                       client_context(cert))
        await until(lambda: len(sink.records) == 2)
        await listener.stop()
        assert [r.payload for r in sink.records] == [b"<13>1 - h a - - - over tls",
                                                     b"<13>lf framed"]
        assert sink.records[0].source == f"syslog/tls:127.0.0.1:{port}"
    run(main)


def test_tls_client_certificate_required_with_cafile(certificate: tuple[str, str]) -> None:
    cert, key = certificate
    context = server_ssl_context(cert, key, cafile=cert)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2

    async def main() -> None:
        sink = Collect()
        listener = SyslogListener("t", sink)
        port = await listener.start_tcp(ssl_context=context)
        with pytest.raises((ssl.SSLError, ConnectionError)):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                "127.0.0.1", port, ssl=client_context(cert), server_hostname="localhost"),
                TIMEOUT)
            writer.write(b"<13>anonymous\n")  # TLS 1.3: the refusal comes after the handshake
            await writer.drain()
            if await asyncio.wait_for(reader.read(100), TIMEOUT) == b"":
                raise ConnectionError("closed by the server")
        await send_tcp(port, b"<13>with a client certificate\n",
                       client_context(cert, (cert, key)))
        await until(lambda: len(sink.records) == 1)
        await listener.stop()
        assert sink.records[0].payload == b"<13>with a client certificate"
    run(main)
