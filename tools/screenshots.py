"""Screenshots of the console's main pages, for reviewers: ``make screenshots``.

Run: ``.venv/bin/python tools/screenshots.py [--out screenshots] [--data-dir DIR]``.

1. A small demo data set: ``hygie serve --demo --exit-after-demo`` replays the demo hospital
   (tenant ``chsa``: Windows/Sysmon records over HTTP, firewall/VPN/PACS lines over syslog)
   into a temporary data dir (``--data-dir`` keeps it), then a second hospital (``chu-nord``)
   gets a few alerts through ``StateStore.store_results``, and an analyst of both hospitals
   is created with a known password.
2. The console (``console_app`` over that data dir, Hygie's packs as the rules) is served by
   uvicorn on 127.0.0.1 in a thread.
3. Debian's Chromium (``/usr/bin/chromium``, or ``$HYGIE_CHROMIUM``), driven by Playwright,
   logs in, opens a case from an alert through the pages (with a note and a task, so the
   case has a timeline), then saves full-page PNGs of: login, overview, alert queue, alert
   detail, case, search, rules; in English and in French (``/lang/fr``), at laptop
   (1366x768) and tablet (820x1180) sizes. Files: ``<out>/<lang>-<size>-<nn>-<page>.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

CHROMIUM = os.environ.get("HYGIE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
SIZES = {"laptop": (1366, 768), "tablet": (820, 1180)}
LANGS = {"en": "en-GB", "fr": "fr-FR"}
TENANT = "chsa"  # the demo hospital (its hosts are CHSA-...)
OTHER = "chu-nord"
USER = "m.durand"
PASSWORD = "screenshots-only-password"


def demo_data(data_dir: Path) -> None:
    """Replay the demo into ``data_dir`` with the real service (a few seconds)."""
    hygie = Path(sys.executable).parent / "hygie"
    command = [str(hygie), "serve", "--demo", "--exit-after-demo", "--data-dir", str(data_dir),
               "--console", "off", "--http", "127.0.0.1:0", "--tenant", TENANT]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the demo replay failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def second_hospital(engine: Any) -> None:
    """A few alerts of another hospital, so the analyst's overview spans two."""
    from hygie.core.alert import Alert
    from hygie.store.state.store import RecordResult, StateStore

    state = StateStore(engine)
    state.ensure_tenant(OTHER, "CHU Nord")
    now = datetime.now(timezone.utc)
    hits = [("Windows Defender Real-Time Protection Disabled", "high", ["attack.defense_evasion", "attack.t1562.001"],
             "CHUNORD-PC0042", {"CommandLine": "powershell Set-MpPreference -DisableRealtimeMonitoring $true"}),
            ("Failed Logon From Public IP", "medium", ["attack.initial_access", "attack.t1078"],
             "CHUNORD-SRV-RDS01", {"EventID": 4625, "IpAddress": "185.220.101.4"}),
            ("Outbound Connection to Tor Exit Node", "critical", ["attack.command_and_control", "attack.t1090.003"],
             "CHUNORD-FW01", {"dstip": "185.220.101.4", "action": "accept"}),
            ("Scheduled Task Creation Via Schtasks.EXE", "low", ["attack.persistence", "attack.t1053.005"],
             "CHUNORD-PC0117", {"CommandLine": "schtasks /create /tn Updater /tr C:\\ProgramData\\upd.exe"})]
    results = []
    for number, (title, level, tags, host, matched) in enumerate(hits):
        event = {"Hostname": host, "EventTime": now.isoformat(), "User": "CHUNORD\\l.petit", **matched}
        alert = Alert(rule_id=f"screenshots-{number}", title=title, level=level, tags=tags, time=now.isoformat(),
                      host=host, source="http:winlogbeat", offset=0, matched=matched, pack="sigmahq")
        results.append(RecordResult(tenant=OTHER, record_key=f"screenshots-{number}", source="http:winlogbeat",
                                    kind="json", received=now.timestamp(), alerts=[alert], event=event,
                                    event_time=now.isoformat(), host=host, payload=repr(event).encode()))
    state.store_results(results)


def console_context(data_dir: Path) -> Any:
    from hygie.detect.engine import Engine
    from hygie.store.events import EventStore
    from hygie.store.state.access import AccessError, AccessStore
    from hygie.store.state.db import open_database, sqlite_dsn
    from hygie.web.context import ConsoleContext, RuleInfo

    engine = open_database(sqlite_dsn(data_dir / "state.db"))
    if OTHER not in {t for t in _tenants(engine)}:
        second_hospital(engine)
    try:
        AccessStore(engine).create_user(USER, PASSWORD, "analyst", [TENANT, OTHER], "screenshots",
                                        display_name="Marie Durand")
    except AccessError:  # a kept --data-dir: the user is there already
        AccessStore(engine).set_password(USER, PASSWORD, "screenshots")
    detection = Engine.from_paths([], include_packs=True)
    rules = [RuleInfo(r.rule_id, r.title, r.level, r.pack, list(r.tags), r.path) for r in detection.rules]
    rules += [RuleInfo(c.rule_id, c.title, c.level, c.pack, list(c.tags)) for c in detection.correlations]
    paths = {r.rule_id: r.path for r in detection.rules if r.path}

    def rule_text(rule_id: str) -> str | None:
        path = paths.get(rule_id)
        return Path(path).read_text(encoding="utf-8", errors="replace") if path else None

    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    health = {f"{TENANT}/http:demo": {"tenant": TENANT, "source": "http:demo", "records": 1830,
                                      "last_seen": stamp, "silent": False},
              f"{TENANT}/syslog/tcp:514": {"tenant": TENANT, "source": "syslog/tcp:514", "records": 876,
                                           "last_seen": stamp, "silent": False},
              f"{OTHER}/syslog/udp:514": {"tenant": OTHER, "source": "syslog/udp:514", "records": 12,
                                          "last_seen": "2026-11-20 03:12:09 UTC", "silent": True}}
    fields = {f.name for f in dataclasses.fields(ConsoleContext)}
    extra: dict[str, Any] = {}
    store = EventStore(data_dir / "events", read_only=True)
    if "events" in fields:
        extra["events"] = store
    elif "search" in fields:
        extra["search"] = lambda tenants, query, since, limit: store.search(tenants, query, since=since, limit=limit)
    return ConsoleContext(engine=engine, data_dir=data_dir, rules=lambda: (rules, [(str(e.location), e.reason)
                                                                                  for e in detection.load_errors]),
                          rule_text=rule_text, ingest_health=lambda: health, **extra)


def _tenants(engine: Any) -> list[str]:
    from hygie.store.state.store import StateStore
    return StateStore(engine).tenants()


def serve(app: Any) -> tuple[str, Any, threading.Thread]:
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):  # bounded: 10 s
        if server.started:
            break
        time.sleep(0.05)
    if not server.started:
        raise SystemExit("the console did not start")
    return f"http://127.0.0.1:{port}", server, thread


def submit(page: Any, selector: str) -> None:
    """Click a form's button and wait for the page it leads to (forms answer with a redirect)."""
    with page.expect_navigation():
        page.click(selector)


def log_in(page: Any, base: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", PASSWORD)
    submit(page, "form[action='/login'] button[type=submit]")


def make_case(page: Any, base: str) -> tuple[int, str]:
    """Open a case from the queue's most severe alert, through the pages; (alert id, case URL)."""
    page.goto(base + f"/alerts?status=open&tenant={TENANT}&sort=level")
    alert_url = page.locator("tbody a[href^='/alerts/']").first.get_attribute("href")
    page.goto(base + alert_url)
    page.select_option("select[name=status]", "in_progress")
    submit(page, "form[action$='/status'] button[type=submit]")
    submit(page, "form[action='/cases'] button[type=submit]")
    case_url = page.url.removeprefix(base)
    if not re.fullmatch(r"/cases/\d+", case_url):
        raise SystemExit(f"opening a case led to {page.url}")
    page.fill("textarea[name=text]", "Poste isolé du réseau par l'infirmière de nuit ; sauvegardes Veeam vérifiées.")
    submit(page, "form[action$='/note'] button[type=submit]")
    page.fill("input[name=title]", "Vérifier les clichés instantanés de CHSA-SRV-FS01")
    submit(page, "form[action$='/task'] button[type=submit]")
    return int(alert_url.rsplit("/", 1)[-1]), case_url


def shoot(browser: Any, base: str, out: Path, alert_id: int, case_url: str) -> list[Path]:
    pages = [("overview", "/"), ("alerts", "/alerts?status=open"), ("alert", f"/alerts/{alert_id}"),
             ("case", case_url), ("search", "/search?q=EventID+%3D+4625&since=30d"), ("rules", "/rules")]
    saved = []
    for lang, locale in LANGS.items():
        for size, (width, height) in SIZES.items():
            context = browser.new_context(viewport={"width": width, "height": height}, locale=locale,
                                          has_touch=size == "tablet")
            page = context.new_page()
            page.goto(f"{base}/lang/{lang}?next=/login")
            path = out / f"{lang}-{size}-01-login.png"
            page.screenshot(path=str(path), full_page=True)
            saved.append(path)
            log_in(page, base)
            for number, (name, url) in enumerate(pages, start=2):
                answer = page.goto(base + url)
                if answer is None or answer.status != 200:
                    raise SystemExit(f"{url} answered {answer.status if answer else 'nothing'}")
                page.wait_for_load_state("networkidle")
                path = out / f"{lang}-{size}-{number:02d}-{name}.png"
                page.screenshot(path=str(path), full_page=True)
                saved.append(path)
            context.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "screenshots")
    parser.add_argument("--data-dir", type=Path, help="keep the demo data here (default: a temporary folder)")
    args = parser.parse_args()
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        raise SystemExit(f"Chromium not found at {CHROMIUM}: apt-get install chromium (or set HYGIE_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    from hygie.web.app import console_app

    temporary = None
    if args.data_dir is None:
        temporary = tempfile.TemporaryDirectory(prefix="hygie-screenshots-")
        data_dir = Path(temporary.name)
    else:
        data_dir = args.data_dir
    try:
        if not (data_dir / "state.db").exists():
            print(f"Replaying the demo into {data_dir} ...")
            demo_data(data_dir)
        base, server, thread = serve(console_app(console_context(data_dir)))
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.glob("*.png"):
            old.unlink()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
                setup = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
                page = setup.new_page()
                log_in(page, base)
                alert_id, case_url = make_case(page, base)
                setup.close()
                saved = shoot(browser, base, args.out, alert_id, case_url)
                browser.close()
        finally:
            server.should_exit = True
            thread.join(timeout=10)
        print(f"{len(saved)} screenshots in {args.out}")
    finally:
        if temporary is not None:
            temporary.cleanup()


if __name__ == "__main__":
    main()
