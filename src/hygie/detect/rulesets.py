"""Installing rule sets: SigmaHQ release archives, fetched, verified, swapped in atomically.

SigmaHQ's release packages (``sigma_core.zip``, ``sigma_core+.zip``, ``sigma_core++.zip``,
``sigma_emerging_threats_addon.zip``, ``sigma_all_rules.zip``, built by its
``tests/sigma-package-release.py``) hold ``rules/`` and ``rules-emerging-threats/`` at the zip
root, no directory entries, and a ``version.txt``. GitHub source archives wrap the same folders
in one top folder (``sigma-r2026-07-01/rules/...``); both are accepted.

``update_rules`` verifies the whole archive before anything is written, extracts it beside the
rules folder and swaps it in: a failed update leaves the previous rules in place, and a hunt
never sees half a rule set.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import stat
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from hygie.core.errors import HygieError

try:  # POSIX: serialise concurrent updates (a cron job and a person, say)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

DEFAULT_URL = "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_all_rules.zip"
METADATA_FILE = ".hygie-ruleset.json"
# sigma_all_rules.zip is a few MB; the caps only stop a hostile or broken source from filling
# the disk or spinning the CPU (a "zip bomb" declares small members that inflate enormously).
MAX_ARCHIVE_BYTES = 200 << 20
MAX_UNPACKED_BYTES = 1 << 30
MAX_MEMBER_BYTES = 5 << 20
MAX_MEMBERS = 100_000
DOWNLOAD_DEADLINE_S = 900.0
RULE_SUFFIXES = (".yml", ".yaml")
# Non-rule files kept: the licence (DRL 1.1 asks for attribution), readmes, version.txt.
KEPT_NAMES = frozenset({"license", "license.txt", "license.md", "readme.md", "readme.txt",
                        "version.txt", "drl.md"})

# libyaml's C loader when PyYAML was built with it: validating 3,754 files is much faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SHA256 = re.compile(r"[0-9a-f]{64}")

Progress = Callable[[int, int | None], None]
"""Download progress callback: (bytes so far, total bytes or None when the server did not say)."""


class UpdateError(HygieError):
    """The archive could not be fetched or verified; the installed rules are unchanged."""


@dataclass(slots=True)
class UpdateReport:
    """What an update installed and how it differs from the rules it replaced; paths are POSIX
    paths relative to the rules folder (``rules/windows/x.yml``)."""

    source: str
    sha256: str
    rule_files: int
    rule_ids: int = 0
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class Extracted:
    """What ``extract_verified`` wrote: rule files, distinct rule ids, and what it skipped."""

    rule_files: int
    rule_ids: set[str]
    skipped: list[tuple[str, str]]


def hygie_home() -> Path:
    """Hygie's data folder: ``$HYGIE_HOME``, else ``~/.local/share/hygie`` (XDG's default)."""
    return Path(os.environ.get("HYGIE_HOME") or Path.home() / ".local" / "share" / "hygie")


def default_rules_dir() -> Path:
    """Where ``hygie rules update`` installs rules and ``hygie hunt`` looks for them."""
    return hygie_home() / "rules" / "sigma"


def rule_folders(given: list[Path] | None) -> list[Path]:
    """The rule folders a command uses: those given, else the installed rules if any."""
    folders = list(given or [])
    if not folders and default_rules_dir().is_dir():
        folders.append(default_rules_dir())
    return folders


def display_source(source: str) -> str:
    """The source as printed and recorded: a URL loses its credentials and query string, where
    a hospital mirror's token would otherwise reach a world-readable file or a terminal log."""
    if not is_url(source):
        return str(Path(source).expanduser().resolve())
    try:
        parts = urllib.parse.urlsplit(source)
        host, port = parts.hostname or "", parts.port
    except ValueError as exc:  # a port that is not a number, a broken IPv6 address
        raise UpdateError(f"invalid URL: {exc}") from exc
    host = f"[{host}]" if ":" in host else host
    host = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_url(source: str) -> bool:
    """Only http(s) is fetched; anything else is a local path (``file:`` and ``ftp:`` refused)."""
    return source.lower().startswith(("http://", "https://"))


def fetch(source: str, into: Path, progress: Progress | None = None,
          timeout: float = 30.0) -> Path:
    """A local path is used as is; an http(s) URL is streamed to ``into/archive.zip``.

    ``timeout`` bounds each network operation, ``DOWNLOAD_DEADLINE_S`` the whole download,
    ``MAX_ARCHIVE_BYTES`` its size, checked as bytes arrive (Content-Length can lie)."""
    if not is_url(source):
        if "://" in source:
            raise UpdateError(f"unsupported URL scheme (http or https only): {source}")
        path = Path(source).expanduser()
        if not path.is_file():
            raise UpdateError(f"no such archive: {source}")
        if path.stat().st_size > MAX_ARCHIVE_BYTES:
            raise UpdateError(f"archive larger than {MAX_ARCHIVE_BYTES} bytes: {source}")
        return path
    shown = display_source(source)
    target = into / "archive.zip"
    deadline = time.monotonic() + DOWNLOAD_DEADLINE_S
    agent = {"User-Agent": "hygie-rules-update"}
    request = urllib.request.Request(source, headers=agent)  # noqa: S310 - http(s) checked
    try:
        with (urllib.request.urlopen(request, timeout=timeout) as response,  # noqa: S310
              open(target, "wb") as out):
            if not is_url(response.geturl()):  # urllib follows redirects to ftp:
                raise UpdateError(f"{shown} redirected to a non-http URL")
            length = response.headers.get("Content-Length", "")
            expected = int(length) if length.isdigit() else None
            if expected is not None and expected > MAX_ARCHIVE_BYTES:
                raise UpdateError(f"archive too large ({expected} bytes, limit "
                                  f"{MAX_ARCHIVE_BYTES})")
            done = 0
            while chunk := response.read(1 << 16):
                done += len(chunk)
                if done > MAX_ARCHIVE_BYTES:
                    raise UpdateError(f"archive larger than {MAX_ARCHIVE_BYTES} bytes")
                if time.monotonic() > deadline:
                    raise UpdateError(f"download took longer than {DOWNLOAD_DEADLINE_S:.0f} s")
                out.write(chunk)
                if progress is not None:
                    progress(done, expected)
            if expected is not None and done != expected:
                raise UpdateError(f"download incomplete: {done} of {expected} bytes")
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"cannot download {shown}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = str(getattr(exc, "reason", None) or exc) or type(exc).__name__
        raise UpdateError(f"cannot download {shown}: {reason}") from exc
    return target


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def safe_member_path(name: str) -> PurePosixPath:
    """The member's relative path, or UpdateError if it could land outside the target.

    Refused: absolute paths, ``..``, drive letters and other colons (NTFS streams), NUL bytes;
    backslashes count as separators, as Windows tools would read them.
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if (path.is_absolute() or ".." in path.parts or not path.parts or "\x00" in name
            or any(":" in part for part in path.parts)):
        raise UpdateError(f"unsafe path in archive: {name!r}")
    return path


def common_prefix_depth(paths: list[PurePosixPath]) -> int:
    """1 when every path sits under one wrapping folder that is not itself a rule folder:
    ``sigma-r2026-07-01/rules/x.yml`` loses its top folder, ``rules/x.yml`` is kept as is."""
    tops = {p.parts[0] for p in paths}
    single = len(tops) == 1 and all(len(p.parts) > 1 for p in paths)
    return 1 if single and not next(iter(tops)).startswith("rules") else 0


def wanted(path: PurePosixPath, rule_folders_only: bool) -> bool:
    """Rule YAML and the few kept text files. A source archive also holds ``.github/*.yml``,
    ``tests/``, ``deprecated/``...: once an archive has ``rules*`` folders only those count."""
    if path.name.lower() in KEPT_NAMES:
        return True
    if path.suffix.lower() not in RULE_SUFFIXES:
        return False
    return not rule_folders_only or (len(path.parts) > 1 and path.parts[0].startswith("rules"))


def _check_members(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Every check that needs no decompression, so a hostile archive costs nothing."""
    members = [m for m in zf.infolist() if not m.is_dir()]
    if len(members) > MAX_MEMBERS:
        raise UpdateError(f"archive has {len(members)} members (limit {MAX_MEMBERS})")
    if sum(m.file_size for m in members) > MAX_UNPACKED_BYTES:
        raise UpdateError(f"archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")
    checked, seen = [], set()
    for member in members:
        path = safe_member_path(member.filename)
        if stat.S_ISLNK(member.external_attr >> 16):
            raise UpdateError(f"symbolic link in archive: {member.filename!r}")
        if member.flag_bits & 0x1:
            raise UpdateError(f"encrypted member in archive: {member.filename!r}")
        key = path.as_posix().casefold()  # a.yml and A.yml collide on Windows and macOS
        if key in seen:
            raise UpdateError(f"duplicate member in archive: {member.filename!r}")
        seen.add(key)
        checked.append((member, path))
    return checked


def extract_verified(archive: Path, target: Path) -> Extracted:
    """Extract rule files into ``target`` after checking the whole archive first.

    Structural problems (not a zip, bad CRC, unsafe path, link, too big) reject the archive; a
    rule file that is too large or not UTF-8 YAML is skipped and reported: one broken rule
    among thousands should not hold back the others' updates."""
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise UpdateError(f"not a valid zip archive: {exc}") from exc
    with zf:
        members = _check_members(zf)
        try:
            broken = zf.testzip()
            if broken is not None:
                raise UpdateError(f"corrupt member in archive (CRC mismatch): {broken}")
            strip = common_prefix_depth([p for _, p in members]) if members else 0
            relatives = [(m, PurePosixPath(*p.parts[strip:])) for m, p in members]
            rule_folders_only = any(len(r.parts) > 1 and r.parts[0].startswith("rules")
                                    for _, r in relatives)
            result = Extracted(0, set(), [])
            for member, relative in relatives:
                if not wanted(relative, rule_folders_only):
                    continue
                if member.file_size > MAX_MEMBER_BYTES:
                    result.skipped.append((relative.as_posix(), "file too large"))
                    continue
                data = zf.read(member)
                if relative.suffix.lower() in RULE_SUFFIXES:
                    try:
                        documents = list(yaml.load_all(data.decode("utf-8"),
                                                       Loader=_YAML_LOADER))
                    # ValueError: also what PyYAML raises for `date: 2023-02-30` or `!!int x`
                    except (ValueError, yaml.YAMLError, RecursionError) as exc:
                        kind = "not UTF-8" if isinstance(exc, UnicodeError) else "invalid YAML"
                        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                        result.skipped.append((relative.as_posix(), f"{kind}: {reason}"))
                        continue
                    result.rule_files += 1
                    result.rule_ids.update(d["id"] for d in documents if isinstance(d, dict)
                                           and isinstance(d.get("id"), str))
                destination = target.joinpath(*relative.parts)
                destination.parent.mkdir(parents=True, exist_ok=True)
                destination.write_bytes(data)
        except (zipfile.BadZipFile, EOFError, RuntimeError, NotImplementedError,
                zipfile.LargeZipFile) as exc:  # damaged or unsupported compression
            raise UpdateError(f"corrupt or unsupported zip archive: {exc}") from exc
    if result.rule_files == 0:
        raise UpdateError("archive holds no readable rule files")
    return result


def file_hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every rule file under ``root``, by POSIX path relative to it."""
    if not root.is_dir():
        return {}
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.suffix.lower() in RULE_SUFFIXES and path.is_file()
    }


def diff_hashes(old: Mapping[str, str], new: Mapping[str, str],
                ) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) paths, each sorted, between two ``file_hashes`` maps."""
    added = sorted(new.keys() - old.keys())
    removed = sorted(old.keys() - new.keys())
    changed = sorted(p for p in old.keys() & new.keys() if old[p] != new[p])
    return added, changed, removed


def read_metadata(rules_dir: Path) -> dict[str, object] | None:
    """The provenance recorded by the last update (source, sha256, time), if any."""
    try:
        data = json.loads((rules_dir / METADATA_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _check_replaceable(rules_dir: Path) -> None:
    """Refuse to swap away a folder this command did not install: the swap deletes the old
    folder whole, and ``--rules-dir`` pointing at a clone with local rules must not lose them."""
    if not rules_dir.exists():
        return
    if not rules_dir.is_dir():
        raise UpdateError(f"{rules_dir} exists and is not a folder")
    if (rules_dir / METADATA_FILE).is_file() or not any(rules_dir.iterdir()):
        return
    raise UpdateError(f"{rules_dir} holds files not installed by `hygie rules update` "
                      f"(no {METADATA_FILE}); move it away or choose another --rules-dir")


@contextlib.contextmanager
def _locked(rules_dir: Path) -> Iterator[None]:
    """An exclusive lock beside the rules folder for the whole update (POSIX only)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    with open(rules_dir.parent / f".{rules_dir.name}.lock", "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise UpdateError(f"another update of {rules_dir} is running") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _swap(staged: Path, rules_dir: Path, backup: Path) -> None:
    """Two renames on one file system: old rules aside, new ones in their place. Between them
    the folder is briefly absent, never half-written; if the second fails the old comes back."""
    had_old = rules_dir.exists()
    if had_old:
        rules_dir.rename(backup)
    try:
        staged.rename(rules_dir)
    except OSError:
        if had_old:
            backup.rename(rules_dir)
        raise


def update_rules(source: str | None = None, rules_dir: Path | None = None,
                 sha256: str | None = None, *, progress: Progress | None = None,
                 timeout: float = 30.0) -> UpdateReport:
    """Fetch, verify and install a rule archive; report what changed against the old rules.

    ``source``: http(s) URL or local zip (default: SigmaHQ's latest ``sigma_all_rules.zip``);
    ``rules_dir``: default ``default_rules_dir()``. Raises ``UpdateError`` (installed rules
    untouched) when the archive cannot be fetched or verified, ``OSError`` when the rules
    folder itself cannot be written."""
    source = source or DEFAULT_URL
    rules_dir = (rules_dir or default_rules_dir()).expanduser().absolute()
    expected = sha256.strip().lower() if sha256 else None
    if expected is not None and not _SHA256.fullmatch(expected):
        raise UpdateError(f"--sha256 must be 64 hexadecimal digits, got {sha256!r}")
    _check_replaceable(rules_dir)
    rules_dir.parent.mkdir(parents=True, exist_ok=True)
    # The work folder is a sibling of rules_dir, so the final renames stay on one file system.
    with _locked(rules_dir), tempfile.TemporaryDirectory(
            prefix=f".{rules_dir.name}-update-", dir=rules_dir.parent,
            ignore_cleanup_errors=True) as tmp:
        work = Path(tmp)
        archive = fetch(source, work, progress, timeout)
        digest = sha256_of(archive)
        if expected is not None and digest != expected:
            raise UpdateError(f"SHA-256 mismatch: archive is {digest}, expected {expected}")
        staged = work / "rules"
        staged.mkdir()
        extracted = extract_verified(archive, staged)
        added, changed, removed = diff_hashes(file_hashes(rules_dir), file_hashes(staged))
        report = UpdateReport(display_source(source), digest, extracted.rule_files,
                              len(extracted.rule_ids), added, changed, removed, extracted.skipped)
        metadata = {
            "source": report.source, "sha256": digest,
            "installed": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "rule_files": report.rule_files, "rule_ids": report.rule_ids,
            "skipped": [list(item) for item in report.skipped],
        }
        (staged / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n",
                                            encoding="utf-8")
        _swap(staged, rules_dir, work / "previous")
    return report
