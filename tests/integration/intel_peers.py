"""Peers for the threat-intelligence tests, all on 127.0.0.1: a static HTTP server (MISP feed,
STIX bundle), a real TAXII 2.1 server (medallion, memory backend, run as a subprocess), and a
small stand-in for a MISP instance's REST API (no real MISP is run: it answers the endpoints
PyMISP calls with JSON shaped as MISP documents it)."""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from tests.integration.http_json import send_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "intel"
TAXII_USER, TAXII_PASSWORD = "hygie", "taxii-test-password"
COLLECTION = "365fed99-08fa-fdcd-a1b3-fb247eb41d01"
MISP_KEY = "k" * 40


class _Quiet:
    def log_message(self, *_args: Any) -> None:  # noqa: D401 - keep test output clean
        pass


class StaticHandler(_Quiet, SimpleHTTPRequestHandler):
    pass


@contextlib.contextmanager
def static_server(folder: Path = FIXTURES) -> Iterator[str]:
    """Serves ``folder`` over HTTP; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(StaticHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def medallion_server(tmp: Path) -> Iterator[str]:
    """A real TAXII 2.1 server (medallion) with one readable and writable collection; yields
    the collection's URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    config = {
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": str(tmp / "taxii-data.json")},
        "users": {TAXII_USER: TAXII_PASSWORD},
        "taxii": {"max_page_size": 100},
    }
    data = {
        "/discovery": {"title": "Hygie test TAXII server", "description": "medallion on loopback",
                       "default": f"{base}/hospitals/", "api_roots": [f"{base}/hospitals/"]},
        "hospitals": {
            "information": {"title": "Regional CERT", "description": "indicators for hospitals",
                            "versions": ["application/taxii+json;version=2.1"],
                            "max_content_length": 10485760},
            "status": [],
            "collections": [{"id": COLLECTION, "title": "Indicators", "description": "shared IOCs",
                             "can_read": True, "can_write": True,
                             "media_types": ["application/stix+json;version=2.1"],
                             "objects": [], "manifest": []}],
        },
    }
    (tmp / "taxii-data.json").write_text(json.dumps(data))
    (tmp / "taxii-config.json").write_text(json.dumps(config))
    process = subprocess.Popen([sys.executable, "-m", "medallion.scripts.run", "--host", "127.0.0.1",
                                "--port", str(port), str(tmp / "taxii-config.json")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"medallion did not start: {process.stderr.read().decode()[-2000:]}")
            time.sleep(0.1)
        yield f"{base}/hospitals/collections/{COLLECTION}/"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _feed_events() -> list[dict[str, Any]]:
    folder = FIXTURES / "misp-feed"
    out = []
    for path in sorted(folder.glob("*.json")):
        if path.name == "manifest.json":
            continue
        try:
            out.append(json.loads(path.read_text()))
        except json.JSONDecodeError:
            continue
    return out


class FakeMisp:
    """Answers ``/servers/getVersion``, ``/users/view/me``, ``/events/restSearch``,
    ``/attributes/restSearch`` and ``/events/add`` as MISP 2.5 does (response shapes from
    MISP's OpenAPI documentation), from the fixture feed's events; records each request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, dict[str, Any], dict[str, str]]] = []
        self.added: list[dict[str, Any]] = []

    def answer(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        path = path.split("?", 1)[0].rstrip("/")
        if path == "/servers/getVersion":
            return 200, {"version": "2.5.2", "pymisp_recommended_version": "2.5.2",
                         "perm_sync": False, "perm_sighting": True, "perm_galaxy_editor": False,
                         "request_encoding": ["gzip", "br"], "filter_sightings": True}
        if path == "/users/view/me":
            return 200, {"User": {"id": "3", "email": "soc@chsa.example", "org_id": "2",
                                  "role_id": "3", "disabled": False},
                         "Role": {"id": "3", "name": "User", "perm_auth": True},
                         "UserSetting": {}, "Organisation": {"id": "2", "name": "CHSA"}}
        if path == "/events/restSearch":
            events = _feed_events()
            if body.get("to_ids") in (True, 1, "1"):
                for doc in events:
                    doc["Event"]["Attribute"] = [a for a in doc["Event"].get("Attribute", [])
                                                 if a.get("to_ids")]
            return 200, {"response": events}
        if path == "/attributes/restSearch":
            attributes = []
            for doc in _feed_events():
                event = doc["Event"]
                summary = {k: event[k] for k in ("id", "uuid", "info", "threat_level_id",
                                                  "orgc_id", "date") if k in event}
                objects = [a for o in event.get("Object", []) for a in o.get("Attribute", [])]
                for attribute in event.get("Attribute", []) + objects:
                    if body.get("to_ids") in (True, 1, "1") and not attribute.get("to_ids"):
                        continue
                    tags = attribute.get("Tag", []) + (event.get("Tag", []) if body.get("includeEventTags")
                                                       in (True, 1, "1") else [])
                    attributes.append(attribute | {"Event": summary, "Tag": tags})
            return 200, {"response": {"Attribute": attributes}}
        if path == "/events/add" and method == "POST":
            event = body.get("Event", body)
            self.added.append(event)
            return 200, {"Event": event | {"id": str(100 + len(self.added)), "published": False}}
        return 404, {"name": "Not Found", "message": "Not Found", "url": path}


@contextlib.contextmanager
def fake_misp() -> Iterator[tuple[str, FakeMisp]]:
    misp = FakeMisp()

    class Handler(_Quiet, BaseHTTPRequestHandler):
        def _reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw.strip() else {}
            misp.requests.append((method, self.path, body, dict(self.headers)))
            if self.headers.get("Authorization") != MISP_KEY:
                status, answer = 403, {"name": "Authentication failed.", "message": "Authentication failed."}
            else:
                status, answer = misp.answer(method, self.path, body)
            send_json(self, status, answer)

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._reply("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._reply("POST")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", misp
    finally:
        server.shutdown()
        server.server_close()
