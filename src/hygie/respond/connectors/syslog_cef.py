"""Forwarding an event to another SIEM as CEF inside an RFC 5424 syslog message, over UDP
or TCP (RFC 6587 octet counting, or newline framing for receivers that want it)."""

from __future__ import annotations

import socket
from datetime import datetime, timezone

from hygie import __version__
from hygie.respond.connectors import texts
from hygie.respond.connectors.base import ActionContext, ConnectorError, Outcome

SEVERITIES = {"low": 3, "medium": 5, "high": 8, "critical": 10}


def _header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _extension(text: str) -> str:
    return (text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n"))


def cef(signature: str, name: str, severity: int, extensions: dict[str, str]) -> str:
    """One CEF:0 line (ArcSight CEF 25 escaping rules)."""
    ext = " ".join(f"{key}={_extension(str(value))}" for key, value in extensions.items())
    return (f"CEF:0|Hygie|Hygie|{_header(__version__)}|{_header(signature)}|{_header(name)}|"
            f"{severity}|{ext}")


def message(ctx: ActionContext, args: dict[str, str]) -> bytes:
    severity = SEVERITIES.get(args.get("severity", "medium"), 5)
    extensions = {"cs1Label": "tenant", "cs1": ctx.tenant, "cs2Label": "case", "cs2": str(ctx.case_id or ""),
                  "externalId": ctx.key}
    for key in ("src", "dst", "dhost", "suser", "msg"):
        if args.get(key):
            extensions[key] = args[key]
    body = cef(args.get("signature", "hygie-case"), args["name"], severity, extensions)
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    facility = int(ctx.settings.get("facility", 4))  # security/authorization
    pri = facility * 8 + (2 if severity >= 8 else 4 if severity >= 5 else 6)
    hostname = ctx.settings.get("hostname") or socket.gethostname()
    return f"<{pri}>1 {stamp} {hostname} hygie - cef - {body}".encode()


def forward(ctx: ActionContext, args: dict[str, str], dry_run: bool) -> Outcome:
    host, port = ctx.need("host"), int(ctx.need("port"))
    protocol = ctx.settings.get("protocol", "udp")
    data = message(ctx, args)
    if dry_run:
        return Outcome.said(True, "syslog.would_send", {"protocol": protocol, "host": host, "port": port},
                            {"message": data.decode()})
    try:
        if protocol == "udp":
            with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(ctx.timeout)
                sock.sendto(data, (host, port))
        elif protocol == "tcp":
            framed = data + b"\n" if ctx.settings.get("framing") == "newline" else b"%d %s" % (len(data), data)
            with socket.create_connection((host, port), timeout=ctx.timeout) as sock:
                sock.sendall(framed)
        else:
            raise texts.error(ConnectorError, "syslog.bad_protocol", protocol=repr(protocol))
    except OSError as exc:
        raise texts.error(ConnectorError, "syslog.error", protocol=protocol, host=host, port=port,
                          error=str(exc)) from exc
    return Outcome.said(True, "syslog.sent", {"protocol": protocol, "host": host, "port": port}, {"bytes": len(data)})
