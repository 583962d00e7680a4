"""Asyncio syslog listeners: UDP (RFC 5426), TCP (RFC 6587) and TLS (RFC 5425).

A listener serves one tenant and binds one socket; make one per port. Each message becomes a
:class:`~hygie.core.record.RawRecord` of kind ``syslog`` handed to an async ``sink`` (the
spool), or, with ``batch_sink``, the records of one read (TCP) or of the datagrams waiting
(UDP) together, so that one durable commit covers many messages. Nothing is parsed here, so
nothing a sender writes can make a listener fail.

Flow control, which differs by transport:

* **TCP/TLS**: a connection's reader awaits the sink for its records before it reads more, so
  a slow sink fills the socket buffers and slows the sender (TCP backpressure); nothing is
  dropped. Per connection, at most one read (``read_size``) plus the framer's ``max_message``
  are held in memory.
* **UDP** cannot be slowed: datagrams go into a bounded queue (``udp_queue_size``) drained by
  one task. When the queue is full the datagram is dropped and counted in ``dropped``.

Framing errors and oversize datagrams go to ``on_reject(source, peer, reason, prefix)`` so the
caller can quarantine them; they are always counted in ``rejected``. Message contents are never
logged (they can hold secrets or patient data): logs carry peers, counts and reasons only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from hygie.core.record import SYSLOG, RawRecord
from hygie.sources.syslog.framing import PREFIX_BYTES, FramingError, StreamFramer

log = logging.getLogger("hygie.sources.syslog")

Sink = Callable[[RawRecord], Awaitable[None]]
BatchSink = Callable[[list[RawRecord]], Awaitable[None]]
UDP_BATCH = 1000  # datagrams handed to a batch sink at once
RejectHook = Callable[[str, str, str, bytes], None]


def server_ssl_context(certfile: str, keyfile: str, cafile: str | None = None) -> ssl.SSLContext:
    """A server context for RFC 5425: TLS 1.2 or later; with ``cafile``, clients must present
    a certificate signed by it (mutual TLS, what RFC 5425 recommends)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile, keyfile)
    if cafile:
        context.load_verify_locations(cafile)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _address(sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SyslogListener:
    """One socket for one tenant. Counters: ``received`` (records the sink accepted),
    ``rejected`` (framing errors, oversize datagrams), ``dropped`` (UDP datagrams lost to a full
    queue or a failing sink), ``refused`` (TCP connections over ``max_connections``)."""

    def __init__(self, tenant: str, sink: Sink | None = None, *,
                 batch_sink: BatchSink | None = None, on_reject: RejectHook | None = None,
                 max_message: int = 64 * 1024, udp_queue_size: int = 10_000,
                 max_connections: int = 256, idle_timeout: float = 300.0,
                 read_size: int = 64 * 1024, drain_timeout: float = 5.0) -> None:
        if (sink is None) == (batch_sink is None):
            raise ValueError("give exactly one of sink and batch_sink")
        self.tenant = tenant
        self.sink = batch_sink or _one_by_one(sink)  # type: ignore[arg-type]
        self.on_reject = on_reject
        self.max_message = max_message
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.read_size = read_size
        self.drain_timeout = drain_timeout
        self.port = 0
        self.source = ""
        self.received = self.rejected = self.dropped = self.refused = 0
        self._queue: asyncio.Queue[RawRecord] = asyncio.Queue(udp_queue_size)
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the UDP drainer or TCP connections
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def connections(self) -> int:
        """Open TCP/TLS connections."""
        return len(self._writers)

    @property
    def queued(self) -> int:
        """UDP records waiting for the sink."""
        return self._queue.qsize()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start_udp(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Bind a UDP socket (port 0: any free port); return the port bound."""
        self._check_unstarted()
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self), local_addr=(host, port))
        self._transport = transport
        self._bound("udp", transport.get_extra_info("sockname"))
        self._spawn(self._drain())
        return self.port

    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0,
                        ssl_context: ssl.SSLContext | None = None) -> int:
        """Listen on TCP, or TLS with ``ssl_context``; return the port bound. Both framings are
        accepted on both (RFC 5425 prescribes octet counting; not every sender knows)."""
        self._check_unstarted()
        self._server = await asyncio.start_server(
            self._connection, host, port, ssl=ssl_context, limit=self.read_size,
            ssl_handshake_timeout=30.0 if ssl_context else None)
        self._bound("tls" if ssl_context else "tcp", self._server.sockets[0].getsockname())
        return self.port

    async def stop(self) -> None:
        """Stop listening; give queued UDP records ``drain_timeout`` seconds to reach the sink,
        then end the drainer and every connection (a cut-off message is not delivered)."""
        if self._transport is not None:
            self._transport.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._queue.join(), self.drain_timeout)
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.drain_timeout)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), self.drain_timeout)
        log.info("syslog listener %s stopped: %d received, %d rejected, %d dropped, "
                 "%d connections refused", self.source, self.received, self.rejected,
                 self.dropped, self.refused)

    def _check_unstarted(self) -> None:
        if self._transport is not None or self._server is not None:
            raise RuntimeError(f"listener already bound to {self.source}")

    def _bound(self, transport: str, sockname: Any) -> None:
        self.port = int(sockname[1])
        self.source = f"syslog/{transport}:{_address(sockname)}"
        log.info("syslog listener %s for tenant %s", self.source, self.tenant)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _reject(self, peer: str, reason: str, prefix: bytes) -> None:
        self.rejected += 1
        log.debug("syslog %s rejected a message from %s: %s", self.source, peer, reason)
        if self.on_reject is not None:
            try:
                self.on_reject(self.source, peer, reason, prefix)
            except Exception:  # a failing hook must not stop collection
                log.exception("on_reject hook failed for %s", self.source)

    def _record(self, payload: bytes, peer: str, received: float, seq: int = 0) -> RawRecord:
        return RawRecord(self.tenant, self.source, SYSLOG, payload, received, peer, seq)

    # -- UDP ---------------------------------------------------------------------------------

    def _datagram(self, data: bytes, addr: Any) -> None:
        received = time.time()
        peer = _address(addr)
        payload = data.rstrip(b"\r\n\x00")
        if not payload:
            return
        if len(payload) > self.max_message:
            self._reject(peer, f"datagram of {len(payload)} bytes exceeds the limit of "
                               f"{self.max_message}", payload[:PREFIX_BYTES])
            return
        try:
            self._queue.put_nowait(self._record(payload, peer, received))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("syslog %s: queue full, %d datagrams dropped so far", self.source,
                            self.dropped)

    async def _drain(self) -> None:
        """The one task that feeds UDP records to the sink; ends when cancelled by stop()."""
        while True:
            records = [await self._queue.get()]
            while len(records) < UDP_BATCH and not self._queue.empty():
                records.append(self._queue.get_nowait())
            try:
                await self.sink(records)
                self.received += len(records)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.dropped += len(records)
                log.exception("syslog %s: sink failed, %d datagrams dropped", self.source,
                              len(records))
            finally:
                for _ in records:
                    self._queue.task_done()

    # -- TCP / TLS ---------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        peer = _address(writer.get_extra_info("peername") or ("?", 0))
        if len(self._writers) >= self.max_connections:
            self.refused += 1
            log.warning("syslog %s: refused %s, %d connections already open", self.source, peer,
                        len(self._writers))
            writer.transport.abort()
            return
        task = asyncio.current_task()
        if task is not None:  # so that stop() can end it
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self._writers.add(writer)
        log.debug("syslog %s: connection from %s", self.source, peer)
        try:
            await self._read_stream(reader, peer)
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("syslog %s: connection from %s ended: %s", self.source, peer,
                     type(exc).__name__)
        except Exception:  # a failing sink: the sender sees the connection drop and reconnects
            log.exception("syslog %s: closing connection from %s", self.source, peer)
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 5.0)

    async def _read_stream(self, reader: asyncio.StreamReader, peer: str) -> None:
        """Read, frame, and hand each record to the sink before reading on (backpressure).
        Ends at EOF, on error, or after ``idle_timeout`` seconds without data."""
        framer = StreamFramer(self.max_message)
        while True:  # one pass per read; ends at EOF or idle timeout
            try:
                data = await asyncio.wait_for(reader.read(self.read_size), self.idle_timeout)
            except asyncio.TimeoutError:
                log.info("syslog %s: %s idle for %ss, closing", self.source, peer,
                         self.idle_timeout)
                data = b""
            received = time.time()
            items = framer.feed(data) if data else framer.close()
            records = []
            for item in items:
                if isinstance(item, FramingError):
                    self._reject(peer, item.reason, item.prefix)
                else:
                    records.append(self._record(item, peer, received, len(records)))
            if records:
                await self.sink(records)
                self.received += len(records)
            if not data:
                return


def _one_by_one(sink: Sink) -> BatchSink:
    async def batch(records: list[RawRecord]) -> None:
        for record in records:
            await sink(record)

    return batch


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, listener: SyslogListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.listener._datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.info("syslog %s: socket error %s", self.listener.source, type(exc).__name__)
