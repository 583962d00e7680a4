"""Prometheus metrics of the service: what came in, what came out, how far behind it is.

The numbers a hospital's IT lead needs at 3 a.m.: is each collector still receiving (a silent
firewall is the first sign of trouble), is detection keeping up (bus depth and the age of the
oldest waiting record), what was refused or quarantined, how many alerts. Counters that other
parts already keep (listeners, detection stage, bus) are read at scrape time rather than
copied, so there is one source of truth for each number.

Labels stay low in cardinality: tenant, the collector type (``http``, ``syslog``, ``folder``),
and the alert level; never a file name, a host or a peer address.
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
        for (tenant, level), count in sorted(snap["alerts"].items()):
            alerts.add_metric([tenant, level], count)
        yield from (accepted, last, alerts)
        yield _counter("hygie_events_detected", "Records parsed and run through the rules",
                       view.events)
        yield _counter("hygie_records_quarantined", "Records the parsers refused (kept with "
                       "their reason)", view.quarantined)
        yield _counter("hygie_records_redelivered", "Records the bus delivered again and "
                       "detection skipped", view.redelivered)
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
        histogram = HistogramMetricFamily("hygie_detect_batch_seconds", "Time to detect and "
                                          "store one batch")
        cumulative, buckets = 0, []
        for bound, count in zip((*BATCH_BUCKETS, float("inf")), snap["buckets"]):
            cumulative += count
            buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
        histogram.add_metric([], buckets, snap["sum"])
        yield histogram


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
