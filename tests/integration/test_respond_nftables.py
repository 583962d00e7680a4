"""The nftables block list loaded for real: ``nft -f`` on the generated ruleset inside a
throw-away network namespace (never the host's ruleset), through the connector's block and
unblock, a playbook run with approval and rollback, and nft's own refusals.

The namespace is held by ``unshare --net sleep`` (as root) or ``unshare --user
--map-root-user --net sleep`` (no root needed where unprivileged user namespaces are allowed);
the connector reaches it through its ``nft_command`` setting (``nsenter --target PID --net
nft``), exactly as a site would put ``sudo -n nft`` there. Without ``nft`` the tests are
skipped on a developer machine and fail under ``CI=true`` (``make system-deps`` installs
Debian's ``nftables``); a namespace that cannot be made here is a skip with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from hygie.respond import cases, policy, runs, timeline
from hygie.respond.actions import Toolkit
from hygie.respond.connectors import network
from hygie.respond.connectors.base import ActionContext, ConnectorError
from hygie.respond.playbooks import load_library
from hygie.store.state import audit
from tests.integration.respond_peers import HttpRecorder
from tests.integration.test_respond_ransomware_e2e import seed_case

NFT = shutil.which("nft") or next((p for p in ("/usr/sbin/nft", "/sbin/nft") if os.path.exists(p)), None)


@dataclass(frozen=True)
class Namespace:
    enter: list[str]  # argv prefix running a command inside it

    def nft(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.enter, NFT or "nft", *args], capture_output=True, text=True, timeout=20,
                              check=False)

    def elements(self, family_set: str) -> str:
        """The ``elements = { ... }`` text of a set of table inet hygie ("" when empty)."""
        listed = self.nft("list", "set", "inet", "hygie", family_set)
        assert listed.returncode == 0, listed.stderr
        found = [line.strip() for line in listed.stdout.splitlines() if "elements" in line]
        return found[0] if found else ""

    def tables(self) -> str:
        return self.nft("list", "tables").stdout


def _need_nft() -> None:
    if NFT is not None and shutil.which("unshare") and shutil.which("nsenter"):
        return
    message = "nft, unshare or nsenter is missing (Debian packages nftables, util-linux: make system-deps)"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(params=["net", "user+net"])
def netns(request):
    """A network namespace of its own, held by a sleeping process, removed afterwards."""
    _need_nft()
    user = request.param == "user+net"
    if not user and os.geteuid() != 0:
        pytest.skip("a network namespace without a user namespace needs root (the user+net variant runs)")
    argv = ["unshare", *(["--user", "--map-root-user"] if user else []), "--net", "sleep", "600"]
    holder = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        mine = os.readlink("/proc/self/ns/net")
        for _ in range(100):  # until unshare has moved into the new namespace and exec'd sleep
            if holder.poll() is not None:
                pytest.skip(f"cannot create a {request.param} namespace here: {holder.stderr.read().strip()}")
            try:
                if os.readlink(f"/proc/{holder.pid}/ns/net") != mine:
                    break
            except OSError:
                pass
            time.sleep(0.05)
        else:
            pytest.skip(f"the {request.param} namespace did not appear")
        enter = ["nsenter", f"--target={holder.pid}", *(["--user", "--preserve-credentials"] if user else []), "--net"]
        space = Namespace(enter)
        probe = space.nft("list", "ruleset")
        if probe.returncode != 0:
            pytest.skip(f"nft cannot run in a {request.param} namespace here: {probe.stderr.strip()}")
        assert probe.stdout.strip() == "", "a fresh namespace has an empty ruleset"
        yield space
    finally:
        holder.kill()
        holder.wait(timeout=10)


def _ctx(settings: dict, timeout: float = 10.0) -> ActionContext:
    return ActionContext("chu-nord", settings, "k-nft", timeout, case_id=1, run_id=1)


def _settings(tmp_path: Path, space: Namespace) -> dict:
    return {"ruleset_file": str(tmp_path / "nft" / "hygie-blocklist.nft"), "apply": True,
            "nft_command": [*space.enter, NFT]}


def test_block_and_unblock_are_loaded_by_nft(tmp_path, netns) -> None:
    settings = _settings(tmp_path, netns)
    path = Path(settings["ruleset_file"])
    checked = network.nft_block(_ctx(settings), {"address": "203.0.113.7"}, True)
    # a dry run checks the new ruleset with nft -c: nothing is committed, nothing is written
    assert checked.ok and "checked with nft -c" in checked.summary
    assert "hygie" not in netns.tables() and not path.parent.exists()

    done = network.nft_block(_ctx(settings), {"address": "203.0.113.7"}, False)
    assert done.ok and done.detail["applied"] and "loaded (nft -f)" in done.summary
    assert "203.0.113.7" in netns.elements("blocked_v4")
    assert netns.elements("blocked_v6") == ""
    assert network.nft_block(_ctx(settings), {"address": "2001:db8::/64"}, False).ok
    assert "2001:db8::/64" in netns.elements("blocked_v6")
    # a network inside a blocked one: the interval set would refuse the overlap; it is merged
    assert network.nft_block(_ctx(settings), {"address": "203.0.113.0/24"}, False).ok
    again = network.nft_block(_ctx(settings), {"address": "203.0.113.7"}, True)
    assert again.summary == "203.0.113.7/32 is already in the block list"
    assert "203.0.113.0/24" in netns.elements("blocked_v4")
    # the drop rules are in the kernel, hooked on input, forward and output
    listed = netns.nft("list", "table", "inet", "hygie").stdout
    assert listed.count("ip daddr @blocked_v4 drop") == 3 and listed.count("ip6 saddr @blocked_v6 drop") == 3

    # rollback of the first block: the /32 leaves the members; the /24 still covers the address
    undo = done.rollback[0]
    assert undo == {"action": "nftables.unblock", "args": {"address": "203.0.113.7/32"}}
    assert network.nft_unblock(_ctx(settings), undo["args"], False).ok
    assert netns.elements("blocked_v4") == "elements = { 203.0.113.0/24 }"
    removed = network.nft_unblock(_ctx(settings), {"address": "203.0.113.0/24"}, False)
    assert removed.ok and removed.rollback == [{"action": "nftables.block", "args": {"address": "203.0.113.0/24"}}]
    assert netns.elements("blocked_v4") == ""
    assert "2001:db8::/64" in netns.elements("blocked_v6")
    assert network.validate_ruleset(path.read_text()) == []


def test_refused_ruleset_changes_nothing(tmp_path, netns, monkeypatch) -> None:
    settings = _settings(tmp_path, netns)
    path = Path(settings["ruleset_file"])
    assert network.nft_block(_ctx(settings), {"address": "198.51.100.9"}, False).ok
    before_file, before_kernel = path.read_text(), netns.elements("blocked_v4")
    # a ruleset our text checks accept but nft refuses (a misspelt policy): nft's reason is
    # reported, and neither the file, its members nor the kernel change
    original = network.render_ruleset
    monkeypatch.setattr(network, "render_ruleset", lambda blocked: original(blocked).replace("policy accept",
                                                                                                 "policy acept"))
    with pytest.raises(ConnectorError, match=r"refused the ruleset \(exit 1\).*acept.*nothing was changed") as caught:
        network.nft_block(_ctx(settings), {"address": "192.0.2.1"}, False)
    assert caught.value.key == "nft.refused"  # type: ignore[attr-defined]
    with pytest.raises(ConnectorError, match="refused the ruleset"):
        network.nft_block(_ctx(settings), {"address": "192.0.2.1"}, True)  # the dry run's nft -c sees it too
    monkeypatch.undo()
    assert path.read_text() == before_file and netns.elements("blocked_v4") == before_kernel
    assert "192.0.2.1" not in path.with_suffix(".json").read_text()
    assert not list(path.parent.glob("*.part"))


def test_nft_missing_or_too_slow(tmp_path) -> None:
    """No namespace needed: the command is not found, or outlives the action's timeout."""
    path = tmp_path / "hygie-blocklist.nft"
    missing = {"ruleset_file": str(path), "apply": True, "nft_command": [str(tmp_path / "no-such-nft")]}
    with pytest.raises(ConnectorError, match="nft command not found"):
        network.nft_block(_ctx(missing), {"address": "192.0.2.1"}, False)
    slow = {"ruleset_file": str(path), "apply": True, "nft_command": ["sh", "-c", "sleep 5", "nft"]}
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="did not finish within 0.5 s; nothing was installed"):
        network.nft_block(_ctx(slow, timeout=0.5), {"address": "192.0.2.1"}, False)
    assert time.monotonic() - started < 4 and not path.exists()


def test_playbook_blocks_in_the_kernel_and_rollback_unblocks(tmp_path, netns, state_dsn) -> None:
    """The remote-maintenance playbook: the analyst confirms, approves the block (nft -f in
    the namespace) and the EDR isolation, then rolls the run back; the case timeline says it
    in French and English, and the audit chain holds."""
    engine, _alert_id, case_id = seed_case(state_dsn)
    http = HttpRecorder().start()
    try:
        settings = {"defaults": {}, "tenants": {"chu-nord": {
            "nftables": _settings(tmp_path, netns),
            "edr": {"kind": "generic", "base_url": http.url,
                    "isolate": {"method": "POST", "path": "/hosts/{host}/isolate"},
                    "release": {"method": "POST", "path": "/hosts/{host}/release"}},
            "chat": {"urls": f"json://127.0.0.1:{http.url.rsplit(':', 1)[1]}/chat"}}}}
        toolkit = Toolkit(load_library(), settings, default_timeout=10)
        policy.set_auto(engine, None, "chu-nord", "chat.notify", True, "admin")
        run_id = runs.start_run(engine, frozenset({"chu-nord"}), toolkit, "remote_maintenance", "analyst",
                                case_id=case_id, variables={"ip": "198.51.100.23"})
        for _ in range(4):
            view = runs.get_run(engine, None, run_id)
            assert view is not None
            if view.run.status != "waiting":
                break
            step = [s for s in view.steps if s.status == "awaiting_approval"][0]
            runs.decide(engine, frozenset({"chu-nord"}), toolkit, run_id, step.id, "analyst", approve=True)
        view = runs.get_run(engine, None, run_id)
        assert view is not None and view.run.status == "done", view.run.error
        assert "198.51.100.23" in netns.elements("blocked_v4")
        block = [s for s in view.steps if any(c["action"] == "nftables.block" for c in s.commands)][0]
        assert block.status == "done" and block.result["outcomes"][0]["msg"] == "nft.blocked_applied"

        undone = runs.rollback(engine, frozenset({"chu-nord"}), toolkit, run_id, "analyst")
        assert undone and all(o.ok for o in undone), [o.summary for o in undone]
        assert netns.elements("blocked_v4") == ""
        assert "/hosts/PC-RADIO-01/release" in http.paths("POST")
    finally:
        http.stop()

    entries = cases.get_case(engine, None, case_id).timeline  # type: ignore[union-attr]
    english = [timeline.entry_text(e, "en") for e in entries]
    french = [timeline.entry_text(e, "fr") for e in entries]
    assert any("198.51.100.23/32 added to the nftables block list and loaded (nft -f)" in t for t in english)
    assert any("198.51.100.23/32 ajouté à la liste de blocage nftables et chargé (nft -f)" in t for t in french)
    assert any(t.startswith("Retour arrière effectué : ") and "198.51.100.23/32 retiré de la liste de blocage" in t
               for t in french)
    assert not any("added to the nftables" in t for t in french)
    assert audit.verify(engine).ok
