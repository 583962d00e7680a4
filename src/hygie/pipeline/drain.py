"""Spool -> detection -> stores in the embedded service, on two threads, at least once.

``hygie-detect`` claims a batch from the spool and runs it through detection; ``hygie-store``
stores the batch before (event store, state store) and only then acknowledges it, while the
next one is detected: disk syncs and DuckDB's writing release the GIL, so they overlap
detection rather than add to it. Three batches at most are claimed and not yet stored (one
being stored, one waiting for the store, one being detected), and the spool never hands a
chunk its holder has not settled to the holder again, however long a store takes.

A batch the store thread cannot store (database away, disk full) goes back to the spool from
the detect thread, which owns the correlation windows: the windows of its tenants restart
first, so that its events, detected again, do not count twice. A crash anywhere leaves the
batch claimed in the spool, which the next start releases.
"""

from __future__ import annotations

import gc
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hygie.bus.spool import Spool
from hygie.core.record import RawRecord
from hygie.pipeline.detection import DetectionStage
from hygie.pipeline.events import stored_events
from hygie.pipeline.metrics import PipelineCounters
from hygie.store.events import EventStore
from hygie.store.state.store import RecordResult, StateStore

log = logging.getLogger("hygie.serve")
# The cyclic collector's first generation, in allocations: Python's 700 made it run some 800
# times per 60,000 records, each batch's records and events (alive for the whole batch)
# being traversed again and again, and gen-1/gen-2 passes over the engine's caches too:
# 3 to 7 µs per record. Reference counting frees nearly everything a batch makes anyway.
GC_THRESHOLDS = (50_000, 20, 10)
# How long a thread may hold the GIL while another waits for it. A thread back from a disk sync
# or a socket (the store thread, the HTTP hand-over's commit) waited up to Python's 5 ms for the
# detect thread to let go, each time: with 1 ms, 100,000 records were taken in 3.9-4.4 s instead
# of 5.8-6.0 and stored at 13,100-14,600 records/s instead of 12,700-13,100 (benchmarks/serve.py,
# alternated runs, 2026-11-24), p99 latency unchanged.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Set ``GC_THRESHOLDS`` and ``SWITCH_INTERVAL_S`` for a long-running detection process
    (``hygie serve``, workers)."""
    gc.set_threshold(*GC_THRESHOLDS)
    sys.setswitchinterval(SWITCH_INTERVAL_S)


@dataclass(slots=True)
class DetectedBatch:
    """A batch through detection, waiting to be stored: its spool ids, tenants and results."""

    ids: list[int]
    tenants: set[str]
    results: list[RecordResult]
    started: float  # perf_counter when detection began (the batch-duration metric)


class Drain:
    """The embedded service's detection and storing of what its collectors spooled."""

    def __init__(self, spool: Spool, stage: DetectionStage, events: EventStore, state: StateStore,
                 counters: PipelineCounters, batch: int, lease_s: float,
                 before_batch: Callable[[], None] = lambda: None) -> None:
        """``before_batch`` runs on the detect thread before each claim (a rules reload
        switches engines there, between two batches)."""
        self.spool, self.stage, self.events, self.state = spool, stage, events, state
        self.counters = counters
        self.batch, self.lease_s = batch, lease_s
        self.before_batch = before_batch
        self._storer = threading.Thread(target=self._store_loop, name="hygie-store", daemon=True)
        self._to_store: queue.Queue[DetectedBatch | None] = queue.Queue(maxsize=1)
        self._failed_lock = threading.Lock()
        self._failed: list[DetectedBatch] = []  # batches the store thread could not store

    def drain_once(self) -> int:
        """Process one batch, stored before it returns; returns how many records it held (0:
        spool empty)."""
        batch = self._detect_batch()
        if batch is None:
            return 0
        try:
            self._store_batch(batch)
        except Exception:
            self._give_back(batch)
            raise
        return len(batch.ids)

    def run(self, stop: threading.Event, paused: threading.Event) -> None:
        """The detect thread's loop (its store thread starts with it), until ``stop``."""
        name_os_thread("hygie-detect")
        self._storer.start()
        try:
            while not stop.is_set():
                failed = self._give_back_failed()
                if failed or paused.is_set():
                    stop.wait(1.0 if failed else 0.05)
                    continue
                try:
                    batch = self._detect_batch()
                except Exception:  # the spool's disk, say: retry after a pause
                    log.exception("detection batch failed; its records stay in the spool")
                    stop.wait(1.0)
                    continue
                if batch is None:
                    stop.wait(0.05)
                    continue
                self._to_store.put(batch)
        finally:
            while self._storer.is_alive():  # bounded by the store thread's life
                try:
                    self._to_store.put(None, timeout=1.0)
                    break
                except queue.Full:
                    continue
            self._storer.join(timeout=60)
            self._give_back_failed()  # else they come back at the next start

    def _detect_batch(self) -> DetectedBatch | None:
        """Claim a batch and run it through detection (the stores come after)."""
        self.before_batch()
        claimed = self.spool.claim(self.batch, self.lease_s)
        if not claimed:
            return None
        started = time.perf_counter()
        records, ids = [], []
        for spool_id, data in claimed:
            ids.append(spool_id)
            try:
                records.append(RawRecord.from_bytes(data))
            except (ValueError, KeyError, TypeError):  # written by us: only disk damage does this
                log.error("spool entry %d is unreadable and is dropped", spool_id)
        batch = DetectedBatch(ids, {record.tenant for record in records}, [], started)
        try:
            batch.results = self.stage.process(records)
        except BaseException:  # a bug: the batch must not stay claimed until the next start
            self._give_back(batch)
            raise
        return batch

    def _store_batch(self, batch: DetectedBatch) -> None:
        """Store a detected batch's events and results, then acknowledge it."""
        self.events.append(stored_events(batch.results))  # before the ack, like the alerts
        self.state.store_results(batch.results)
        self.stage.mark_stored(batch.results)
        self.spool.ack(batch.ids)
        self.counters.batch_done(batch.results, time.perf_counter() - batch.started)

    def _give_back(self, batch: DetectedBatch) -> None:
        """A batch that could not be stored goes back to the spool. Its events are already in
        the correlation windows, where counting them again would raise false alerts: the
        windows of its tenants restart first (on the detect thread, which owns them)."""
        self.stage.forget_windows(batch.tenants)
        self.spool.release(batch.ids)

    def _give_back_failed(self) -> bool:
        """Give the batches the store thread could not store back to the spool (on the detect
        thread). True if there were some: the caller pauses before the retry. A batch that
        cannot be given back either (the disk is full) is tried again the next time."""
        with self._failed_lock:
            failed, self._failed = self._failed, []
        for index, batch in enumerate(failed):
            try:
                self._give_back(batch)
            except Exception:
                log.exception("a batch could not be given back to the spool; retrying")
                with self._failed_lock:
                    self._failed.extend(failed[index:])
                break
        return bool(failed)

    def _store_loop(self) -> None:
        name_os_thread("hygie-store")
        while True:
            batch = self._to_store.get()
            if batch is None:
                return
            try:
                self._store_batch(batch)
            except Exception:  # the detect thread gives it back to the spool
                log.exception("storing a detected batch failed; its records stay in the spool")
                with self._failed_lock:
                    self._failed.append(batch)


def name_os_thread(name: str) -> None:
    """Give the calling thread its name in the OS too (Linux, 15 characters), so that ``top -H``
    and ``/proc/<pid>/task/*/comm`` tell detection from the collectors (the benchmarks read it)."""
    try:
        Path(f"/proc/self/task/{threading.get_native_id()}/comm").write_text(name[:15])
    except OSError:  # not Linux: Python's own thread name is all there is
        pass
