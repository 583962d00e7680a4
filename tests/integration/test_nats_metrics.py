"""Workers' detection counters in serve's ``/metrics`` (NATS mode), for real: a nats-server, a
``hygie worker`` process reporting its heartbeat, ``hygie serve``'s metrics endpoint. Per
worker, totals, and a worker killed with SIGKILL shown as silent, one stopped as stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hygie.bus.nats import NatsOptions
from hygie.core.record import JSON, RawRecord
from hygie.detect.engine import Engine
from hygie.pipeline.service import ServiceConfig
from tests.integration.nats_util import NatsServer, failed_logons, write_brute_force_rules
from tests.integration.serve_util import start_service, stop_service, wait_until

REPO = Path(__file__).resolve().parents[2]
USER_CREATED = """\
title: User account created (metrics test)
id: 5c0a1e00-0000-4000-8000-000000000003
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4720}, condition: selection}
level: medium
"""


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def _worker(url: str, data_dir: Path, rules: Path, name: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HYGIE_HOME": str(data_dir / "home"), "PYTHONPATH": str(REPO / "src")}
    return subprocess.Popen(
        [sys.executable, "-m", "hygie.cli.main", "worker", "--bus", url, "--data-dir", str(data_dir),
         "--rules", str(rules), "--batch", "50", "--name", name, "--heartbeat", "0.5"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env, cwd=REPO)


def _stop(process: subprocess.Popen[bytes], signum: int) -> int:
    if process.poll() is None:
        process.send_signal(signum)
        try:
            return process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait(5)


@pytest.fixture()
def nats_url(tmp_path):
    with NatsServer(tmp_path / "nats") as server:
        yield server.url


def test_serve_exports_each_workers_counters_and_totals(tmp_path, nats_url) -> None:
    rules = write_brute_force_rules(tmp_path / "rules")
    (rules / "user_created.yml").write_text(USER_CREATED, encoding="utf-8")
    config = ServiceConfig(data_dir=tmp_path / "serve", http_port=0, tenants=["chu-a"],
                           bus=NatsOptions(nats_url, connect_timeout=10))
    engine = Engine.from_paths([rules], include_packs=True)  # what 'hygie worker --rules' loads
    svc, thread = start_service(config, engine)
    log = tmp_path / "workers.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        created = [b'{"EventTime":"2026-11-20T07:30:0%dZ","Channel":"Security","EventID":4720,'
                   b'"Hostname":"DC1","TargetUserName":"x%d"}' % (i, i) for i in range(3)]
        lines = failed_logons(12) + created + [b"not json", b"{truncated"]
        svc.accept([RawRecord("chu-a", "http:chu-a", JSON, line, 1_790_000_000.0, None, seq)
                    for seq, line in enumerate(lines)])
        url = f"http://127.0.0.1:{svc.http_port}/metrics"
        processes.append(_worker(nats_url, config.data_dir, rules, "w-one", log))
        one = frozenset({("worker", "w-one")})

        def scraped() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
            return _samples(httpx.get(url, timeout=10).text)

        def done() -> bool:
            samples = scraped()
            return (samples.get(("hygie_worker_records_detected_total", one)) == 15
                    and samples.get(("hygie_alerts_total", frozenset({("tenant", "chu-a"),
                                                                      ("level", "high")}))) == 1)

        wait_until(done, 60)
        samples = scraped()
        chu_a = {("tenant", "chu-a")}
        assert samples[("hygie_worker_records_quarantined_total", one)] == 2
        assert samples[("hygie_worker_messages_acknowledged_total", one)] == 17
        assert samples[("hygie_worker_correlation_feeds_total", one)] == 12
        assert samples[("hygie_worker_alerts_total", one | chu_a | {("level", "medium")})] == 3
        assert samples[("hygie_worker_rules_loaded", one)] == len(engine.rules) + len(engine.correlations)
        assert samples[("hygie_worker_rule_load_errors", one)] == 0
        assert samples[("hygie_worker_up", one)] == 1
        assert samples[("hygie_workers", frozenset({("state", "up")}))] == 1
        assert samples[("hygie_worker_last_heartbeat_timestamp_seconds", one)] > 1_700_000_000
        # the totals include the workers (and serve's correlation stage, for the alerts)
        assert samples[("hygie_events_detected_total", frozenset())] == 15
        assert samples[("hygie_records_quarantined_total", frozenset())] == 2
        assert samples[("hygie_alerts_total", frozenset(chu_a | {("level", "medium")}))] == 3
        assert samples[("hygie_correlation_feeds_total", frozenset())] == 12

        assert _stop(processes[0], signal.SIGKILL) == -signal.SIGKILL  # no last word: silent
        wait_until(lambda: scraped().get(("hygie_worker_up", one)) == 0, 20)
        samples = scraped()
        assert samples[("hygie_workers", frozenset({("state", "silent")}))] == 1
        assert samples[("hygie_worker_records_detected_total", one)] == 15  # still counted

        processes.append(_worker(nats_url, config.data_dir, rules, "w-two", log))
        two = frozenset({("worker", "w-two")})
        wait_until(lambda: scraped().get(("hygie_worker_up", two)) == 1, 60)
        assert _stop(processes[1], signal.SIGTERM) == 0, log.read_text()[-3000:]
        wait_until(lambda: scraped().get(("hygie_workers", frozenset({("state", "stopped")}))) == 1, 20)
        samples = scraped()
        assert samples[("hygie_worker_up", two)] == 0
        assert samples[("hygie_workers", frozenset({("state", "up")}))] == 0
    finally:
        for process in processes:
            _stop(process, signal.SIGTERM)
        stop_service(svc, thread)
