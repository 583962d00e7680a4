"""Which collectors a service runs, from the operator's words: ``TENANT=udp://HOST:PORT``.

One syslog socket serves one tenant (a hospital's firewall, VPN and PACS send to the port of
their hospital), so the tenant comes from the socket, never from what a sender writes.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hygie.sources.folder import FolderCollector
from hygie.sources.http_ingest import Accept
from hygie.sources.syslog.listeners import BatchSink, RejectHook, SyslogListener, server_ssl_context

log = logging.getLogger("hygie.collectors")
TRANSPORTS = ("udp", "tcp", "tls")


class CollectorSpecError(ValueError):
    """A collector option the operator must correct (the message says how)."""


def _tenant_and_rest(text: str, default_tenant: str) -> tuple[str, str]:
    """``TENANT=rest`` split; without ``=``, the default tenant and the whole text."""
    tenant, sep, rest = text.partition("=")
    return (tenant, rest) if sep else (default_tenant, text)


@dataclass(frozen=True, slots=True)
class SyslogSpec:
    tenant: str
    transport: str  # udp, tcp or tls
    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_tenant: str) -> SyslogSpec:
        """``[TENANT=]udp|tcp|tls://HOST:PORT``; an IPv6 host goes in brackets."""
        tenant, url = _tenant_and_rest(text, default_tenant)
        parts = urlsplit(url.strip())
        if parts.scheme not in TRANSPORTS:
            raise CollectorSpecError(f"syslog listener {text!r}: the scheme must be one of "
                                     f"{', '.join(TRANSPORTS)} (e.g. demo=udp://127.0.0.1:5514)")
        try:
            port = parts.port
        except ValueError as exc:
            raise CollectorSpecError(f"syslog listener {text!r}: {exc}") from None
        if not parts.hostname or port is None or parts.path not in ("", "/"):
            raise CollectorSpecError(f"syslog listener {text!r}: write {parts.scheme}://HOST:PORT")
        if not tenant.strip():
            raise CollectorSpecError(f"syslog listener {text!r}: empty tenant before '='")
        return cls(tenant.strip(), parts.scheme, parts.hostname, port)


@dataclass(frozen=True, slots=True)
class WatchSpec:
    tenant: str
    directory: Path

    @classmethod
    def parse(cls, text: str, default_tenant: str) -> WatchSpec:
        """``[TENANT=]DIRECTORY``."""
        tenant, path = _tenant_and_rest(text, default_tenant)
        if not path.strip() or not tenant.strip():
            raise CollectorSpecError(f"watched folder {text!r}: write TENANT=DIRECTORY")
        return cls(tenant.strip(), Path(path.strip()).expanduser())


@dataclass(frozen=True, slots=True)
class TlsFiles:
    certfile: str
    keyfile: str
    cafile: str | None = None  # clients must present a certificate signed by it

    def context(self) -> ssl.SSLContext:
        try:
            return server_ssl_context(self.certfile, self.keyfile, self.cafile)
        except (OSError, ssl.SSLError) as exc:
            raise CollectorSpecError(f"TLS certificate or key not usable: {exc}") from exc


async def start_syslog(specs: list[SyslogSpec], sink: BatchSink, on_reject: RejectHook,
                       tls: TlsFiles | None) -> list[SyslogListener]:
    """Bind every listener, or none: a port that cannot be bound stops the start-up."""
    if any(spec.transport == "tls" for spec in specs) and tls is None:
        raise CollectorSpecError("a tls:// syslog listener needs --tls-cert and --tls-key")
    context = tls.context() if tls is not None and any(s.transport == "tls" for s in specs) else None
    listeners: list[SyslogListener] = []
    try:
        for spec in specs:
            listener = SyslogListener(spec.tenant, batch_sink=sink, on_reject=on_reject)
            if spec.transport == "udp":
                await listener.start_udp(spec.host, spec.port)
            else:
                await listener.start_tcp(spec.host, spec.port,
                                         context if spec.transport == "tls" else None)
            listeners.append(listener)
    except OSError as exc:
        await asyncio.gather(*(listener.stop() for listener in listeners))
        raise CollectorSpecError(f"cannot listen on {spec.transport}://{spec.host}:{spec.port}: "
                                 f"{exc.strerror or exc}") from exc
    return listeners


class Folders:
    """The watched folders of a service, each polled by its own task until ``stop``."""

    def __init__(self, specs: list[WatchSpec], accept: Accept, ledger_dir: Path) -> None:
        missing = [str(spec.directory) for spec in specs if not spec.directory.is_dir()]
        if missing:
            raise CollectorSpecError(f"watched folder not found: {', '.join(missing)}")
        for one in specs:  # a file must belong to one tenant only
            for other in specs:
                if one is not other and one.directory.resolve().is_relative_to(
                        other.directory.resolve()):
                    raise CollectorSpecError(
                        f"watched folder {one.directory} ({one.tenant}) lies inside "
                        f"{other.directory} ({other.tenant}): its files would be read twice")
        ledger_dir.mkdir(parents=True, exist_ok=True)
        self.collectors = [
            FolderCollector(spec.directory, spec.tenant, accept, ledger_dir / _ledger_name(spec))
            for spec in specs]
        self._stop = asyncio.Event()
        self._tasks = [asyncio.create_task(collector.run(self._stop),
                                           name=f"folder {collector.directory}")
                       for collector in self.collectors]
        for collector in self.collectors:
            log.info("watching %s for tenant %s", collector.directory, collector.tenant)

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=30)
        for collector in self.collectors:
            collector.close()


def _ledger_name(spec: WatchSpec) -> str:
    """One ledger per (tenant, folder): what was read is remembered across restarts, and a
    folder given to another tenant is read again for it."""
    digest = hashlib.sha256(f"{spec.tenant}\0{spec.directory.resolve()}".encode()).hexdigest()
    return f"{digest[:24]}.ledger"
