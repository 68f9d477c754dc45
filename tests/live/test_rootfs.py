"""The rock's root, rebuilt from Debian 13 packages, runs ZooKeeper as the rock runs it.

Everything here happens in the built root as the rock's `zookeeper` user (10000), in a
network namespace this module creates and removes: the server's port exists nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import render
from layout import JAVA_HOME, K8S, STORAGE, ZK_HOME
from tests.live.cluster import deadline_poll
from tests.live.rootfs import DEFAULT_PATH, USER_ID, ZK_VERSION, ensure_root, pod_argv

MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
ZOO_CFG = STORAGE / "conf" / "zoo.cfg"
LOGBACK = STORAGE / "conf" / "logback.xml"
# Printed by logback only: proves the log lines come through the upstream binding.
LOG_MARK = "rootfs-logback"
JAVA_ENV = {"JAVA_HOME": JAVA_HOME}


@pytest.fixture(scope="session")
def root() -> Path:
    return ensure_root()


@pytest.fixture
def netns():
    name = f"zkt-rootfs-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=True)


@pytest.fixture
def storage(tmp_path) -> Path:
    """A fresh PVC (root:root) with what the charm pushes into it, owned as the charm does."""
    volume = tmp_path / "storage"
    volume.mkdir()
    for sub in ("conf", "data"):
        (volume / sub).mkdir()
    (volume / "conf" / "zoo.cfg").write_text(
        f"dataDir={STORAGE}/data\n"
        "tickTime=2000\n"
        "clientPort=2181\n"
        "admin.serverPort=8080\n"
        "4lw.commands.whitelist=ruok,srvr,mntr\n"
    )
    (volume / "conf" / "logback.xml").write_text(
        "<configuration>\n"
        '  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">\n'
        f"    <encoder><pattern>{LOG_MARK} %level %logger{{0}}: %msg%n</pattern></encoder>\n"
        "  </appender>\n"
        '  <root level="INFO"><appender-ref ref="CONSOLE"/></root>\n'
        "</configuration>\n"
    )
    for path in [volume / "conf", volume / "data", *(volume / "conf").iterdir()]:
        os.chown(path, USER_ID, USER_ID)
    return volume


@pytest.fixture
def hosts(tmp_path) -> Path:
    path = tmp_path / "hosts"
    path.write_text("127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.0.1\tzookeeper-k8s-0.test\n")
    return path


@pytest.fixture
def server(root, storage, hosts, netns, tmp_path):
    """A standalone server started as the charm's Pebble layer starts it."""
    java = [
        f"{JAVA_HOME}/bin/java",
        "-Xmx128m",
        f"-Dlogback.configurationFile={LOGBACK}",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.forceSync=no",
        "-cp",
        f"{ZK_HOME}/lib/*",
        MAIN_CLASS,
        str(ZOO_CFG),
    ]
    argv = pod_argv(
        root, java, storage=storage, hosts=hosts, netns=netns, user="zookeeper", env={}
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    process.log = log
    try:
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def four_letter(netns: str, word: str, port: int = 2181) -> str:
    """A 4lw from inside the namespace; '' while nothing answers."""
    client = (
        "import socket, sys\n"
        "try:\n"
        f"    with socket.create_connection(('127.0.0.1', {port}), timeout=2) as s:\n"
        f"        s.sendall(b'{word}')\n"
        "        out = b''.join(iter(lambda: s.recv(4096), b''))\n"
        "except OSError:\n"
        "    out = b''\n"
        "sys.stdout.write(out.decode())\n"
    )
    return subprocess.run(
        ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c", client],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout


def serving(server: subprocess.Popen, netns: str) -> str:
    if server.poll() is not None:
        raise AssertionError(f"server exited {server.returncode}:\n{server.log.read_text()}")
    reply = four_letter(netns, "srvr")
    return reply if "Mode:" in reply else ""


def status(root, storage, hosts, netns) -> subprocess.CompletedProcess:
    argv = [f"{ZK_HOME}/bin/zkServer.sh", "status", str(ZOO_CFG)]
    return subprocess.run(
        pod_argv(
            root, argv, storage=storage, hosts=hosts, netns=netns, user="zookeeper", env=JAVA_ENV
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def proc_status(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return dict(line.split(":", 1) for line in lines)


def test_zookeeper_serves_from_the_rock_classpath_as_the_rock_user(server, netns, storage):
    reply = deadline_poll(lambda: serving(server, netns), 60, "srvr to answer")

    assert f"Zookeeper version: {ZK_VERSION}" in reply
    assert "Mode: standalone" in reply
    # The Popen's process is Java itself, so Pebble-style signals reach it.
    assert Path(f"/proc/{server.pid}/cmdline").read_bytes().split(b"\0")[0] == (
        f"{JAVA_HOME}/bin/java".encode()
    )
    ids = proc_status(server.pid)
    assert ids["Uid"].split() == [str(USER_ID)] * 4
    assert ids["Gid"].split() == [str(USER_ID)] * 4
    assert ids["Groups"].split() == []  # as Pebble sets them: no supplementary groups
    data = sorted((storage / "data").rglob("*"))
    assert any(path.name == "version-2" for path in data)
    assert {(path.stat().st_uid, path.stat().st_gid) for path in data} == {(USER_ID, USER_ID)}
    log = server.log.read_text()
    assert LOG_MARK in log
    assert "SLF4J" not in log  # one binding, found: no "multiple bindings" or "NOP" warnings
    assert four_letter(netns, "ruok") == "imok"


def test_zkserver_status_follows_the_server(root, server, storage, hosts, netns):
    deadline_poll(lambda: serving(server, netns), 60, "srvr to answer")

    up = status(root, storage, hosts, netns)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "Mode: standalone" in up.stdout

    stop(server)
    down = status(root, storage, hosts, netns)
    assert down.returncode != 0, down.stdout + down.stderr
    assert "Error contacting service" in down.stdout


def cpu_seconds() -> float:
    """CPU time of this process's children that have been waited for, user and system."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def health_check(root, storage, hosts, netns, tracer=()) -> subprocess.CompletedProcess:
    """The charm's Pebble check, run in the pod as Pebble runs it.

    `seconds` is its wall time and `cpu` the CPU time of every process of the run (the
    pod's setup, about 50 ms, included).
    """
    spec = render.health_check(K8S)
    argv = pod_argv(
        root,
        shlex.split(spec["command"]),
        storage=storage,
        hosts=hosts,
        netns=netns,
        user=spec["user"],
        group=spec["group"],
        env=spec.get("environment", {}),
    )
    start, cpu = time.monotonic(), cpu_seconds()
    done = subprocess.run([*tracer, *argv], capture_output=True, text=True, timeout=60)
    done.seconds, done.cpu = time.monotonic() - start, cpu_seconds() - cpu
    return done


# A client port that answers as a server that is not serving would, in the pod's namespace.
FAKE_PORT = """
import socket, sys, time
answer = sys.argv[1].encode()
with socket.create_server(("127.0.0.1", 2181)) as server:
    print("listening", flush=True)
    while True:
        peer, _ = server.accept()
        peer.recv(4)
        if answer == b"hang":
            time.sleep(60)
        peer.sendall(answer)
        peer.close()
"""


@contextlib.contextmanager
def fake_client_port(netns: str, answer: str):
    process = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{netns}", sys.executable, "-c", FAKE_PORT, answer],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline() == "listening\n"
        yield
    finally:
        process.kill()
        process.wait(timeout=10)


def test_the_health_check_follows_the_server_quietly_and_starts_no_jvm(
    root, server, storage, hosts, netns
):
    deadline_poll(lambda: serving(server, netns), 60, "srvr to answer")

    up = health_check(root, storage, hosts, netns)
    assert (up.returncode, up.stdout, up.stderr) == (0, "", "")
    # No JVM: zkServer.sh status cost 0.5-0.6 s of CPU here (a JVM start), this check about
    # 45 ms, nearly all of it the pod's setup (/bin/true in the pod: about 40 ms). CPU, not
    # wall: the old check took under 1 s of wall too, and wall time swings with the load.
    assert up.cpu < 0.25, up.cpu

    stop(server)
    down = health_check(root, storage, hosts, netns)
    assert (down.returncode, down.stdout, down.stderr) == (
        1,
        "nothing answers on 127.0.0.1:2181\n",
        "",
    )


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_the_health_check_executes_bash_and_nothing_else(root, server, storage, hosts, netns):
    deadline_poll(lambda: serving(server, netns), 60, "srvr to answer")
    trace = storage.parent / "exec.trace"
    strace = ("strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-o", str(trace))

    done = health_check(root, storage, hosts, netns, tracer=strace)
    assert (done.returncode, done.stderr) == (0, "")
    programs = re.findall(r'^\d+ +execve\("([^"]+)"', trace.read_text(), flags=re.MULTILINE)
    # Everything up to chroot sets the pod up; from there on, what Pebble would run.
    in_pod = programs[programs.index(shutil.which("chroot") or "/usr/sbin/chroot") + 1 :]
    assert in_pod == ["/usr/bin/setpriv", "/usr/bin/timeout", "/bin/bash"]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(
            "This ZooKeeper instance is not currently serving requests\n", id="not-serving"
        ),
        pytest.param("srvr is not executed because it is not in the whitelist.\n", id="whitelist"),
        pytest.param("Zookeeper version: 3.9.3\nNode count: 5", id="no-mode-line"),
        pytest.param("", id="closed-at-once"),
    ],
)
def test_the_health_check_fails_on_any_answer_without_a_mode_line(
    root, storage, hosts, netns, answer
):
    with fake_client_port(netns, answer):
        done = health_check(root, storage, hosts, netns)
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.startswith("not serving on 127.0.0.1:2181:")
    assert " ".join(answer.split()) in done.stdout


def test_the_health_check_passes_on_a_mode_line_even_without_a_final_newline(
    root, storage, hosts, netns
):
    with fake_client_port(netns, "Zxid: 0x100000002\nMode: follower"):
        done = health_check(root, storage, hosts, netns)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_hung_server_fails_the_health_check_within_its_timeout(root, storage, hosts, netns):
    with fake_client_port(netns, "hang"):
        done = health_check(root, storage, hosts, netns)
    assert (done.returncode, done.stderr) == (124, "")  # coreutils timeout's own status
    assert render.CHECK_TIMEOUT_SECONDS <= done.seconds < render.CHECK_TIMEOUT_SECONDS + 2


def test_a_pod_process_runs_as_the_rock_user_with_the_pods_name_and_hosts(root, storage, hosts):
    # What the process was started with is read by the process itself (/proc/self/environ);
    # coreutils and dash are all the rock's base brings for this.
    probe = (
        "id -u; id -g; id -G; tr '\\000' '\\n' < /proc/self/environ; echo --;"
        " cat /proc/sys/kernel/hostname; echo --; cat /etc/hosts"
    )
    argv = pod_argv(
        root,
        ["/bin/sh", "-c", probe],
        storage=storage,
        hosts=hosts,
        user="zookeeper",
        hostname="zookeeper-k8s-0",
    )
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    ids_env, name, hosts_file = done.stdout.split("--\n")
    uid, gid, groups, *env = ids_env.splitlines()
    assert (int(uid), int(gid), groups) == (USER_ID, USER_ID, str(USER_ID))
    assert env == [f"PATH={DEFAULT_PATH}"]
    assert name.strip() == "zookeeper-k8s-0"
    assert "zookeeper-k8s-0.test" in hosts_file


def test_the_root_carries_no_python_as_the_rock_does_not(root):
    # The rock dropped python3 and kazoo with the guard: the extension runs in the JVM.
    assert not (root / "usr/bin/python3").exists()
    assert (root / "opt/zookeeper/lib/zookeeper-k8s-extension.jar").is_file()


def test_pods_leave_the_shared_root_untouched(root, storage, hosts):
    done = subprocess.run(
        pod_argv(
            root,
            ["sh", "-c", "touch /var/lib/zookeeper/mark /tmp/x; touch /x"],
            storage=storage,
            hosts=hosts,
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "Read-only file system" in done.stderr
    assert (storage / "mark").exists()
    assert list((root / "var/lib/zookeeper").iterdir()) == []
    assert not (root / "tmp" / "x").exists()
    assert str(root) not in Path("/proc/self/mountinfo").read_text()


STARTER = """
import json, pathlib, subprocess, sys, time
p = subprocess.Popen(json.loads(sys.argv[1]), start_new_session=True, stdout=subprocess.DEVNULL)
status = pathlib.Path(f"/proc/{p.pid}/status")
deadline = time.monotonic() + 10
while "Name:\tsleep" not in status.read_text() and time.monotonic() < deadline:
    time.sleep(0.05)  # until the pod process is the workload: the kill request is set by then
assert "Name:\tsleep" in status.read_text(), "the pod process never started"
print(p.pid, flush=True)
"""


def dead(pid: int) -> bool:
    # Reparented to this sandbox's init, a killed process may stay a zombie for a while.
    path = Path(f"/proc/{pid}/status")
    return not path.exists() or "State:\tZ" in path.read_text()


def test_a_pod_process_dies_with_the_process_that_started_it(root, storage):
    # A test run killed outright (a CI timeout) must leave no server running behind it.
    argv = pod_argv(root, ["/bin/sleep", "300"], storage=storage, user="zookeeper")
    starter = subprocess.run(
        [sys.executable, "-c", STARTER, json.dumps(argv)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    pid = int(starter.stdout)
    deadline_poll(lambda: dead(pid), 10, "the orphaned pod process to die")
