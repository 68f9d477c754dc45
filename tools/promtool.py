#!/usr/bin/env python3
"""Put promtool in .cache/promtool/ (nothing to do when it is already there).

    python tools/promtool.py        # prints the path of the promtool binary

The alert-rule tests run `promtool check rules` and `promtool test rules`. Debian ships
promtool in the `prometheus` package, whose install would also set up and start a
Prometheus service; the tests only need the binary, so bookworm's .deb is fetched through a
private apt directory (tools/debian_archive.py: the machine's apt sources and state stay as
they are) and unpacked with `dpkg-deb -x`. Safe to run from several processes at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import debian_archive

SUITE = "bookworm"
PACKAGE = "prometheus"
ROOT = debian_archive.REPO / ".cache" / "promtool"
BINARY = ROOT / "usr" / "bin" / "promtool"


def ensure(root: Path = ROOT) -> Path:
    # A copy of the tree (mutmut's mutants/) has no .cache: `make mutation` points here at
    # the real one rather than fetching the package again.
    if os.environ.get("PROMTOOL"):
        return Path(os.environ["PROMTOOL"])
    binary = root / "usr" / "bin" / "promtool"
    if binary.exists():
        return binary
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / "promtool.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists():
            return binary
        with tempfile.TemporaryDirectory(dir=root.parent) as work:
            debs = debian_archive.download([PACKAGE], Path(work) / "debs", suite=SUITE)
            unpacked = Path(work) / "root"
            for deb in debs:
                subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
            if not (unpacked / "usr" / "bin" / "promtool").exists():
                raise RuntimeError(f"{PACKAGE} from {SUITE} holds no usr/bin/promtool")
            # Renamed into place whole, so a reader never sees a half-unpacked tree.
            shutil.rmtree(root, ignore_errors=True)
            unpacked.rename(root)
    return binary


if __name__ == "__main__":
    print(ensure())
