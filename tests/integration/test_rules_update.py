"""``hygie rules update`` against a SigmaHQ-style zip served over HTTP on 127.0.0.1."""

from __future__ import annotations

import functools
import http.server
import socket
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hygie.cli.main import app
from hygie.detect.rulesets import UpdateError, sha256_of, update_rules
from tests.conftest import SIGMA, require_corpora

runner = CliRunner()
FOLDERS = ("rules", "rules-emerging-threats", "rules-threat-hunting")


def _zip_corpus(target: Path, drop: set[str] = frozenset(), change: dict[str, bytes] | None = None,
                ) -> int:
    """A zip laid out like SigmaHQ's sigma_all_rules.zip (rule folders at the root)."""
    count = 0
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for folder in FOLDERS:
            for path in sorted((SIGMA / folder).rglob("*.yml")):
                name = path.relative_to(SIGMA).as_posix()
                if name in drop:
                    continue
                zf.writestr(name, (change or {}).get(name, path.read_bytes()))
                count += 1
        zf.writestr("LICENSE", (SIGMA / "LICENSE").read_bytes())
    return count


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A directory of archives served by a real HTTP server on a free loopback port."""
    require_corpora()
    root = tmp_path_factory.mktemp("www")
    full = _zip_corpus(root / "sigma_all_rules.zip")
    names = sorted(p.relative_to(SIGMA).as_posix() for f in FOLDERS for p in (SIGMA / f).rglob("*.yml"))
    dropped = set(names[:3])
    changed = {names[10]: (SIGMA / names[10]).read_bytes() + b"\n# local change\n"}
    _zip_corpus(root / "second.zip", dropped, changed)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    yield {"base": base, "root": root, "count": full, "dropped": sorted(dropped),
           "changed": sorted(changed)}
    server.shutdown()


def test_update_then_diff(served, tmp_path) -> None:
    rules_dir = tmp_path / "rules"
    first = update_rules(f"{served['base']}/sigma_all_rules.zip", rules_dir)
    assert first.rule_files == served["count"] == 3754
    assert len(first.added) == 3754 and not first.changed and not first.removed
    assert len(list(rules_dir.rglob("*.yml"))) == 3754
    assert (rules_dir / ".hygie-ruleset.json").is_file() and (rules_dir / "LICENSE").is_file()
    second = update_rules(f"{served['base']}/second.zip", rules_dir)
    assert second.removed == served["dropped"]
    assert second.changed == served["changed"]
    assert not second.added


def test_cli_update_from_file_with_sha(served, tmp_path) -> None:
    archive = served["root"] / "second.zip"
    rules_dir = tmp_path / "r"
    ok = runner.invoke(app, ["rules", "update", "--from", str(archive), "--rules-dir", str(rules_dir),
                             "--sha256", sha256_of(archive)])
    assert ok.exit_code == 0, ok.output
    assert "added 3751" in ok.output
    bad = runner.invoke(app, ["rules", "update", "--from", str(archive), "--rules-dir",
                              str(rules_dir), "--sha256", "0" * 64])
    assert bad.exit_code == 1 and "SHA-256 mismatch" in bad.output and "Traceback" not in bad.output
    assert len(list(rules_dir.rglob("*.yml"))) == 3751


def _install_small(tmp_path: Path) -> Path:
    archive = tmp_path / "small.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("rules/windows/a.yml", "title: a\n")
    rules_dir = tmp_path / "installed"
    update_rules(str(archive), rules_dir)
    return rules_dir


def test_path_escape_is_rejected_and_old_rules_stay(tmp_path) -> None:
    rules_dir = _install_small(tmp_path)
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("rules/ok.yml", "title: ok\n")
        zf.writestr("../evil.yml", "title: evil\n")
    with pytest.raises(UpdateError, match="unsafe path"):
        update_rules(str(evil), rules_dir)
    assert [p.name for p in rules_dir.rglob("*.yml")] == ["a.yml"]
    assert not (tmp_path / "evil.yml").exists()


def test_truncated_zip_and_bad_yaml(tmp_path) -> None:
    rules_dir = _install_small(tmp_path)
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("rules/x.yml", "title: x\n" * 2000)
        zf.writestr("rules/broken.yml", "title: [unclosed\n")
    truncated = tmp_path / "cut.zip"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(UpdateError):
        update_rules(str(truncated), rules_dir)
    assert [p.name for p in rules_dir.rglob("*.yml")] == ["a.yml"]
    report = update_rules(str(good), rules_dir)
    assert report.rule_files == 1 and report.skipped[0][0] == "rules/broken.yml"
    assert report.added == ["rules/x.yml"] and report.removed == ["rules/windows/a.yml"]


def test_unreachable_url_is_a_clean_error(tmp_path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = runner.invoke(app, ["rules", "update", "--from", f"http://127.0.0.1:{port}/x.zip",
                                 "--rules-dir", str(tmp_path / "r")])
    assert result.exit_code == 1 and "cannot download" in result.output
    assert "Traceback" not in result.output
