"""Collectors -> bus: group commit, and patience when the bus is full.

A syslog connection hands over the records of each read and waits until they are durable
before reading more. Committing each hand-over on its own would cost one disk sync per read
per connection; here the hand-overs that arrive while a commit runs are committed together by
the next one, so many connections share one sync and none waits for more than two commits.

When the bus refuses (the spool is full because detection is behind), a collector waits and
retries instead of dropping: TCP senders are slowed by their socket buffers, UDP datagrams wait
in the listener's bounded queue, files are read later. That is the backpressure the issue asks
for; ``waiting`` tells the metrics how many hand-overs are held back.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from hygie.core.record import RawRecord
from hygie.sources.http_ingest import Overloaded

log = logging.getLogger("hygie.intake")
MAX_GROUP = 20_000  # records in one commit
BACKOFF_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0)


class Intake:
    """Owned by one event loop; ``put`` is the bus's blocking, all-or-none durable append."""

    def __init__(self, put: Callable[[list[RawRecord]], None],
                 max_wait_s: float | None = None) -> None:
        """``max_wait_s``: how long ``submit_patiently`` holds records back before giving up;
        None (the default) waits until the service stops: a TCP sender is slowed, not cut."""
        self._put = put
        self.max_wait_s = max_wait_s
        self._stopping = False
        self._pending: list[tuple[list[RawRecord], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.commits = 0
        self.waiting = 0  # hand-overs held back by a full bus

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_loop(), name="hygie-intake")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for _, future in self._pending:
            if not future.done():
                future.set_exception(Overloaded("the service is stopping"))
        self._pending.clear()

    async def submit(self, records: list[RawRecord]) -> None:
        """Return once ``records`` are durable; raise ``Overloaded`` when the bus is full."""
        if not records:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((records, future))
        self._wake.set()
        await future

    async def submit_patiently(self, records: list[RawRecord]) -> None:
        """``submit``, retrying with backoff while the bus is full, until the service stops or
        ``max_wait_s`` runs out (then ``Overloaded`` propagates: the collector's own error path
        takes over, and the records it held are lost, which the listener counts)."""
        loop = asyncio.get_running_loop()
        deadline = None if self.max_wait_s is None else loop.time() + self.max_wait_s
        attempt = 0
        while True:
            try:
                await self.submit(records)
                return
            except Overloaded:
                if self._stopping or (deadline is not None and loop.time() >= deadline):
                    raise
                if attempt == 0:
                    log.warning("bus full: holding %d records from %s until detection catches up",
                                len(records), records[0].source)
                self.waiting += 1
                try:
                    await asyncio.sleep(BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)])
                finally:
                    self.waiting -= 1
                attempt += 1

    async def _flush_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                group, size = [], 0
                while self._pending and (not group or size + len(self._pending[0][0]) <= MAX_GROUP):
                    item = self._pending.pop(0)
                    group.append(item)
                    size += len(item[0])
                await self._commit(group)

    async def _commit(self, group: list[tuple[list[RawRecord], asyncio.Future[None]]]) -> None:
        """One commit for the group; when the bus refuses it as too big for the room left,
        each hand-over is tried on its own, so a small one is not refused for a large one."""
        records = [record for part, _ in group for record in part]
        try:
            await asyncio.to_thread(self._put, records)
        except Overloaded as exc:
            if len(group) > 1:
                for item in group:
                    await self._commit([item])
                return
            _settle(group, exc)
        except Exception as exc:  # a disk error: each waiter decides
            _settle(group, exc)
        else:
            self.commits += 1
            _settle(group, None)


def _settle(group: list[tuple[list[RawRecord], asyncio.Future[None]]],
            error: BaseException | None) -> None:
    for _, future in group:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
