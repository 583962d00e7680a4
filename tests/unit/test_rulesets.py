"""Rule set installation: path safety, archive layouts, the diff, provenance; no network."""

from __future__ import annotations

import json
import stat
import zipfile
from pathlib import Path, PurePosixPath

import pytest

from hygie.detect import rulesets
from hygie.detect.rulesets import (
    METADATA_FILE,
    UpdateError,
    common_prefix_depth,
    default_rules_dir,
    diff_hashes,
    display_source,
    extract_verified,
    fetch,
    file_hashes,
    read_metadata,
    safe_member_path,
    update_rules,
    wanted,
)


def _zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize("name", ["rules/windows/x.yml", "version.txt", "a/./b.yml",
                                  "rules-emerging-threats/2024/TA/x.yaml", "a..b/c..yml"])
def test_safe_member_paths_are_kept(name: str) -> None:
    assert safe_member_path(name) == PurePosixPath(name)


@pytest.mark.parametrize("name", ["../evil.yml", "rules/../../evil.yml", "/etc/cron.d/x.yml",
                                  "..\\evil.yml", "\\\\server\\share\\x.yml", "C:/x.yml",
                                  "C:x.yml", "rules/x.yml:stream", "rules/x\x00.yml", "",
                                  "rules\\..\\..\\x.yml"])
def test_unsafe_member_paths_are_refused(name: str) -> None:
    with pytest.raises(UpdateError, match="unsafe path"):
        safe_member_path(name)


def test_prefix_is_stripped_only_for_a_wrapping_folder() -> None:
    paths = [PurePosixPath(p) for p in ("rules/a.yml", "rules-emerging-threats/b.yml")]
    assert common_prefix_depth(paths) == 0  # sigma_all_rules.zip
    assert common_prefix_depth([PurePosixPath("rules/windows/a.yml")]) == 0  # sigma_core.zip
    wrapped = [PurePosixPath("sigma-r2026-07-01") / p for p in paths]
    assert common_prefix_depth(wrapped) == 1  # GitHub source archive
    assert common_prefix_depth([PurePosixPath("top/a.yml"), PurePosixPath("x.yml")]) == 0


@pytest.mark.parametrize(("path", "only_rules", "expected"), [
    ("rules/windows/a.yml", True, True),
    ("rules-threat-hunting/b.YAML", True, True),
    (".github/workflows/ci.yml", True, False),
    ("deprecated/windows/old.yml", True, False),
    ("deprecated/windows/old.yml", False, True),
    ("LICENSE", True, True),
    ("version.txt", True, True),
    ("images/logo.png", False, False),
    ("rules/windows/run.ps1", False, False),
])
def test_which_members_are_extracted(path: str, only_rules: bool, expected: bool) -> None:
    assert wanted(PurePosixPath(path), only_rules) is expected


def test_diff_by_content_hash() -> None:
    old = {"a.yml": "1", "b.yml": "2", "c.yml": "3"}
    new = {"b.yml": "2", "c.yml": "30", "d.yml": "4", "0.yml": "5"}
    assert diff_hashes(old, new) == (["0.yml", "d.yml"], ["c.yml"], ["a.yml"])
    assert diff_hashes({}, {}) == ([], [], [])
    assert diff_hashes(old, {}) == ([], [], ["a.yml", "b.yml", "c.yml"])


def test_file_hashes_cover_rule_files_only(tmp_path: Path) -> None:
    (tmp_path / "rules" / "w").mkdir(parents=True)
    (tmp_path / "rules" / "w" / "a.yml").write_text("title: a\n")
    (tmp_path / "rules" / "b.yaml").write_text("title: b\n")
    (tmp_path / "LICENSE").write_text("DRL")
    (tmp_path / METADATA_FILE).write_text("{}")
    assert sorted(file_hashes(tmp_path)) == ["rules/b.yaml", "rules/w/a.yml"]
    assert file_hashes(tmp_path / "absent") == {}


def test_source_archive_layout_is_unwrapped_and_filtered(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "src.zip", {
        "sigma-r2026-07-01/rules/windows/a.yml": "title: a\nid: id-a\n",
        "sigma-r2026-07-01/rules-emerging-threats/b.yml": "title: b\nid: id-b\n",
        "sigma-r2026-07-01/.github/workflows/ci.yml": "on: push\n",
        "sigma-r2026-07-01/deprecated/old.yml": "title: old\n",
        "sigma-r2026-07-01/LICENSE": "Detection Rule License",
        "sigma-r2026-07-01/images/logo.png": b"\x89PNG",
    })
    result = extract_verified(archive, tmp_path / "out")
    assert result.rule_files == 2 and result.rule_ids == {"id-a", "id-b"} and not result.skipped
    found = sorted(p.relative_to(tmp_path / "out").as_posix()
                   for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert found == ["LICENSE", "rules-emerging-threats/b.yml", "rules/windows/a.yml"]


def test_bad_yaml_and_oversized_files_are_skipped_with_reasons(tmp_path: Path,
                                                               monkeypatch) -> None:
    monkeypatch.setattr(rulesets, "MAX_MEMBER_BYTES", 20_000)
    archive = _zip(tmp_path / "a.zip", {
        "rules/ok.yml": "title: ok\n",
        "rules/bad.yml": "title: [\n",
        "rules/latin1.yml": b"title: caf\xe9\n",
        "rules/unsafe_tag.yml": "x: !!python/object/apply:os.system ['true']\n",
        "rules/bad_date.yml": "title: t\ndate: 2023-02-30\n",
        "rules/big.yml": "title: big\n" + "#" * 20_000,
    })
    result = extract_verified(archive, tmp_path / "out")
    assert result.rule_files == 1
    reasons = dict(result.skipped)
    assert sorted(reasons) == ["rules/bad.yml", "rules/bad_date.yml", "rules/big.yml",
                               "rules/latin1.yml", "rules/unsafe_tag.yml"]
    assert reasons["rules/big.yml"] == "file too large"
    assert reasons["rules/bad_date.yml"] == "invalid YAML: day is out of range for month"
    assert reasons["rules/latin1.yml"].startswith("not UTF-8: ")
    assert reasons["rules/bad.yml"].startswith("invalid YAML: while parsing")
    assert not (tmp_path / "out" / "rules" / "bad.yml").exists()


def test_symlink_duplicate_and_encrypted_members_are_refused(tmp_path: Path) -> None:
    link = zipfile.ZipInfo("rules/link.yml")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "link.zip", "w") as zf:
        zf.writestr("rules/a.yml", "title: a\n")
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(UpdateError, match="symbolic link"):
        extract_verified(tmp_path / "link.zip", tmp_path / "out1")
    with pytest.warns(UserWarning, match="Duplicate name"), \
            zipfile.ZipFile(tmp_path / "dup.zip", "w") as zf:
        zf.writestr("rules/a.yml", "title: a\n")
        zf.writestr("rules/a.yml", "title: evil\n")
    with pytest.raises(UpdateError, match="duplicate member"):
        extract_verified(tmp_path / "dup.zip", tmp_path / "out2")
    data = bytearray(_zip(tmp_path / "plain.zip", {"rules/a.yml": "title: a\n"}).read_bytes())
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # local, central
        data[data.index(signature) + flag_at] |= 0x1  # zipfile never writes encrypted members
    (tmp_path / "enc.zip").write_bytes(bytes(data))
    with pytest.raises(UpdateError, match="encrypted"):
        extract_verified(tmp_path / "enc.zip", tmp_path / "out3")
    assert not any((tmp_path / d).exists() for d in ("out1", "out2", "out3"))


def test_zip_bomb_is_refused_before_decompressing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(rulesets, "MAX_UNPACKED_BYTES", 10_000)
    archive = _zip(tmp_path / "bomb.zip", {"rules/a.yml": "#" * 20_000})
    with pytest.raises(UpdateError, match="unpacks to more than"):
        extract_verified(archive, tmp_path / "out")


def test_not_a_zip_and_empty_zip(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(UpdateError, match="not a valid zip"):
        extract_verified(tmp_path / "x.zip", tmp_path / "out")
    with pytest.raises(UpdateError, match="no readable rule files"):
        extract_verified(_zip(tmp_path / "e.zip", {"README.md": "hi"}), tmp_path / "out")


def test_default_rules_dir_follows_hygie_home(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HYGIE_HOME", str(tmp_path))
    assert default_rules_dir() == tmp_path / "rules" / "sigma"
    monkeypatch.delenv("HYGIE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_rules_dir() == tmp_path / "home" / ".local/share/hygie/rules/sigma"


def test_display_source_drops_credentials_and_query() -> None:
    assert (display_source("https://bob:s3cret@mirror.chu.example:8443/sigma.zip?token=x#f")
            == "https://mirror.chu.example:8443/sigma.zip")
    assert display_source("http://[::1]:8080/a.zip") == "http://[::1]:8080/a.zip"
    with pytest.raises(UpdateError, match="invalid URL"):
        display_source("http://host:notaport/a.zip")


def test_fetch_refuses_other_schemes_and_missing_files(tmp_path: Path) -> None:
    for source, message in (("ftp://example.org/a.zip", "unsupported URL scheme"),
                            ("file:///etc/passwd", "unsupported URL scheme"),
                            (str(tmp_path / "absent.zip"), "no such archive")):
        with pytest.raises(UpdateError, match=message):
            fetch(source, tmp_path)


def test_update_records_provenance_and_refuses_foreign_folders(tmp_path: Path) -> None:
    archive = _zip(tmp_path / "a.zip", {"rules/a.yml": "title: a\nid: x\n"})
    rules_dir = tmp_path / "home" / "rules" / "sigma"
    report = update_rules(str(archive), rules_dir)
    assert report.added == ["rules/a.yml"] and report.rule_files == report.rule_ids == 1
    meta = json.loads((rules_dir / METADATA_FILE).read_text(encoding="utf-8"))
    assert meta["source"] == str(archive.resolve()) and meta["sha256"] == report.sha256
    assert read_metadata(rules_dir) == meta and read_metadata(tmp_path) is None
    again = update_rules(str(archive), rules_dir)
    assert (again.added, again.changed, again.removed) == ([], [], [])
    assert sorted(p.name for p in rules_dir.parent.iterdir()) == [".sigma.lock", "sigma"]

    foreign = tmp_path / "clone"
    (foreign / "rules").mkdir(parents=True)
    (foreign / "rules" / "mine.yml").write_text("title: mine\n")
    with pytest.raises(UpdateError, match="not installed by"):
        update_rules(str(archive), foreign)
    assert (foreign / "rules" / "mine.yml").is_file()
    with pytest.raises(UpdateError, match="64 hexadecimal"):
        update_rules(str(archive), rules_dir, sha256="abc")


def test_failed_swap_puts_the_old_rules_back(tmp_path: Path, monkeypatch) -> None:
    rules_dir = tmp_path / "sigma"
    update_rules(str(_zip(tmp_path / "a.zip", {"rules/a.yml": "title: a\n"})), rules_dir)
    real_rename = Path.rename

    def failing_rename(self: Path, target: Path) -> Path:
        if self.name == "rules" and Path(target) == rules_dir:  # the staged folder moving in
            raise OSError("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing_rename)
    with pytest.raises(OSError, match="disk full"):
        update_rules(str(_zip(tmp_path / "b.zip", {"rules/b.yml": "title: b\n"})), rules_dir)
    monkeypatch.undo()
    assert [p.name for p in rules_dir.rglob("*.yml")] == ["a.yml"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sigma.lock", "a.zip", "b.zip",
                                                          "sigma"]
