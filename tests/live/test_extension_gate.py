"""The server extension's decisions, checked without a server: extension/test's GateCheck builds
request frames with ZooKeeper's own jute classes, hands them to Gate, RequestFilter and Users,
and reads back what they return. Compiled and run against the live root's 3.9.3 jars and the
extension jar built from the current sources; no network, no ZooKeeper process."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from extension import build
from layout import ZK_HOME
from tests.live.rootfs import EXTENSION_JAR, ensure_root

REPO = Path(__file__).resolve().parents[2]
CHECK = REPO / "extension" / "test" / "zookeeperk8s" / "GateCheck.java"
# Gate logs refusals of unreadable requests at debug: keep the output to the checks' lines.
LOGBACK = """<configuration>
  <appender name="err" class="ch.qos.logback.core.ConsoleAppender">
    <target>System.err</target>
    <encoder><pattern>%level %logger %msg%n</pattern></encoder>
  </appender>
  <root level="WARN"><appender-ref ref="err"/></root>
</configuration>
"""


@pytest.fixture(scope="module")
def classpath() -> str:
    """ZooKeeper 3.9.3's jars, resolved inside the root, and the extension jar."""
    root = ensure_root()
    lib = root / ZK_HOME.relative_to("/") / "lib"
    jar = lib / EXTENSION_JAR
    assert jar.is_file(), f"{jar} was not built"
    jars = build.classpath(lib, root).split(os.pathsep)
    if str(jar) not in jars:
        jars.append(str(jar))
    return os.pathsep.join(jars)


def test_gate_decisions_on_client_frames(classpath: str, tmp_path: Path):
    classes = tmp_path / "classes"
    compiled = subprocess.run(
        [
            "javac",
            "--release",
            "17",
            "-Xlint:all,-path,-serial",
            "-cp",
            classpath,
            "-d",
            str(classes),
            str(CHECK),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert compiled.returncode == 0, compiled.stderr[-4000:]
    logback = tmp_path / "logback.xml"
    logback.write_text(LOGBACK)
    ran = subprocess.run(
        [
            "java",
            f"-Dlogback.configurationFile={logback}",
            "-cp",
            os.pathsep.join([str(classes), classpath]),
            "zookeeperk8s.GateCheck",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = ran.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAIL ")]
    summary = lines[-1] if lines else "(no output)"
    if ran.returncode != 0 or failed:
        shown = [*failed, summary] if failed else [summary, ran.stderr[-4000:]]
        pytest.fail("\n".join(shown), pytrace=False)
    assert sum(line.startswith("ok ") for line in lines) >= 100, summary
