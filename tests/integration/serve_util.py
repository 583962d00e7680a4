"""Running the real embedded service in a test: on its own thread and event loop, on free
ports of 127.0.0.1, stopped and closed afterwards."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import orjson

from hygie.detect.engine import Engine
from hygie.pipeline.service import Service, ServiceConfig

DEMO = Path(__file__).resolve().parents[2] / "src" / "hygie" / "demo" / "hospital_morning.jsonl"


def demo_lines() -> tuple[list[bytes], list[bytes]]:
    """The demo data set's lines, valid and not (it holds a truncated line on purpose)."""
    good, bad = [], []
    for line in DEMO.read_bytes().splitlines():
        try:
            orjson.loads(line)
            good.append(line)
        except orjson.JSONDecodeError:
            bad.append(line)
    return good, bad


def start_service(config: ServiceConfig, engine: Engine):
    svc = Service(config, engine)
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            ready = asyncio.Event()
            task = asyncio.create_task(svc.run(ready))
            await asyncio.wait([task, asyncio.create_task(ready.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                started.set()
            await task
        try:
            asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failure.append(exc)
        started.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(20), "service did not start"
    if failure:
        raise failure[0]
    return svc, thread


def stop_service(svc: Service, thread: threading.Thread) -> None:
    svc.stop()
    thread.join(20)
    svc.close()


def wait_until(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert predicate(), "condition not reached in time"
