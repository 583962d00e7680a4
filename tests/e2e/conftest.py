"""Browser tests: Debian's Chromium driven by Playwright, against a real console server
(uvicorn on 127.0.0.1) over a seeded state store."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest
import uvicorn

CHROMIUM = os.environ.get("HYGIE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    """Per module: Playwright's sync API keeps an event loop running on this thread while it
    is open, which would break every later test that calls asyncio.run()."""
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        message = f"Chromium not found at {CHROMIUM} ('make test' installs Debian's chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def serve_app():
    """Start an ASGI app on a free loopback port; yields a function app -> base URL."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app) -> str:  # type: ignore[no-untyped-def]
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                               lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        for _ in range(200):  # bounded: 10 s
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "console server did not start"
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(timeout=10)
