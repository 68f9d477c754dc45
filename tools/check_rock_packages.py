#!/usr/bin/env python3
"""Check that every package rockcraft.yaml names (stage- and build-packages) is a real one.

    python tools/check_rock_packages.py [ROCKCRAFT_YAML]

The rock stages Ubuntu 24.04 packages, but Ubuntu's archive cannot be reached from the
machines this project runs on. Debian 13 (trixie) is the closest index that can: Ubuntu
takes most of its archive from Debian and keeps Debian's package names, so a name that is
missing from trixie is almost always a typo or a name that never existed (it is how
`python3-puresasl`, really `python3-pure-sasl`, was caught). A name Ubuntu adds on its own
would be a false alarm; none of the rock's is one.

Exit status: 0 when every name resolves, 1 naming the ones that do not.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

import debian_archive

ROCKCRAFT = debian_archive.REPO / "rockcraft.yaml"


def stage_packages(rockcraft: Path) -> list[str]:
    parts = (yaml.safe_load(rockcraft.read_text()) or {}).get("parts") or {}
    names: list[str] = []
    for part in parts.values():
        for key in ("stage-packages", "build-packages"):
            _collect((part or {}).get(key) or [], names)
    return names


def _collect(entries, names: list[str]) -> None:
    for entry in entries:
        if isinstance(entry, dict):
            # The craft grammar (`on amd64:`, `to arm64:`, `else:`): every branch counts.
            for branch in entry.values():
                _collect(branch if isinstance(branch, list) else [branch], names)
        else:
            # name=version and name:arch are allowed; the index knows the bare name.
            names.append(str(entry).split("=")[0].split(":")[0])


def main(argv: list[str]) -> int:
    rockcraft = Path(argv[0]) if argv else ROCKCRAFT
    names = stage_packages(rockcraft)
    missing = [name for name in names if not debian_archive.package_exists(name)]
    if missing:
        print(
            f"not in Debian {debian_archive.SUITE}'s index: {', '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    print(
        f"{len(names)} stage-packages found in Debian {debian_archive.SUITE}: {', '.join(names)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
