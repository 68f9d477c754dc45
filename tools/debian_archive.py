"""A private apt directory for one Debian suite (trixie unless told), apart from the system's.

The rock is built from Ubuntu 24.04 packages, which cannot be fetched here; Debian 13's are
the nearest stand-ins. This keeps a suite's index in a cache directory of its own, so the
machine's suites, its installed-package state and its pins are never touched (tools such as
promtool come from bookworm the same way: `download([...], dest, suite="bookworm")`):

    apt = ensure_index()             # apt-get update, at most once a day
    package_exists("python3-kazoo")
    download(["libzookeeper-java=3.9.3-1+deb13u1"], dest)

The mirror is the one this machine's apt already uses (its `URIs:` line for the main
archive), so a local mirror or proxy keeps working. Signatures are verified with the
system's debian-archive-keyring: the archive signs trixie's InRelease with the bookworm
automatic key as well as with trixie's own keys, so even a bookworm keyring that predates
the trixie keys verifies it. Nothing here disables verification.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

SUITE = "trixie"
REPO = Path(__file__).resolve().parents[1]
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SYSTEM_SOURCES = Path("/etc/apt/sources.list.d")
FRESH_FOR = 24 * 3600


@dataclasses.dataclass(frozen=True)
class AptDir:
    root: Path

    @property
    def sources_list(self) -> Path:
        return self.root / "sources.list"

    def options(self) -> list[str]:
        return [
            f"-oDir::Etc::sourcelist={self.sources_list}",
            "-oDir::Etc::sourceparts=/dev/null",
            # The machine's pins name its own suites; they must not steer this suite's candidates.
            "-oDir::Etc::preferences=/dev/null",
            "-oDir::Etc::preferencesparts=/dev/null",
            f"-oDir::State::Lists={self.root / 'lists'}",
            # An empty dpkg status: what bookworm has installed must not count as available.
            f"-oDir::State::status={self.root / 'status'}",
            f"-oDir::Cache={self.root / 'cache'}",
            # The image's apt.conf.d turns the binary caches off; each look-up would then
            # reparse the whole index.
            "-oDir::Cache::pkgcache=pkgcache.bin",
            "-oDir::Cache::srcpkgcache=srcpkgcache.bin",
            "-oAPT::Update::Error-Mode=any",
        ]

    def run(self, tool: str, *args: str, cwd: Path | None = None) -> str:
        result = subprocess.run(
            [tool, *self.options(), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"},
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{tool} {' '.join(args)} failed ({result.returncode}):\n{result.stderr}"
            )
        return result.stdout


def system_mirror(sources_dir: Path = SYSTEM_SOURCES) -> str:
    """The URI of the main Debian archive in this machine's deb822 sources."""
    for path in sorted(sources_dir.glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, sep, value = line.partition(":")
                if sep and not line.startswith(("#", " ", "\t")):
                    fields[key.strip().lower()] = value.split()
            # The main archive carries a bare codename; security and updates carry a suffix.
            if "deb" in fields.get("types", []) and any(
                "-" not in suite for suite in fields.get("suites", [])
            ):
                return fields["uris"][0].rstrip("/")
    raise RuntimeError(f"no main Debian archive in {sources_dir}/*.sources")


def ensure_index(cache: Path | None = None, suite: str = SUITE) -> AptDir:
    apt = AptDir(Path(cache or REPO / ".cache" / f"apt-{suite}"))
    (apt.root / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (apt.root / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    (apt.root / "status").touch()
    mirror = system_mirror()
    sources = "".join(
        f"{kind} [signed-by={KEYRING}] {mirror} {suite} main\n" for kind in ("deb", "deb-src")
    )
    stamp = apt.root / "updated"
    with open(apt.root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = not apt.sources_list.exists() or apt.sources_list.read_text() != sources
        stale = not stamp.exists() or time.time() - stamp.stat().st_mtime > FRESH_FOR
        if changed or stale:
            apt.sources_list.write_text(sources)
            stamp.unlink(missing_ok=True)
            apt.run("apt-get", "-q", "update")
            stamp.touch()
    return apt


def package_exists(name: str, cache: Path | None = None) -> bool:
    """A real binary package of that name (not only a virtual one) is in trixie main."""
    apt = ensure_index(cache)
    try:
        shown = apt.run("apt-cache", "show", "--no-all-versions", name)
    except RuntimeError:
        return False
    # apt-cache exits 0 for a purely virtual name but shows no stanza for it.
    return shown.startswith("Package:")


def download(
    names: Iterable[str], dest: Path, cache: Path | None = None, suite: str = SUITE
) -> list[Path]:
    """Fetch binary packages (`name` or `name=version`) into dest; returns their paths."""
    return _fetch(["download", *names], dest, cache, suite)


def download_source(name: str, dest: Path, cache: Path | None = None) -> list[Path]:
    """Fetch a source package (`name` or `name=version`), not unpacked: .dsc and tarballs."""
    return _fetch(["source", "--download-only", name], dest, cache)


def _fetch(args: list[str], dest: Path, cache: Path | None, suite: str = SUITE) -> list[Path]:
    apt = ensure_index(cache, suite)
    dest.mkdir(parents=True, exist_ok=True)
    # Lines of "'uri' filename size hash". apt leaves out files the directory already holds,
    # so ask from an empty one to learn every name.
    with tempfile.TemporaryDirectory() as empty:
        planned = apt.run("apt-get", "-q", "--print-uris", *args, cwd=Path(empty))
    files = [dest / line.split()[1] for line in planned.splitlines() if line.startswith("'")]
    apt.run("apt-get", "-q", *args, cwd=dest)
    return files


if __name__ == "__main__":
    print(ensure_index().root)
