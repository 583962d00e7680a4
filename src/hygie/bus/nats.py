"""The scale-out bus: NATS JetStream between collectors, detection workers and the event store.

Three work-queue streams, file-backed, each read by one durable pull consumer that any number of
processes share (a message goes to one of them at a time):

* ``HYGIE_RECORDS`` (``hygie.records.<tenant>``, consumer ``detect``): raw records, written by
  the collectors of ``hygie serve``, read by ``hygie worker``. Each message carries
  ``Nats-Msg-Id`` = ``RawRecord.key()``, so a record published twice within the duplicate window
  is stored once. ``max_msgs``/``max_bytes`` with ``discard=new``: a full stream refuses new
  records, and the refusal (``BusFull``) is the collectors' backpressure.
* ``HYGIE_EVENTS`` (``hygie.events.<tenant>``, consumer ``events``): the normalised events of
  each batch, as JSON lines, for the process that owns the event store (``hygie serve``).
* ``HYGIE_CORRELATE`` (``hygie.correlate.<tenant>``, consumer ``correlate``): the base-rule
  matches that feed correlation rules, one message each, ``Nats-Msg-Id`` = a digest of (tenant,
  record key, base rule), for the one process that keeps the correlation windows (``hygie
  serve``, see ``pipeline.correlation``). Its consumer is read in stream order by one process.

The key-value bucket ``HYGIE_WORKERS`` holds each worker's heartbeat (cumulative counters and
the time it was written), which ``hygie serve`` exports in ``/metrics``.

"Published" means JetStream stored it (every PubAck is awaited). A consumer acknowledges only
after the results are stored; a message not acknowledged in ``ack_wait`` (its worker died), or
refused with ``nak``, is delivered again, without limit: the bus never drops a record, and a
record that keeps failing is the detection stage's business (it quarantines it).

nats-py's ``publish_async`` leaves its future pending forever when the server refuses a message
(nats-py 2.16), so publishing pipelines plain ``publish`` requests instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (AckPolicy, ConsumerConfig, DeliverPolicy, DiscardPolicy, KeyValueConfig,
                         RetentionPolicy, StorageType, StreamConfig)
from nats.js.kv import KeyValue

from hygie.core.record import RawRecord

log = logging.getLogger("hygie.bus.nats")

RECORDS_STREAM, RECORDS_SUBJECT, DETECT_CONSUMER = "HYGIE_RECORDS", "hygie.records", "detect"
EVENTS_STREAM, EVENTS_SUBJECT, EVENTS_CONSUMER = "HYGIE_EVENTS", "hygie.events", "events"
CORRELATE_STREAM, CORRELATE_SUBJECT, CORRELATE_CONSUMER = "HYGIE_CORRELATE", "hygie.correlate", "correlate"
SUBJECTS = {RECORDS_STREAM: RECORDS_SUBJECT, EVENTS_STREAM: EVENTS_SUBJECT,
            CORRELATE_STREAM: CORRELATE_SUBJECT}
WORKERS_BUCKET = "HYGIE_WORKERS"  # key-value: worker name -> its heartbeat (JSON)
WORKERS_TTL_S = 24 * 3600.0  # a worker silent this long is forgotten
PUBLISH_WINDOW = 256  # publish requests in flight at once
FULL_CODES = frozenset({10077, 10047, 10028, 10023})  # max msgs, max bytes, too big, no resources
PAYLOAD_MARGIN = 4096  # bytes kept free under max_payload for headers


class BusError(Exception):
    """The bus cannot be reached or refused a request; the message says why."""


class BusFull(BusError):
    """The records stream is at its limits (detection is behind): retry later, do not drop."""


class RecordTooLarge(BusError):
    """A record exceeds the server's ``max_payload``: retrying cannot help (raise the limit)."""


@dataclass(frozen=True, slots=True)
class NatsOptions:
    """Where the bus is and how to log in. ``url`` may list several servers, comma-separated;
    ``user:password@`` or ``token@`` in a URL are credentials, ``tls://`` asks for TLS."""

    url: str = "nats://127.0.0.1:4222"
    creds_file: str | None = None  # NATS decentralised auth (.creds: JWT + NKey seed)
    ca_file: str | None = None  # verify the server with this CA (implies TLS)
    cert_file: str | None = None  # client certificate (mutual TLS)
    key_file: str | None = None
    name: str = "hygie"
    connect_timeout: float = 30.0  # at start-up; once connected, reconnection never gives up

    def servers(self) -> list[str]:
        return [part.strip() for part in self.url.split(",") if part.strip()]

    def describe(self) -> str:
        """The servers without their passwords or tokens: what logs and errors may show."""
        return ",".join(redact(url) for url in self.servers())


@dataclass(frozen=True, slots=True)
class StreamLimits:
    max_msgs: int = 1_000_000  # records waiting for detection before collectors are refused
    max_bytes: int = 2 * 1024**3
    duplicate_window_s: float = 600.0  # Nats-Msg-Id dedup horizon
    events_max_bytes: int = 2 * 1024**3
    correlate_max_bytes: int = 1024**3  # base-rule matches waiting for the correlation stage
    ack_wait_s: float = 60.0  # a batch not acknowledged within it is delivered again
    max_ack_pending: int = 20_000  # records in workers' hands at once (bounds their memory)


def redact(url: str) -> str:
    """``nats://user:secret@host`` -> ``nats://user:***@host``; a token user becomes ``***``."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    if "@" not in parts.netloc:
        return url
    auth, _, host = parts.netloc.rpartition("@")
    user, sep, _password = auth.partition(":")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}" if sep else f"***@{host}"))


def subject_token(tenant: str) -> str:
    """A tenant as one subject token: as is when safe, else a digest (dots and wildcards in a
    tenant id must not change which consumer sees what)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", tenant):
        return tenant
    return "t" + hashlib.blake2b(tenant.encode(), digest_size=8).hexdigest()


class Delivery:
    """One message in a consumer's hands: ``ack`` after its results are stored, or ``nak``."""

    __slots__ = ("_msg", "data", "delivered", "seq")

    def __init__(self, msg: Msg) -> None:
        self._msg = msg
        self.data: bytes = msg.data
        metadata = msg.metadata
        self.delivered: int = metadata.num_delivered  # 1 on first delivery
        self.seq: int = metadata.sequence.stream  # its place in the stream (the order of arrival)

    async def ack(self) -> None:
        await self._msg.ack()

    async def nak(self, delay_s: float | None = None) -> None:
        await self._msg.nak(delay=delay_s)

    async def in_progress(self) -> None:
        """Restart the ack_wait clock: the batch is still being worked on."""
        await self._msg.in_progress()


class Consumer:
    """A durable pull consumer, shared by every process that binds it."""

    def __init__(self, bus: JetStreamBus, stream: str, name: str,
                 sub: JetStreamContext.PullSubscription) -> None:
        self._bus, self.stream, self.name, self._sub = bus, stream, name, sub

    async def fetch(self, batch: int, timeout_s: float = 1.0) -> list[Delivery]:
        """Up to ``batch`` messages, waiting at most ``timeout_s`` for the first; [] if none."""
        try:
            msgs = await self._sub.fetch(batch, timeout=timeout_s)
        except (nats.errors.TimeoutError, asyncio.TimeoutError):
            return []
        return [Delivery(msg) for msg in msgs]

    async def backlog(self) -> int:
        """Messages not yet acknowledged: waiting, plus in a worker's hands (the lag metric)."""
        return await self._bus.backlog(self.stream, self.name)


class JetStreamBus:
    """An open connection with both streams in place. Use ``await JetStreamBus.connect(...)``."""

    def __init__(self, nc: Client, limits: StreamLimits) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.limits = limits
        self._workers: KeyValue | None = None

    @classmethod
    async def connect(cls, options: NatsOptions, limits: StreamLimits | None = None,
                      owner: bool = True) -> JetStreamBus:
        """``owner`` (``hygie serve``) sets the streams' limits; workers only create the
        streams when missing, so that their defaults never override the operator's limits."""
        where = options.describe()
        opened: list[Client] = []
        told: set[str] = set()  # errors already logged since the last (re)connection

        async def on_error(exc: Exception) -> None:
            text = _safe(exc, options)
            log.log(logging.DEBUG if text in told else logging.WARNING, "NATS %s: %s", where, text)
            told.add(text)

        async def on_disconnect() -> None:
            if not (opened and opened[0].is_closed):  # not our own close()
                log.warning("NATS %s: disconnected, reconnecting", where)

        async def on_reconnect() -> None:
            told.clear()
            log.warning("NATS %s: reconnected", where)

        kwargs: dict[str, Any] = {
            "servers": options.servers(), "name": options.name, "connect_timeout": 5,
            "max_reconnect_attempts": -1, "reconnect_time_wait": 1, "error_cb": on_error,
            "disconnected_cb": on_disconnect, "reconnected_cb": on_reconnect}
        if options.creds_file:
            kwargs["user_credentials"] = options.creds_file
        if options.ca_file or options.cert_file:
            kwargs["tls"] = _tls_context(options)
        try:
            nc = await asyncio.wait_for(nats.connect(**kwargs), options.connect_timeout)
        except (asyncio.TimeoutError, OSError, nats.errors.Error) as exc:
            reason = _safe(exc, options) or "timed out"
            raise BusError(f"cannot connect to NATS at {where}: {reason}") from None
        opened.append(nc)
        bus = cls(nc, limits or StreamLimits())
        try:
            await bus.ensure_streams(update=owner)
        except BaseException:
            await nc.close()
            raise
        log.info("connected to NATS JetStream at %s", where)
        return bus

    async def ensure_streams(self, update: bool = True) -> None:
        """Create the streams, or (``update``) bring their limits to ours; idempotent."""
        limits = self.limits
        configs = [
            StreamConfig(name=RECORDS_STREAM, subjects=[f"{RECORDS_SUBJECT}.>"],
                         retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                         discard=DiscardPolicy.NEW, max_msgs=limits.max_msgs,
                         max_bytes=limits.max_bytes, duplicate_window=limits.duplicate_window_s),
            StreamConfig(name=EVENTS_STREAM, subjects=[f"{EVENTS_SUBJECT}.>"],
                         retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                         discard=DiscardPolicy.NEW, max_bytes=limits.events_max_bytes,
                         duplicate_window=limits.duplicate_window_s),
            StreamConfig(name=CORRELATE_STREAM, subjects=[f"{CORRELATE_SUBJECT}.>"],
                         retention=RetentionPolicy.WORK_QUEUE, storage=StorageType.FILE,
                         discard=DiscardPolicy.NEW, max_bytes=limits.correlate_max_bytes,
                         duplicate_window=limits.duplicate_window_s)]
        try:
            for config in configs:
                try:
                    info = await self.js.stream_info(config.name)
                except nats.js.errors.NotFoundError:
                    await self.js.add_stream(config)
                else:
                    if update:  # replicas are the cluster operator's choice: kept as found
                        config.num_replicas = info.config.num_replicas
                        await self.js.update_stream(config)
        except nats.errors.NoRespondersError:
            raise BusError("the NATS server does not run JetStream (start it with -js)") from None
        except nats.js.errors.APIError as exc:
            raise BusError(f"JetStream refused the stream set-up: {exc.description}") from None

    # -- publishing ----------------------------------------------------------------------------
    async def publish_records(self, records: Sequence[RawRecord]) -> int:
        """Store ``records`` in ``HYGIE_RECORDS``; returns how many were new (not duplicates).

        Raises ``BusFull`` when the stream is at its limits. A batch refused halfway has its
        first part stored: publishing the same records again stores only the rest (dedup)."""
        items = [(f"{RECORDS_SUBJECT}.{subject_token(r.tenant)}", r.to_bytes(), r.key()) for r in records]
        for _, data, _ in items:
            if len(data) > self.max_message_bytes:
                raise RecordTooLarge(f"a record of {len(data):,} bytes exceeds the NATS max_payload "
                                     f"({self.nc.max_payload:,}); raise max_payload on the server")
        return await self._publish(items)

    @property
    def max_message_bytes(self) -> int:
        """The largest message body the server takes (its ``max_payload``, less headers)."""
        return self.nc.max_payload - PAYLOAD_MARGIN

    async def publish_events(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Append (tenant, record key, event as JSON) items to ``HYGIE_EVENTS``, packed as JSON
        lines into messages under ``max_payload``. A message's id is a digest of its record
        keys, so a batch published again after a crash is stored once if packed alike."""
        limit = self.max_message_bytes
        by_tenant: dict[str, list[tuple[str, bytes]]] = {}
        for tenant, key, doc in items:
            by_tenant.setdefault(tenant, []).append((key, doc))
        messages: list[tuple[str, bytes, str]] = []
        for tenant, docs in by_tenant.items():
            subject = f"{EVENTS_SUBJECT}.{subject_token(tenant)}"
            chunk: list[tuple[str, bytes]] = []
            size = 0
            for key, doc in docs:
                if len(doc) + 1 > limit:
                    log.error("event of record %s (%d bytes) exceeds max_payload; not sent", key, len(doc))
                    continue
                if chunk and size + len(doc) + 1 > limit:
                    messages.append(_event_message(subject, chunk))
                    chunk, size = [], 0
                chunk.append((key, doc))
                size += len(doc) + 1
            if chunk:
                messages.append(_event_message(subject, chunk))
        await self._publish(messages)

    async def publish_correlation_feeds(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Append (tenant, message id, feed as JSON) items to ``HYGIE_CORRELATE``, one message
        each, in order. The id is deterministic over a redelivery of the record (see
        ``pipeline.correlation.feed_id``), so a batch detected again adds nothing."""
        limit = self.max_message_bytes
        messages = []
        for tenant, msg_id, doc in items:
            if len(doc) > limit:
                log.error("correlation feed %s (%d bytes) exceeds max_payload; not sent", msg_id, len(doc))
                continue
            messages.append((f"{CORRELATE_SUBJECT}.{subject_token(tenant)}", doc, msg_id))
        await self._publish(messages)

    async def _publish(self, items: Sequence[tuple[str, bytes, str]]) -> int:
        """Publish (subject, data, msg id) items, ``PUBLISH_WINDOW`` requests in flight."""
        stored = 0
        for start in range(0, len(items), PUBLISH_WINDOW):
            window = items[start:start + PUBLISH_WINDOW]
            answers = await asyncio.gather(
                *(self.js.publish(subject, data, headers={"Nats-Msg-Id": msg_id})
                  for subject, data, msg_id in window), return_exceptions=True)
            for answer in answers:
                if isinstance(answer, nats.js.errors.APIError):
                    if answer.err_code in FULL_CODES:
                        raise BusFull(f"the JetStream stream is full ({answer.description})")
                    raise BusError(f"JetStream refused a message: {answer.description}")
                if isinstance(answer, (nats.errors.TimeoutError, asyncio.TimeoutError)):
                    raise BusError("JetStream did not confirm a message in time (server down?)")
                if isinstance(answer, BaseException):
                    raise BusError(f"publishing to JetStream failed: {answer!r}") from answer
                stored += not answer.duplicate
        return stored

    # -- consuming -----------------------------------------------------------------------------
    async def consumer(self, stream: str, name: str, *, fresh: bool = False,
                       ack_wait_s: float | None = None, max_ack_pending: int | None = None) -> Consumer:
        """Bind the durable pull consumer ``name`` of ``stream``: created, or updated to this
        process's ``ack_wait`` and ``max_ack_pending`` (the last process to start sets them).

        ``fresh`` deletes it first, so that it delivers again, in stream order, every message
        not yet acknowledged (on a work queue: all that remain), at once rather than after
        ``ack_wait``: how the single reader of ``HYGIE_CORRELATE`` resumes."""
        config = ConsumerConfig(name=name, durable_name=name, ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.ALL,
                                ack_wait=ack_wait_s or self.limits.ack_wait_s, max_deliver=-1,
                                max_ack_pending=max_ack_pending or self.limits.max_ack_pending,
                                filter_subject=f"{SUBJECTS[stream]}.>")
        if fresh:
            with contextlib.suppress(nats.js.errors.NotFoundError):
                await self.js.delete_consumer(stream, name)
        await self.js.add_consumer(stream, config)
        sub = await self.js.pull_subscribe_bind(durable=name, stream=stream)
        return Consumer(self, stream, name, sub)

    async def backlog(self, stream: str = RECORDS_STREAM, consumer: str = DETECT_CONSUMER) -> int:
        """Messages of ``consumer`` not yet acknowledged (waiting + in progress)."""
        try:
            info = await self.js.consumer_info(stream, consumer)
        except nats.js.errors.NotFoundError:  # no worker has bound it yet: the stream is the backlog
            return (await self.js.stream_info(stream)).state.messages
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    # -- worker heartbeats ---------------------------------------------------------------------
    async def workers_bucket(self) -> KeyValue:
        """The ``HYGIE_WORKERS`` key-value bucket (created when missing): one key per worker,
        its latest heartbeat as value; a key not written for ``WORKERS_TTL_S`` disappears."""
        if self._workers is None:
            try:
                self._workers = await self.js.key_value(WORKERS_BUCKET)
            except nats.js.errors.BucketNotFoundError:
                self._workers = await self.js.create_key_value(KeyValueConfig(
                    bucket=WORKERS_BUCKET, history=1, ttl=WORKERS_TTL_S, storage=StorageType.FILE,
                    description="hygie worker heartbeats (cumulative counters)"))
        return self._workers

    async def put_heartbeat(self, worker: str, doc: bytes) -> None:
        await (await self.workers_bucket()).put(worker_key(worker), doc)

    async def heartbeats(self) -> dict[str, bytes]:
        """Every worker's latest heartbeat, by key."""
        bucket = await self.workers_bucket()
        try:
            keys = await bucket.keys()
        except nats.js.errors.NoKeysError:
            return {}
        found = {}
        for key in keys:
            with contextlib.suppress(nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
                entry = await bucket.get(key)
                if entry.value:
                    found[key] = entry.value
        return found

    async def close(self) -> None:
        """Flush what was published and acknowledged, then disconnect."""
        if self.nc.is_closed:
            return
        with contextlib.suppress(Exception):  # a dead connection has nothing left to flush
            await asyncio.wait_for(self.nc.flush(), 5)
        await self.nc.close()  # not drain(): it waits out pull subscriptions (30 s)


def worker_key(name: str) -> str:
    """A worker's name as a key of ``HYGIE_WORKERS`` (letters, digits, ``-_=``)."""
    return re.sub(r"[^A-Za-z0-9_=-]", "_", name)[:200] or "worker"


def decode_events(data: bytes) -> list[bytes]:
    """The events of one ``HYGIE_EVENTS`` message (JSON lines), each as its JSON bytes."""
    return [line for line in data.split(b"\n") if line]


def _event_message(subject: str, chunk: list[tuple[str, bytes]]) -> tuple[str, bytes, str]:
    digest = hashlib.blake2b(digest_size=16)
    for key, _ in chunk:
        digest.update(key.encode())
    return subject, b"\n".join(doc for _, doc in chunk), "ev-" + digest.hexdigest()


def _tls_context(options: NatsOptions) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.ca_file)
    if options.cert_file:
        context.load_cert_chain(options.cert_file, options.key_file)
    return context


def _safe(exc: BaseException, options: NatsOptions) -> str:
    """An exception's text with any password or token of ``options`` blotted out."""
    text = str(exc)
    for url in options.servers():
        parts = urlsplit(url if "://" in url else f"nats://{url}")
        for secret in (parts.password, parts.username if parts.password is None else None):
            if secret:
                text = text.replace(secret, "***")
    return text
