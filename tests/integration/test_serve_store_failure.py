"""The store fails while ``hygie serve`` detects: nothing is lost and nothing counted twice.

The detect thread hands each batch to the ``hygie-store`` thread and detects the next one
meanwhile. Here the event store's folder is made unusable (a plain file where the folder
was: even root cannot create folders under it), then given back: every record must end up
stored once, with the same alerts as a run where nothing failed, and a record detected again
must not count twice in a correlation window.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import httpx
import orjson
from tests.integration.serve_util import demo_lines, start_service, stop_service

from hygie.pipeline.service import Service, ServiceConfig

MASS_STOP = "Mass Stop of Services on One Host"  # a correlation: 8 stops on a host in 5 min


def _service_stops(count: int) -> list[bytes]:
    """``count`` service stop commands on one host (ws-07), a second apart."""
    return [orjson.dumps({
        "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws-07",
        "Hostname": "ws-07", "EventTime": f"2026-11-24T03:00:{n:02d}Z",
        "Image": "C:\\Windows\\System32\\net.exe", "CommandLine": f"net stop Service{n}"})
        for n in range(count)]


def _send_demo(svc: Service) -> int:
    token = svc.state.create_ingest_token("chu-a")
    good, _bad = demo_lines()
    good = _service_stops(1) + good  # first: in the first batch, which fails
    for start in range(0, len(good), 50):  # several batches, so that detection overlaps storing
        answer = httpx.post(f"http://127.0.0.1:{svc.http_port}/ingest", timeout=30,
                            content=b"\n".join(good[start:start + 50]),
                            headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
    return len(good)


def _wait(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _alerts(svc: Service) -> collections.Counter[tuple[str, str | None]]:
    return collections.Counter((row.rule_id, row.host) for row in svc.state.alerts(["chu-a"], 10_000))


def _stop_window(svc: Service) -> int:
    """How many stops the mass-stop correlation's window of ws-07 holds."""
    correlator = svc.stage.correlators.get("chu-a")
    windows = list(correlator.windows.items()) if correlator is not None else []
    return max((len(window.entries) for (_rule, group), window in windows if group == ("ws-07",)),
               default=0)


def _events(svc: Service) -> int:
    return svc.events.count(["chu-a"], "*")


def test_eight_of_these_stops_do_raise_the_correlation(pack_engine) -> None:
    """The premise of the test below: the records feed the mass-stop correlation."""
    from hygie.core.record import JSON, RawRecord
    from hygie.normalize.healthcare import PatientPolicy
    from hygie.normalize.records import record_to_event

    policy = PatientPolicy(b"s" * 32)
    correlator = pack_engine.new_correlator()
    titles = [alert.title for line in _service_stops(8)
              for alert in pack_engine.match_event(
                  record_to_event(RawRecord("chu-a", "test", JSON, line, 0.0), policy), correlator)]
    titles += [alert.title for alert in pack_engine.flush(correlator)]
    assert MASS_STOP in titles


def test_batches_that_fail_to_be_stored_come_back_and_are_stored_once(tmp_path: Path,
                                                                      pack_engine) -> None:
    reference_svc, thread = start_service(
        ServiceConfig(data_dir=tmp_path / "reference", http_port=0, tenants=["chu-a"], batch=40),
        pack_engine)
    try:
        sent = _send_demo(reference_svc)
        assert _wait(lambda: reference_svc.spool.depth == 0)
        expected_alerts, expected_events = _alerts(reference_svc), _events(reference_svc)
    finally:
        stop_service(reference_svc, thread)
    assert expected_events == sent and sum(expected_alerts.values()) > 0

    data = tmp_path / "failing"
    svc, thread = start_service(ServiceConfig(data_dir=data, http_port=0, tenants=["chu-a"],
                                              batch=40), pack_engine)
    try:
        events_dir = data / "events"
        aside = data / "events-aside"
        events_dir.rename(aside)
        events_dir.write_bytes(b"")  # a file where the event store's folder was
        _send_demo(svc)
        # batches are detected and fail to be stored: they stay in the spool. Chunks of 50
        # records, one per batch: at most three are detected before the first give-back, so
        # the fourth batch is the first one again, and the stop in it is detected again.
        assert _wait(lambda: svc.stage.events >= 4 * 50)
        assert svc.spool.depth == sent and svc.counters.batches == 0
        assert _stop_window(svc) <= 1  # the windows restarted: the stop is not counted twice
        events_dir.unlink()
        aside.rename(events_dir)
        assert _wait(lambda: svc.spool.depth == 0), "the batches never came back"
        assert _events(svc) == sent
        assert _alerts(svc) == expected_alerts
        assert svc.stage.events > sent  # some records were indeed detected twice
    finally:
        stop_service(svc, thread)
