"""``hygie rules update`` against SigmaHQ-style release zips served over HTTP on 127.0.0.1.

The archives are built from ../shared/corpora/sigma in the layout of SigmaHQ's release packages
(``tests/sigma-package-release.py``: rule folders at the zip root, no directory entries, a
``version.txt``), once per session, and served by ``http.server`` on a free loopback port.
"""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import tests.conftest as conftest
from hygie.cli.rules_update import update
from hygie.detect.rulesets import METADATA_FILE, UpdateError, sha256_of, update_rules
from tests.conftest import SIGMA, require_corpora

FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")
CORPUS_RULES = 3754
REMOVED = ("rules/windows/process_creation/proc_creation_win_whoami_priv_discovery.yml",
           "rules/windows/builtin/security/win_security_user_added_to_local_administrators.yml",
           "rules-emerging-threats/2023/Malware/Qakbot/proc_creation_win_malware_qakbot_"
           "rundll32_exports.yml")
CHANGED = "rules/windows/process_creation/proc_creation_win_susp_shadow_copies_deletion.yml"
ADDED = "rules/windows/process_creation/proc_creation_win_hygie_local_test.yml"
BROKEN = {"rules/windows/hygie_broken_yaml.yml": b"title: [unclosed\n",
          "rules/windows/hygie_not_utf8.yml": b"title: caf\xe9\n"}

app = typer.Typer()
app.command("update")(update)


@app.callback()
def _group() -> None:
    """Makes ``update`` a sub-command, as under ``hygie rules``."""


runner = CliRunner()


def _corpus() -> dict[str, bytes]:
    return {p.relative_to(SIGMA).as_posix(): p.read_bytes()
            for folder in FOLDERS for p in sorted((SIGMA / folder).rglob("*.yml"))}


def _write_release(target: Path, files: dict[str, bytes]) -> Path:
    """A zip as SigmaHQ's release script writes it: ``zip.write(rule_path)`` + version.txt."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("version.txt", "Release Date: 2026-07-01\nLabel: r2026-07-01\n")
    return target


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> dict[str, Path]:
    """Two consecutive "releases" and broken variants, built once and served over HTTP."""
    require_corpora()
    root = tmp_path_factory.mktemp("www")
    files = _corpus()
    assert set(REMOVED) | {CHANGED} <= files.keys() and ADDED not in files
    first = _write_release(root / "sigma_all_rules.zip", files)
    second = {k: v for k, v in files.items() if k not in REMOVED}
    second[CHANGED] = files[CHANGED] + b"\n# changed in the next release\n"
    second[ADDED] = files[CHANGED].replace(b"id: ", b"id: 0", 1)
    second.update(BROKEN)
    _write_release(root / "second.zip", second)
    (root / "truncated.zip").write_bytes(first.read_bytes()[: first.stat().st_size // 2])
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"root": root, "base": f"http://127.0.0.1:{server.server_address[1]}", "first": first}
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def _rule_files(rules_dir: Path) -> list[str]:
    return sorted(p.relative_to(rules_dir).as_posix() for p in rules_dir.rglob("*.yml"))


def _small_install(tmp_path: Path) -> Path:
    """An installed rule set of one file, to watch it survive failed updates."""
    archive = _write_release(tmp_path / "small.zip", {"rules/windows/a.yml": b"title: a\n"})
    rules_dir = tmp_path / "installed"
    update_rules(str(archive), rules_dir)
    return rules_dir


def test_update_over_http_then_next_release_diff(releases, tmp_path) -> None:
    rules_dir = tmp_path / "rules" / "sigma"
    first = update_rules(f"{releases['base']}/sigma_all_rules.zip", rules_dir, timeout=10)
    assert first.rule_files == CORPUS_RULES
    assert len(first.added) == CORPUS_RULES and not first.changed and not first.removed
    assert not first.skipped and first.rule_ids == CORPUS_RULES
    assert len(_rule_files(rules_dir)) == CORPUS_RULES
    assert (rules_dir / "version.txt").is_file()
    meta = json.loads((rules_dir / METADATA_FILE).read_text(encoding="utf-8"))
    assert meta["sha256"] == first.sha256 == sha256_of(releases["first"])
    assert meta["source"] == f"{releases['base']}/sigma_all_rules.zip"
    assert meta["rule_files"] == CORPUS_RULES and meta["installed"].endswith("Z")

    second = update_rules(f"{releases['base']}/second.zip", rules_dir, timeout=10)
    assert second.added == [ADDED]
    assert second.changed == [CHANGED]
    assert second.removed == sorted(REMOVED)
    assert sorted(path for path, _ in second.skipped) == sorted(BROKEN)
    reasons = dict(second.skipped)
    assert reasons["rules/windows/hygie_broken_yaml.yml"].startswith("invalid YAML: ")
    assert reasons["rules/windows/hygie_not_utf8.yml"].startswith("not UTF-8: ")
    assert second.rule_files == CORPUS_RULES - len(REMOVED) + 1
    assert len(_rule_files(rules_dir)) == second.rule_files
    assert not any(p.name.startswith(".sigma-update-") for p in rules_dir.parent.iterdir())


def test_cli_update_with_sha256_then_wrong_sha256(releases, tmp_path) -> None:
    rules_dir = tmp_path / "r"
    url = f"{releases['base']}/sigma_all_rules.zip"
    ok = runner.invoke(app, ["update", "--from", url, "--rules-dir", str(rules_dir),
                             "--sha256", sha256_of(releases["first"]).upper()])
    assert ok.exit_code == 0, ok.output
    assert f"Installed {CORPUS_RULES} rule files" in ok.output
    assert f"added {CORPUS_RULES}, changed 0, removed 0, skipped 0" in ok.output
    assert "... and 3744 more added" in ok.output
    bad = runner.invoke(app, ["update", "--from", f"{releases['base']}/second.zip",
                              "--rules-dir", str(rules_dir), "--sha256", "0" * 64])
    assert bad.exit_code == 1
    assert "SHA-256 mismatch" in bad.output and "were not changed" in bad.output
    assert "Traceback" not in bad.output and isinstance(bad.exception, SystemExit)
    assert len(_rule_files(rules_dir)) == CORPUS_RULES


def test_path_escape_is_rejected_and_old_rules_stay(tmp_path) -> None:
    rules_dir = _small_install(tmp_path)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("rules/ok.yml", "title: ok\n")
        zf.writestr("../evil.yml", "title: evil\n")
    with pytest.raises(UpdateError, match="unsafe path"):
        update_rules(str(evil), rules_dir)
    result = runner.invoke(app, ["update", "--from", str(evil), "--rules-dir", str(rules_dir)])
    assert result.exit_code == 1 and "unsafe path" in result.output
    assert _rule_files(rules_dir) == ["rules/windows/a.yml"]
    assert not (tmp_path / "evil.yml").exists() and not (rules_dir.parent / "evil.yml").exists()


def test_truncated_and_corrupt_zips_are_rejected(releases, tmp_path) -> None:
    rules_dir = _small_install(tmp_path)
    with pytest.raises(UpdateError, match="not a valid zip"):
        update_rules(f"{releases['base']}/truncated.zip", rules_dir, timeout=10)
    good = tmp_path / "g.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("rules/x.yml", b"title: x\n" * 500)
    data = bytearray(good.read_bytes())
    data[100] ^= 0x01  # inside the stored rule: the zip opens, its CRC check fails
    (tmp_path / "crc.zip").write_bytes(bytes(data))
    with pytest.raises(UpdateError, match="corrupt"):
        update_rules(str(tmp_path / "crc.zip"), rules_dir)
    assert _rule_files(rules_dir) == ["rules/windows/a.yml"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unreachable_url_and_http_404_are_clean_errors(releases, tmp_path) -> None:
    rules_dir = _small_install(tmp_path)
    for url, message in ((f"http://127.0.0.1:{_closed_port()}/x.zip", "cannot download"),
                         (f"{releases['base']}/missing.zip", "HTTP 404")):
        result = runner.invoke(app, ["update", "--from", url, "--rules-dir", str(rules_dir)])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
        assert isinstance(result.exception, SystemExit)
    assert _rule_files(rules_dir) == ["rules/windows/a.yml"]


def test_missing_corpus_fails_under_ci_and_skips_elsewhere(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(conftest, "CORPORA", tmp_path / "absent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_corpora()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        require_corpora()
