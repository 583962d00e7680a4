"""Rules reload without restart, for real: a ``hygie serve`` process, ``hygie rules reload``
(SIGHUP), a new rule that fires afterwards, a broken rule reported with its file while the
others load, and the old rules kept when loading fails."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
RULE = """title: Test rule {n}
id: 6a1d0c0e-0000-4000-8000-00000000000{n}
logsource: {{product: windows, service: security}}
detection:
    selection: {{EventID: {event_id}}}
    condition: selection
level: high
"""


def _hygie(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "hygie"), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.fixture()
def served(tmp_path):
    """A real 'hygie serve' on a free port with one rule; yields (process, url, token, dirs)."""
    rules, data = tmp_path / "rules", tmp_path / "data"
    rules.mkdir()
    (rules / "one.yml").write_text(RULE.format(n=1, event_id=4242))
    token = _hygie("token", "chu-a", "--data-dir", str(data)).stdout.strip()
    process = subprocess.Popen(
        [str(BIN / "hygie"), "serve", "--data-dir", str(data), "--rules", str(rules),
         "--tenant", "chu-a", "--http", "127.0.0.1:0", "--console", "off"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:  # bounded: the start-up banner gives the port
        line = process.stdout.readline()
        found = re.search(r"POST (http://127\.0\.0\.1:\d+)/ingest", line)
        if found:
            url = found.group(1)
            break
        if not line and process.poll() is not None:
            break
    assert url, "hygie serve did not start"
    yield process, url, token, rules, data
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def _alerts_for(data: Path, event_id: int, timeout: float = 20) -> int:
    """Alerts of the test rule matching ``event_id`` (read from the state store)."""
    from hygie.store.state.db import open_database, sqlite_dsn
    from hygie.store.state.store import StateStore

    store = StateStore(open_database(sqlite_dsn(data / "state.db")))
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = sum(1 for row in store.alerts(["chu-a"], 100) if row.event.get("EventID") == event_id)
        if count:
            break
        time.sleep(0.1)
    store.engine.dispose()
    return count


def _send(url: str, token: str, event_id: int, n: int) -> None:
    body = (f'{{"EventID": {event_id}, "Channel": "Security", "Hostname": "pc{n}", '
            f'"EventTime": "2026-11-23 10:00:0{n}"}}')
    answer = httpx.post(f"{url}/ingest", content=body, headers={"Authorization": f"Bearer {token}"})
    assert answer.json()["accepted"] == 1


def test_reload_adds_rules_and_reports_broken_ones(served) -> None:
    process, url, token, rules, data = served
    _send(url, token, 4243, 1)
    assert _alerts_for(data, 4243, timeout=2) == 0  # no rule for it yet
    (rules / "two.yml").write_text(RULE.format(n=2, event_id=4243))
    (rules / "broken.yml").write_text("title: broken\ndetection: [not, a, mapping\n")
    result = _hygie("rules", "reload", "--data-dir", str(data))
    assert result.returncode == 0, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "Reloaded" in output and "broken.yml" in output
    _send(url, token, 4243, 2)
    assert _alerts_for(data, 4243) == 1
    assert process.poll() is None


def test_a_failing_reload_keeps_the_old_rules(tmp_path) -> None:
    import orjson

    from hygie.detect.engine import Engine
    from hygie.pipeline.service import Service, ServiceConfig

    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "one.yml").write_text(RULE.format(n=1, event_id=4242))
    engine = Engine.from_paths([rules])
    attempts: list[int] = []

    def factory() -> Engine:
        attempts.append(1)
        raise OSError("rules folder on an unmounted share")

    service = Service(ServiceConfig(data_dir=tmp_path / "data", http_port=0, tenants=["chu-a"]),
                      engine, engine_factory=factory)
    try:
        assert service.request_reload()
        deadline = time.monotonic() + 20
        status_path = tmp_path / "data" / "rules-reload.json"
        while not status_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        status = orjson.loads(status_path.read_bytes())
        assert status["ok"] is False and "unmounted share" in status["error"]
        assert service.stage.engine is engine and attempts == [1]
        assert service.request_reload()  # the lock was released: a later reload may run
    finally:
        time.sleep(0.2)
        service.close()


def test_reload_without_a_running_service_says_so(tmp_path) -> None:
    result = _hygie("rules", "reload", "--data-dir", str(tmp_path))
    assert result.returncode == 1
    assert "No running 'hygie serve'" in result.stdout + result.stderr
