"""Prometheus metrics of the service: what came in, what came out, how far behind it is.

The numbers a hospital's IT lead needs at 3 a.m.: is each collector still receiving (a silent
firewall is the first sign of trouble), is detection keeping up (bus depth and the age of the
oldest waiting record), what was refused or quarantined, how many alerts. Counters that other
parts already keep (listeners, detection stage, bus) are read at scrape time rather than
copied, so there is one source of truth for each number.

Labels stay low in cardinality: tenant, the collector type (``http``, ``syslog``, ``folder``),
and the alert level; never a file name, a host or a peer address. In NATS mode, the
``hygie_worker_*`` families add one label, ``worker`` (its name, ``HOST-PID`` by default), from
the workers' heartbeats; the unlabelled totals (``hygie_events_detected``...) and
``hygie_alerts`` then include every worker's counts. A worker forgotten by the heartbeat
bucket (a day without a heartbeat) leaves the totals, which Prometheus reads as a reset.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from hygie.core.record import RawRecord
from hygie.store.state.store import RecordResult

BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def collector_type(source: str) -> str:
    """``syslog/udp:127.0.0.1:5514`` -> ``syslog``; ``http:chu-a`` -> ``http``."""
    for index, char in enumerate(source):
        if char in ":/":
            return source[:index] or "other"
    return source or "other"


@dataclass
class PipelineCounters:
    """Counts kept by the service itself (thread-safe: collectors run on several threads)."""

    accepted: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    last_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    alerts: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    batch_buckets: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))
    batch_sum: float = 0.0
    batches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def records_accepted(self, records: Sequence[RawRecord]) -> None:
        now = time.time()
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for record in records:
            counts[(record.tenant, collector_type(record.source))] += 1
        with self._lock:
            for key, count in counts.items():
                self.accepted[key] += count
                self.last_seen[key] = now

    def batch_done(self, results: Iterable[RecordResult], seconds: float) -> None:
        with self._lock:
            for result in results:
                for alert in result.alerts:
                    self.alerts[(result.tenant, alert.level)] += 1
            index = next((i for i, bound in enumerate(BATCH_BUCKETS) if seconds <= bound),
                         len(BATCH_BUCKETS))
            self.batch_buckets[index] += 1
            self.batch_sum += seconds
            self.batches += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"accepted": dict(self.accepted), "last_seen": dict(self.last_seen),
                    "alerts": dict(self.alerts), "buckets": list(self.batch_buckets),
                    "sum": self.batch_sum, "count": self.batches}


@dataclass(frozen=True, slots=True)
class ListenerView:
    """What a syslog listener counts, read at scrape time."""

    tenant: str
    received: int
    rejected: int
    dropped: int
    connections: int


@dataclass(frozen=True, slots=True)
class WorkerView:
    """A NATS worker's last heartbeat, as ``hygie serve`` read it. ``state`` is ``up``,
    ``silent`` (no heartbeat for three of its periods: dead, hung, or cut off) or
    ``stopped`` (it said so when it stopped)."""

    name: str
    state: str
    last_seen: float  # POSIX seconds of its last heartbeat
    records: int = 0  # messages taken from the records stream and acknowledged
    batches: int = 0
    failures: int = 0
    events: int = 0
    quarantined: int = 0
    redelivered: int = 0
    feeds: int = 0
    rules: int = 0
    rule_errors: int = 0
    alerts: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BusView:
    """NATS mode: the workers and the correlation stage, read at scrape time."""

    workers: Sequence[WorkerView] = ()
    correlation_feeds: int = 0  # base-rule matches the correlation stage has read
    correlation_alerts: dict[tuple[str, str], int] = field(default_factory=dict)
    correlation_backlog: int = 0  # feeds waiting for the correlation stage


@dataclass(frozen=True, slots=True)
class ServiceView:
    """Gauges and counters owned by other parts, read at scrape time."""

    bus_depth: int
    bus_oldest_age_s: float | None
    events: int
    quarantined: int
    redelivered: int
    rules: int
    rule_errors: int
    collectors_waiting: int
    listeners: Sequence[ListenerView]
    rejects_not_quarantined: int = 0
    bus: BusView | None = None  # NATS mode only


class ServiceMetrics(Collector):
    """A Prometheus collector over the service's own counters and a view of the rest."""

    def __init__(self, counters: PipelineCounters, view: Callable[[], ServiceView]) -> None:
        self.counters = counters
        self.view = view
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def collect(self) -> Iterable[Any]:
        snap = self.counters.snapshot()
        view = self.view()
        accepted = CounterMetricFamily("hygie_records_accepted", "Records accepted by the "
                                       "collectors (durable on the bus)", labels=["tenant", "collector"])
        last = GaugeMetricFamily("hygie_records_last_accepted_timestamp_seconds", "When the "
                                 "last record of this tenant and collector type was accepted "
                                 "(a silent collector shows here)", labels=["tenant", "collector"])
        for (tenant, kind), count in sorted(snap["accepted"].items()):
            accepted.add_metric([tenant, kind], count)
            last.add_metric([tenant, kind], snap["last_seen"][(tenant, kind)])
        alerts = CounterMetricFamily("hygie_alerts", "Alerts raised by detection (before "
                                     "grouping)", labels=["tenant", "level"])
        bus = view.bus
        workers = bus.workers if bus is not None else ()
        alert_totals: dict[tuple[str, str], int] = defaultdict(int, snap["alerts"])
        for source in [*(w.alerts for w in workers), bus.correlation_alerts if bus else {}]:
            for key, count in source.items():
                alert_totals[key] += count
        for (tenant, level), count in sorted(alert_totals.items()):
            alerts.add_metric([tenant, level], count)
        yield from (accepted, last, alerts)
        yield _counter("hygie_events_detected", "Records parsed and run through the rules "
                       "(NATS mode: by all workers)", view.events + sum(w.events for w in workers))
        yield _counter("hygie_records_quarantined", "Records the parsers refused (kept with "
                       "their reason)", view.quarantined + sum(w.quarantined for w in workers))
        yield _counter("hygie_records_redelivered", "Records the bus delivered again and "
                       "detection skipped", view.redelivered + sum(w.redelivered for w in workers))
        if bus is not None:
            yield from _bus_metrics(bus)
        yield _counter("hygie_rejects_not_quarantined", "Messages collectors rejected that "
                       "could not be quarantined (a flood beyond the queue, or the store down)",
                       view.rejects_not_quarantined)
        yield _gauge("hygie_bus_depth", "Records accepted and not yet through detection (how "
                     "far behind detection is)", view.bus_depth)
        yield _gauge("hygie_bus_oldest_record_age_seconds", "Age of the oldest record waiting "
                     "for detection (0 when none waits; NaN in NATS mode)", view.bus_oldest_age_s or 0.0)
        yield _gauge("hygie_collectors_waiting", "Collector hand-overs held back because the "
                     "bus is full (backpressure)", view.collectors_waiting)
        yield _gauge("hygie_rules_loaded", "Sigma rules and correlations loaded", view.rules)
        yield _gauge("hygie_rule_load_errors", "Rule files that failed to load", view.rule_errors)
        yield from _listener_metrics(view.listeners)
        histogram = HistogramMetricFamily("hygie_detect_batch_seconds", "Time from the start "
                                          "of a batch's detection until it is stored")
        cumulative, buckets = 0, []
        for bound, count in zip((*BATCH_BUCKETS, float("inf")), snap["buckets"]):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        histogram.add_metric([], buckets, snap["sum"])
        yield histogram


WORKER_COUNTERS = (  # WorkerView attribute, metric name, help
    ("events", "hygie_worker_records_detected", "Records this worker parsed and ran through the rules"),
    ("quarantined", "hygie_worker_records_quarantined", "Records this worker quarantined"),
    ("redelivered", "hygie_worker_records_redelivered", "Records delivered again that this "
     "worker skipped (already stored)"),
    ("records", "hygie_worker_messages_acknowledged", "Records stream messages this worker "
     "processed and acknowledged"),
    ("batches", "hygie_worker_batches", "Batches this worker processed"),
    ("failures", "hygie_worker_batch_failures", "Batches that failed on this worker (handed back)"),
    ("feeds", "hygie_worker_correlation_feeds", "Base-rule matches this worker sent to the "
     "correlation stage"),
)


def _bus_metrics(bus: BusView) -> Iterable[Any]:
    """The workers' heartbeats (one label, ``worker``) and the correlation stage."""
    workers = sorted(bus.workers, key=lambda w: w.name)
    for attribute, name, documentation in WORKER_COUNTERS:
        family = CounterMetricFamily(name, documentation, labels=["worker"])
        for worker in workers:
            family.add_metric([worker.name], getattr(worker, attribute))
        yield family
    alerts = CounterMetricFamily("hygie_worker_alerts", "Alerts this worker raised (before "
                                 "grouping)", labels=["worker", "tenant", "level"])
    rules = GaugeMetricFamily("hygie_worker_rules_loaded", "Sigma rules and correlations this "
                              "worker loaded", labels=["worker"])
    errors = GaugeMetricFamily("hygie_worker_rule_load_errors", "Rule files this worker failed "
                               "to load", labels=["worker"])
    seen = GaugeMetricFamily("hygie_worker_last_heartbeat_timestamp_seconds", "When this "
                             "worker last reported (a silent worker shows here)", labels=["worker"])
    up = GaugeMetricFamily("hygie_worker_up", "1 while this worker reports on time; 0 when it "
                           "is silent (three heartbeats missed) or stopped", labels=["worker"])
    for worker in workers:
        for (tenant, level), count in sorted(worker.alerts.items()):
            alerts.add_metric([worker.name, tenant, level], count)
        rules.add_metric([worker.name], worker.rules)
        errors.add_metric([worker.name], worker.rule_errors)
        seen.add_metric([worker.name], worker.last_seen)
        up.add_metric([worker.name], 1.0 if worker.state == "up" else 0.0)
    states = GaugeMetricFamily("hygie_workers", "Workers known from their heartbeats, by state",
                               labels=["state"])
    for state in ("up", "silent", "stopped"):
        states.add_metric([state], sum(1 for w in workers if w.state == state))
    yield from (alerts, rules, errors, seen, up, states)
    yield _counter("hygie_correlation_feeds", "Base-rule matches the correlation stage read "
                   "(NATS mode)", bus.correlation_feeds)
    yield _gauge("hygie_correlation_backlog", "Base-rule matches waiting for the correlation "
                 "stage (NATS mode)", bus.correlation_backlog)


def _listener_metrics(listeners: Sequence[ListenerView]) -> Iterable[Any]:
    by_tenant: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for listener in listeners:
        totals = by_tenant[listener.tenant]
        for index, value in enumerate((listener.received, listener.rejected, listener.dropped,
                                       listener.connections)):
            totals[index] += value
    families = (
        CounterMetricFamily("hygie_syslog_received", "Syslog messages received",
                            labels=["tenant"]),
        CounterMetricFamily("hygie_syslog_rejected", "Syslog messages refused by framing "
                            "(quarantined)", labels=["tenant"]),
        CounterMetricFamily("hygie_syslog_dropped", "UDP datagrams lost to a full queue",
                            labels=["tenant"]),
        GaugeMetricFamily("hygie_syslog_connections", "Open syslog TCP/TLS connections",
                          labels=["tenant"]),
    )
    for tenant, totals in sorted(by_tenant.items()):
        for family, value in zip(families, totals):
            family.add_metric([tenant], value)
    yield from families


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
