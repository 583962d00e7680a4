"""``hygie serve`` with syslog listeners, for real: UDP and TCP sockets on 127.0.0.1, one tenant
per socket, group-committed into the spool, detected, alerts stored; framing errors
quarantined; a full spool slows TCP senders instead of losing their records."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import orjson
import pytest

from tests.integration.serve_util import start_service, stop_service, wait_until

from hygie.pipeline.collectors import CollectorSpecError, SyslogSpec, WatchSpec
from hygie.pipeline.service import Service, ServiceConfig


def _log_cleared(host: str, n: int) -> bytes:
    """An NXLog-style JSON body over RFC 5424: Security 1102, the log was cleared."""
    body = orjson.dumps({"EventID": 1102, "Channel": "Security", "Hostname": host,
                         "Provider_Name": "Microsoft-Windows-Eventlog",
                         "SubjectUserName": f"user{n}", "EventTime": "2026-11-23 03:12:00"})
    return b"<134>1 2026-11-23T03:12:00Z " + host.encode() + b" nxlog - - - " + body


def test_udp_and_tcp_listeners_serve_their_own_tenant(tmp_path, pack_engine) -> None:
    config = ServiceConfig(
        data_dir=tmp_path, http_port=0, tenants=["chu-a"],
        syslog=[SyslogSpec("chu-a", "udp", "127.0.0.1", 0),
                SyslogSpec("chu-b", "tcp", "127.0.0.1", 0)])
    svc, thread = start_service(config, pack_engine)
    try:
        udp, tcp = svc.listeners
        assert (udp.tenant, tcp.tenant) == ("chu-a", "chu-b")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for n in range(20):
                sender.sendto(_log_cleared("dc01", n), ("127.0.0.1", udp.port))
        with socket.create_connection(("127.0.0.1", tcp.port)) as stream:
            frames = b"".join(_log_cleared("dc02", n) + b"\n" for n in range(50))
            huge = b"<134>1 - h app - - - " + b"x" * 70_000  # over the 64 KiB message limit
            stream.sendall(frames + f"{len(huge)} ".encode() + huge)
        wait_until(lambda: svc.stage.events >= 70 and svc.spool.depth == 0)
        alerts_a = svc.state.alerts(["chu-a"], limit=100)
        alerts_b = svc.state.alerts(["chu-b"], limit=100)
        assert {row.host for row in alerts_a} == {"dc01"}
        assert {row.host for row in alerts_b} == {"dc02"}
        assert sum(row.count for row in alerts_b) == 50  # grouped: one row per host and window
        assert all(row.source.startswith("syslog/") for row in alerts_a + alerts_b)
        wait_until(lambda: bool(svc.state.quarantine(["chu-b"])))
        [rejected] = svc.state.quarantine(["chu-b"])
        assert "rejected by the collector" in rejected.reason and "limit" in rejected.reason
        assert svc.state.quarantine(["chu-a"]) == []
        assert svc.intake is not None and svc.intake.commits >= 1
        metrics = _metrics(svc)
        assert metrics[("hygie_records_accepted_total", (("collector", "syslog"), ("tenant", "chu-a")))] == 20
        assert metrics[("hygie_records_accepted_total", (("collector", "syslog"), ("tenant", "chu-b")))] == 50
        assert metrics[("hygie_syslog_rejected_total", (("tenant", "chu-b"),))] == 1
        assert metrics[("hygie_events_detected_total", ())] == 70
        assert metrics[("hygie_bus_depth", ())] == 0
        assert metrics[("hygie_alerts_total", (("level", "high"), ("tenant", "chu-b")))] == 50
        assert metrics[("hygie_detect_batch_seconds_count", ())] >= 1
        last = metrics[("hygie_records_last_accepted_timestamp_seconds",
                        (("collector", "syslog"), ("tenant", "chu-a")))]
        assert time.time() - 60 < last <= time.time()
    finally:
        stop_service(svc, thread)


def _metrics(svc: Service, token: str | None = None) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    answer = httpx.get(f"http://127.0.0.1:{svc.http_port}/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.text)
            for sample in family.samples}


def test_metrics_can_require_a_token_and_show_the_lag(tmp_path, pack_engine) -> None:
    from hygie.core.record import JSON, RawRecord

    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"],
                           metrics_token="s3cret-metrics")
    svc, thread = start_service(config, pack_engine)
    try:
        url = f"http://127.0.0.1:{svc.http_port}/metrics"
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
        svc.pause_detection()
        svc.accept([RawRecord("chu-a", "http:chu-a", JSON, b'{"EventID": 1}', time.time() - 30)])
        metrics = _metrics(svc, "s3cret-metrics")
        assert metrics[("hygie_bus_depth", ())] == 1
        assert metrics[("hygie_bus_oldest_record_age_seconds", ())] >= 30
        assert metrics[("hygie_rules_loaded", ())] == len(pack_engine.rules) + len(pack_engine.correlations)
        svc.resume_detection()
        wait_until(lambda: svc.spool.depth == 0)
        assert _metrics(svc, "s3cret-metrics")[("hygie_bus_oldest_record_age_seconds", ())] == 0
    finally:
        stop_service(svc, thread)


def test_a_full_spool_slows_tcp_senders_and_loses_nothing(tmp_path, pack_engine) -> None:
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"], max_spool=100,
                           syslog=[SyslogSpec("chu-a", "tcp", "127.0.0.1", 0)])
    svc, thread = start_service(config, pack_engine)
    try:
        svc.pause_detection()  # detection "falls behind": the spool fills to its bound
        total = 1_000
        with socket.create_connection(("127.0.0.1", svc.listeners[0].port)) as stream:
            stream.settimeout(30)
            sender = threading.Thread(target=stream.sendall, args=(b"".join(
                _log_cleared("dc03", n) + b"\n" for n in range(total)),))
            sender.start()
            wait_until(lambda: svc.spool.depth >= 100 and svc.intake.waiting > 0)
            # bounded by the limit plus one read's records; the rest waits in socket buffers
            assert svc.spool.depth < total // 2
            svc.resume_detection()
            sender.join(30)
        wait_until(lambda: svc.stage.events == total and svc.spool.depth == 0, timeout=60)
        assert sum(row.count for row in svc.state.alerts(["chu-a"], limit=100)) == total
    finally:
        stop_service(svc, thread)


def test_a_port_that_cannot_be_bound_stops_thestart_service(tmp_path, pack_engine) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ServiceConfig(data_dir=tmp_path, http_port=0,
                               syslog=[SyslogSpec("demo", "tcp", "127.0.0.1", port)])
        with pytest.raises(CollectorSpecError, match=f"cannot listen on tcp://127.0.0.1:{port}"):
            start_service(config, pack_engine)


@pytest.mark.parametrize("text, message", [
    ("ftp://127.0.0.1:514", "scheme"),
    ("udp://127.0.0.1", "HOST:PORT"),
    ("udp://127.0.0.1:99999", "out of range"),
    ("=udp://127.0.0.1:514", "empty tenant"),
])
def test_listener_options_are_checked_with_a_clear_message(text, message) -> None:
    with pytest.raises(CollectorSpecError, match=message):
        SyslogSpec.parse(text, "demo")


def test_listener_and_folder_options() -> None:
    assert SyslogSpec.parse("chu-a=tls://[::1]:6514", "demo") == SyslogSpec("chu-a", "tls", "::1", 6514)
    assert SyslogSpec.parse("udp://0.0.0.0:514", "demo").tenant == "demo"
    assert WatchSpec.parse("chu-b=/srv/exports", "demo").tenant == "chu-b"
    with pytest.raises(CollectorSpecError):
        WatchSpec.parse("chu-b=", "demo")


def test_identical_lines_sent_together_stay_distinct_records(tmp_path, pack_engine) -> None:
    """A firewall repeats the same line (same deny, same second): each is one event, and a
    count-based rule must see them all; HTTP and TCP syslog alike."""
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a"],
                           syslog=[SyslogSpec("chu-a", "tcp", "127.0.0.1", 0)])
    svc, thread = start_service(config, pack_engine)
    try:
        token = svc.state.create_ingest_token("chu-a")
        line = _log_cleared("dc09", 1)
        with socket.create_connection(("127.0.0.1", svc.listeners[0].port)) as stream:
            stream.sendall(line + b"\n" + line + b"\n" + line + b"\n")
        body = b'{"EventID": 7, "Channel": "Security"}\n' * 4
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", content=body,
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.json()["accepted"] == 4
        wait_until(lambda: svc.stage.events == 7 and svc.backlog == 0)
        assert svc.stage.redelivered == 0
        assert svc.events.count(["chu-a"], "*") == 7
        assert sum(row.count for row in svc.state.alerts(["chu-a"])) == 3
    finally:
        stop_service(svc, thread)


def test_an_http_port_in_use_stops_the_start_with_a_message(tmp_path, pack_engine) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = ServiceConfig(data_dir=tmp_path, http_port=port)
        with pytest.raises(CollectorSpecError, match=f"cannot listen on http://127.0.0.1:{port}"):
            start_service(config, pack_engine)


def test_a_flood_of_bad_frames_on_one_port_does_not_stall_the_others(tmp_path, pack_engine) -> None:
    """Rejected frames are quarantined in batches by one task, through a bounded queue: a
    sender pouring garbage on one tenant's port costs the others nothing noticeable."""
    config = ServiceConfig(data_dir=tmp_path, http_port=0, tenants=["chu-a", "chu-b"],
                           syslog=[SyslogSpec("chu-a", "tcp", "127.0.0.1", 0)])
    svc, thread = start_service(config, pack_engine)
    try:
        token = svc.state.create_ingest_token("chu-b")
        with socket.create_connection(("127.0.0.1", svc.listeners[0].port)) as stream:
            stream.sendall(b"1111111111 \n" * 30_000)  # each one a bad octet count
        wait_until(lambda: svc.listeners[0].rejected >= 1_000)
        started = time.monotonic()
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", timeout=30,
                            content=b'{"EventID": 1}', headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200 and time.monotonic() - started < 5
        wait_until(lambda: svc.listeners[0].rejected == 30_000)
        rejected = svc.listeners[0].rejected

        def accounted() -> bool:  # each rejection quarantined, or counted as not
            stored = len(svc.state.quarantine(["chu-a"], limit=100_000))
            return stored + svc.rejects_dropped == rejected

        wait_until(accounted, timeout=60)
        assert rejected == 30_000 and svc.rejects_dropped < rejected
        assert svc.state.quarantine(["chu-b"]) == []
    finally:
        stop_service(svc, thread)
