"""Real peers on 127.0.0.1 for the response connectors: an HTTP recorder (webhooks, tickets,
firewall and EDR REST, apprise json://, and an imitation of Wazuh's API), an SMTP server
(aiosmtpd), syslog receivers (UDP and TCP) and an OpenLDAP ``slapd`` with a throw-away
database. Each is started by a test and stopped at its end."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import socket
import socketserver
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from tests.integration.http_json import send_json

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
SCHEMAS = Path("/etc/ldap/schema")
BASE_DN = "dc=hopital,dc=test"
ADMIN_DN = f"cn=admin,{BASE_DN}"
# An AD-shaped attribute we control: AD's own OID and syntax for userAccountControl, carried by
# an auxiliary class, since OpenLDAP has no Active Directory schema
AD_SHAPE_SCHEMA = """attributetype ( 1.2.840.113556.1.4.8 NAME 'userAccountControl'
  EQUALITY integerMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
objectclass ( 1.3.6.1.4.1.99999.1.1 NAME 'hygieAdUser' AUXILIARY MAY ( userAccountControl ) )
"""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class HttpRecorder:
    """Records every request; checks webhook signatures with ``hmac_secret``; answers Wazuh's
    three calls like Wazuh 4.x does (shape taken from its API reference, not from a real one)."""

    hmac_secret: str = ""
    wazuh_user: str = "wazuh-api"
    wazuh_password: str = ""
    wazuh_agents: dict[str, str] = field(default_factory=dict)  # name -> id
    requests: list[Request] = field(default_factory=list)
    bad_signatures: int = 0
    seen_keys: set[str] = field(default_factory=set)
    delay: float = 0.0

    def start(self) -> HttpRecorder:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                recorder.requests.append(request)
                if recorder.delay:
                    time.sleep(recorder.delay)
                status, answer = recorder.answer(request)
                send_json(self, status, answer)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request: Request) -> tuple[int, Any]:
        if request.path == "/security/user/authenticate":
            expected = base64.b64encode(f"{self.wazuh_user}:{self.wazuh_password}".encode()).decode()
            if request.headers.get("authorization") != f"Basic {expected}":
                return 401, {"title": "Unauthorized", "error": 401}
            return 200, {"data": {"token": "wazuh-jwt-token"}, "error": 0}
        if request.path.startswith(("/agents", "/active-response")):
            if request.headers.get("authorization") != "Bearer wazuh-jwt-token":
                return 401, {"title": "Unauthorized", "error": 401}
            if request.method == "GET":
                name = request.path.split("name=")[1].split("&")[0] if "name=" in request.path else ""
                items = [{"id": i, "name": n} for n, i in self.wazuh_agents.items() if n == name]
                return 200, {"data": {"affected_items": items, "total_affected_items": len(items)}, "error": 0}
            agent = request.path.split("agents_list=")[1].split("&")[0]
            return 200, {"data": {"affected_items": [agent], "total_affected_items": 1, "failed_items": []},
                         "message": "AR command was sent to all agents", "error": 0}
        if self.hmac_secret and "x-hygie-signature" in request.headers:
            digest = hmac.new(self.hmac_secret.encode(),
                              request.headers["x-hygie-timestamp"].encode() + b"." + request.body,
                              hashlib.sha256).hexdigest()
            if not hmac.compare_digest(request.headers["x-hygie-signature"], f"sha256={digest}"):
                self.bad_signatures += 1
                return 401, {"error": "bad signature"}
        key = request.headers.get("idempotency-key", "")
        if key and request.method == "POST" and key in self.seen_keys and request.path == "/tickets":
            return 200, {"id": "TCK-1", "duplicate": True}
        self.seen_keys.add(key)
        if request.path == "/tickets":
            return 201, {"id": "TCK-1"}
        return 200, {"ok": True}

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


class _MailHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


class SmtpPeer:
    """aiosmtpd on a free port, with LOGIN/PLAIN authentication. ``tls`` (a server-side
    ``ssl.SSLContext``) with ``mode`` ``starttls``: STARTTLS offered and required before
    login or mail; ``implicit``: TLS from the first byte (SMTPS). Without it, login is allowed
    in clear."""

    def __init__(self, username: str = "hygie", password: str = "", tls: Any = None, mode: str = "starttls") -> None:
        self.handler = _MailHandler()
        self.port = free_port()
        self.logins: list[str] = []

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
            ok = isinstance(data, LoginPassword) and data.login.decode() == username and data.password.decode() == password
            self.logins.append(data.login.decode() if isinstance(data, LoginPassword) else "?")
            return AuthResult(success=ok)

        if tls is None:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                         authenticator=authenticate, auth_require_tls=False)
        elif mode == "starttls":
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                         tls_context=tls, require_starttls=True, auth_require_tls=True)
        else:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, authenticator=authenticate,
                                         ssl_context=tls, auth_require_tls=False)

    def start(self) -> SmtpPeer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    @property
    def messages(self) -> list[tuple[str, list[str], bytes]]:
        return self.handler.messages


class SyslogPeer:
    """A UDP socket and a TCP listener on 127.0.0.1 that keep what they receive."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(5)
        self.tcp_data: list[bytes] = []
        peer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                chunks = []
                while True:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
                peer.tcp_data.append(b"".join(chunks))

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.tcp.daemon_threads = True
        threading.Thread(target=self.tcp.serve_forever, daemon=True).start()

    @property
    def udp_port(self) -> int:
        return int(self.udp.getsockname()[1])

    @property
    def tcp_port(self) -> int:
        return int(self.tcp.server_address[1])

    def receive_udp(self) -> bytes:
        return self.udp.recvfrom(65536)[0]

    def stop(self) -> None:
        self.udp.close()
        self.tcp.shutdown()
        self.tcp.server_close()


class Slapd:
    """OpenLDAP's slapd from Debian, with an mdb database in ``folder`` and the core, cosine,
    inetorgperson and nis schemas plus the AD-shaped one above. With ``tls`` (certificate,
    key, CA as PEM files) it also answers LDAPS on ``tls_port`` and StartTLS on ``port``."""

    def __init__(self, folder: Path, password: str = "directory-admin-secret", tls: Any = None) -> None:
        self.folder, self.password, self.port = folder, password, free_port()
        self.tls, self.tls_port = tls, free_port() if tls is not None else 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}"

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> Slapd:
        (self.folder / "db").mkdir(parents=True, exist_ok=True)
        (self.folder / "ad-shape.schema").write_text(AD_SHAPE_SCHEMA)
        includes = "\n".join(f"include {SCHEMAS / name}.schema" for name in ("core", "cosine", "inetorgperson", "nis"))
        tls = "" if self.tls is None else (f"TLSCACertificateFile {self.tls.ca}\nTLSCertificateFile {self.tls.cert}\n"
                                           f"TLSCertificateKeyFile {self.tls.key}\n")
        (self.folder / "slapd.conf").write_text(
            f"{includes}\ninclude {self.folder / 'ad-shape.schema'}\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n{tls}"
            f"pidfile {self.folder / 'slapd.pid'}\ndatabase mdb\nsuffix \"{BASE_DN}\"\nrootdn \"{ADMIN_DN}\"\n"
            f"rootpw {self.password}\ndirectory {self.folder / 'db'}\nmaxsize 10485760\n")
        self.log = open(self.folder / "slapd.log", "wb")  # noqa: SIM115
        listen = f"{self.url}/" + (f" {self.ldaps_url}/" if self.tls is not None else "")
        self.process = subprocess.Popen([SLAPD, "-f", str(self.folder / "slapd.conf"), "-h", listen, "-d", "0"],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("slapd did not start: " + (self.folder / "slapd.log").read_text(errors="replace"))

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if hasattr(self, "log"):
            self.log.close()

    def seed(self) -> None:
        """ou=people with alice (inetOrgPerson + shadowAccount), bob (AD-shaped), carol; two
        privileged groups with alice in both, and one ordinary group."""
        from ldap3 import Connection, Server

        with Connection(Server(self.url), ADMIN_DN, self.password, auto_bind=True) as conn:
            conn.add(BASE_DN, ["dcObject", "organization"], {"o": "Hopital test", "dc": "hopital"})
            for ou in ("people", "groups"):
                conn.add(f"ou={ou},{BASE_DN}", ["organizationalUnit"], {"ou": ou})
            people = f"ou=people,{BASE_DN}"
            conn.add(f"uid=alice,{people}", ["inetOrgPerson"], {"cn": "Alice Martin", "sn": "Martin", "uid": "alice"})
            conn.add(f"uid=bob,{people}", ["inetOrgPerson", "hygieAdUser"],
                     {"cn": "Bob Durand", "sn": "Durand", "uid": "bob", "userAccountControl": "512"})
            conn.add(f"uid=carol,{people}", ["inetOrgPerson"], {"cn": "Carol", "sn": "Petit", "uid": "carol"})
            for name, members in (("domain-admins", ["alice", "carol"]), ("pacs-admins", ["alice", "carol"]),
                                  ("nurses", ["alice", "carol"])):
                conn.add(f"cn={name},ou=groups,{BASE_DN}", ["groupOfNames"],
                         {"cn": name, "member": [f"uid={m},{people}" for m in members]})
            assert conn.result["result"] == 0, conn.result

    def entry(self, dn: str, attributes: list[str]) -> dict[str, Any]:
        from ldap3 import BASE, Connection, Server

        with Connection(Server(self.url), ADMIN_DN, self.password, auto_bind=True) as conn:
            conn.search(dn, "(objectClass=*)", BASE, attributes=attributes)
            return dict(conn.response[0]["attributes"])
