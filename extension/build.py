#!/usr/bin/env python3
"""Compile the extension against a ZooKeeper's own jars and pack it as one jar.

    python3 extension/build.py --lib /opt/zookeeper/lib --out zookeeper-k8s-extension.jar

`--root` names a root whose lib/ links point inside it (the live tests' rock root): links are
then resolved under that root, not on this machine. Release 17 bytecode runs on the rock's
Java 21 and on the JDK 17 that builds it here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

SOURCES = Path(__file__).resolve().parent / "src"
RELEASE = "17"


def sources() -> list[Path]:
    return sorted(SOURCES.rglob("*.java"))


def fingerprint() -> str:
    """Changes whenever a source does: callers cache the jar by it."""
    digest = hashlib.sha256()
    for path in sources():
        digest.update(str(path.relative_to(SOURCES)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def classpath(lib: Path, root: Path | None = None) -> str:
    jars = []
    for jar in sorted(lib.glob("*.jar")):
        if root is not None and jar.is_symlink():
            target = Path(os.readlink(jar))
            jar = root / target.relative_to("/") if target.is_absolute() else jar.parent / target
        jars.append(str(jar))
    return os.pathsep.join(jars)


def build(lib: Path, out: Path, root: Path | None = None, javac: str = "javac") -> Path:
    with tempfile.TemporaryDirectory() as classes:
        subprocess.run(
            [
                javac,
                "--release",
                RELEASE,
                "-Xlint:all,-path,-serial",
                "-Werror",
                "-implicit:none",
                "-cp",
                classpath(lib, root),
                "-d",
                classes,
                *map(str, sources()),
            ],
            check=True,
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as jar:
            jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
            for path in sorted(Path(classes).rglob("*.class")):
                jar.write(path, path.relative_to(classes).as_posix())
        partial.replace(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lib", type=Path, required=True, help="ZooKeeper's lib/ directory")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--root", type=Path, help="resolve absolute links in lib/ under this root")
    args = parser.parse_args()
    print(build(args.lib, args.out, args.root), file=sys.stderr)


if __name__ == "__main__":
    main()
