"""The rock's root filesystem, rebuilt from Debian 13 packages, and a pod's way to run in it.

The rock (rockcraft.yaml) cannot be built here: it needs LXD, Ubuntu's archive and
archive.apache.org. What can be built is a root laid out the same way from Debian 13
(trixie), whose packages stand in for Ubuntu 24.04's:

* `debootstrap --variant=minbase trixie` with the rock's stage-packages (OpenJDK 21 at
  /usr/lib/jvm/java-21-openjdk-amd64), Debian's build of ZooKeeper 3.9.3 and the logback
  1.2 / slf4j 1.7 pair the upstream tarball ships.
* The charm's server extension (extension/), compiled here against the root's own 3.9.3
  jars as the rock's `extension` part compiles it against the tarball's, in lib/.
* /opt/zookeeper as the upstream binary tarball lays it out: bin/ and conf/ from the
  upstream source release (the tarball's assembly copies those two directories verbatim,
  and Debian's source package carries that release as its orig tarball), lib/ with the
  3.9.3 jars and their runtime dependencies as links into /usr/share/java, so that the
  production classpath `/opt/zookeeper/lib/*` works unchanged.
* The `zookeeper` user and group (10000:10000) and the empty, owned mount points
  /var/lib/zookeeper and /var/log/zookeeper, made by the same commands as the rock's
  overlay script.

`ensure_root()` builds it once per recipe under <repo>/.cache; `pod_argv()` runs a process
in it the way a pod's container would.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import inspect
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

from tools import debian_archive

from extension import build as extension_build
from layout import JAVA_HOME, STORAGE, ZK_HOME

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache"
SUITE = debian_archive.SUITE
ZK_VERSION = "3.9.3"
ZK_DEB_VERSION = "3.9.3-1+deb13u1"
PACKAGE_PINNED = "libzookeeper-java"
# The rock's stage-packages, ZooKeeper's jars and the logging binding the upstream tarball
# uses (logback 1.2 on slf4j 1.7; trixie has logback 1.2.11 and slf4j 1.7.32, upstream
# 3.9.3 ships 1.2.13 and 1.7.30). jline 2 is in the tarball's lib/ for zkCli.sh.
PACKAGES = (
    "openjdk-21-jre-headless",
    "libzookeeper-java",
    "liblogback-java",
    "libjline2-java",
)
# Jars that zookeeper-3.9.3.jar's manifest Class-Path does not name but the server needs:
# Netty's codec and resolver (every Netty connection, TLS included), Jetty's servlet API
# (the admin server), the logging binding, and zkCli.sh's line editor.
EXTRA_JARS = (
    "netty-codec",
    "netty-resolver",
    "netty-transport-native-unix-common",
    "servlet-api",
    "logback-classic",
    "logback-core",
    "jline2",
)
# What bin/ and conf/ hold in the rock: the tarball's, less the Windows scripts it primes out.
UPSTREAM_FILES = ("bin/*.sh", "bin/README.txt", "conf/*", "*.txt", "*.md")
USER_ID = 10000
DEBOOTSTRAP_TRIES = 3
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Device nodes a container runtime gives every container; Java reads the random ones.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


def ensure_root(cache: Path | None = None) -> Path:
    """The root for the current recipe, built first if there is none."""
    cache = Path(cache or CACHE)
    root = cache / f"rock-root-{recipe_hash()}"
    if root.is_dir():
        return _with_extension(root, cache)
    # The build fetches from Debian's archive, but a test run may live in a network
    # namespace of its own with no way out (tests/live/network.py): build in the network
    # of the process that started this one, in a child that dies with this process.
    online = ["nsenter", f"--net={outer}", "--"] if (outer := _outer_netns()) else []
    builder = [sys.executable, "-m", "tests.live.rootfs", str(cache)]
    built = subprocess.run(
        ["setpriv", "--pdeathsig", "KILL", *online, *builder],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])},
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise RuntimeError(f"building the rock's root failed:\n{built.stderr[-4000:]}")
    return _with_extension(root, cache)


EXTENSION_JAR = "zookeeper-k8s-extension.jar"


def _with_extension(root: Path, cache: Path) -> Path:
    """The root, with the extension built from the current sources in its lib/.

    Kept out of the root's recipe hash: a change to the Java sources rebuilds the jar (3 s),
    not the root (a minute of debootstrap).
    """
    lib = root / ZK_HOME.relative_to("/") / "lib"
    stamp = lib / f".{EXTENSION_JAR}.sources"
    wanted = extension_build.fingerprint()
    with _locked(cache / "rock-root.lock"):
        if not (
            stamp.is_file() and stamp.read_text() == wanted and (lib / EXTENSION_JAR).is_file()
        ):
            extension_build.build(lib, lib / EXTENSION_JAR, root=root)
            stamp.write_text(wanted)
    return root


def _outer_netns() -> str | None:
    """The network namespace of the nearest ancestor that is not in this process's."""
    own = os.readlink("/proc/self/ns/net")
    pid = os.getppid()
    while pid > 1:
        try:
            if os.readlink(f"/proc/{pid}/ns/net") != own:
                return f"/proc/{pid}/ns/net"
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # gone, or not ours to look at: stay where we are
            return None
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: ppid
    return None


def build_root(cache: Path) -> Path:
    """ensure_root's work, in the network this process has."""
    root = cache / f"rock-root-{recipe_hash()}"
    cache.mkdir(parents=True, exist_ok=True)
    with _locked(cache / "rock-root.lock"):
        if root.is_dir():  # another process built it while this one waited
            return root
        for stale in cache.glob(".rock-root-*"):
            # Only a builder that died leaves these, and none runs while the lock is held.
            _remove(stale)
        partial = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=cache))
        try:
            _build(partial, cache)
        except BaseException:
            shutil.rmtree(partial)
            raise
        partial.chmod(0o755)
        partial.rename(root)
        for old in cache.glob("rock-root-*"):
            if old != root:
                _remove(old)
    return root


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def recipe_hash() -> str:
    """Changes whenever what the build puts in the root could change."""
    recipe = [
        SUITE,
        ZK_VERSION,
        ZK_DEB_VERSION,
        PACKAGE_PINNED,
        *PACKAGES,
        *EXTRA_JARS,
        *UPSTREAM_FILES,
    ]
    recipe += [str(USER_ID), JAVA_HOME, str(ZK_HOME), str(STORAGE)]
    recipe += [inspect.getsource(step) for step in _BUILD_STEPS]
    return hashlib.sha256("\0".join(recipe).encode()).hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build(root: Path, cache: Path) -> None:
    _debootstrap(root, cache)
    _check_versions(root)
    _lay_out_zookeeper(root, cache)
    _add_user(root)
    _tidy(root)


def _debootstrap(root: Path, cache: Path) -> None:
    if shutil.which("debootstrap") is None:
        _apt_install_on_host("debootstrap")
    debs = cache / "debootstrap-debs"  # kept across recipes: a rebuild downloads only news
    debs.mkdir(exist_ok=True)
    log = root.parent / f"{root.name}.log"  # kept when debootstrap fails
    argv = [
        # A builder killed mid-way must not leave debootstrap writing into a directory the
        # next builder is about to remove.
        *("setpriv", "--pdeathsig", "KILL"),
        # debootstrap mounts /proc and /sys in the target; in a mount namespace of its own
        # those go away with it even when it is killed, and never show on the host.
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "debootstrap",
        "--variant=minbase",
        f"--keyring={debian_archive.KEYRING}",
        f"--cache-dir={debs}",
        f"--include={','.join(PACKAGES)}",
        SUITE,
        str(root),
        debian_archive.system_mirror(),
    ]
    for attempt in range(DEBOOTSTRAP_TRIES):
        for leftover in root.iterdir():  # debootstrap wants an empty target
            _remove(leftover)
        with log.open("w") as out:
            done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False)
        if done.returncode == 0:
            log.unlink()
            return
        # The mirror now and then drops a connection; the debs already fetched stay cached.
        if attempt + 1 < DEBOOTSTRAP_TRIES:
            time.sleep(5)
    tail = log.read_text().splitlines()[-20:]
    raise RuntimeError(f"debootstrap failed ({done.returncode}):\n" + "\n".join(tail))


def _apt_install_on_host(package: str) -> None:
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        # A fresh machine's lists may be missing or older than the archive.
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)


def _check_versions(root: Path) -> None:
    # debootstrap takes no version pins, so a trixie point release would change ZooKeeper
    # silently; refuse instead, and let the pin be bumped on purpose.
    installed = subprocess.run(
        ["dpkg-query", f"--admindir={root}/var/lib/dpkg", "-W", "-f=${Version}", PACKAGE_PINNED],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if installed != ZK_DEB_VERSION:
        raise RuntimeError(f"trixie now has {PACKAGE_PINNED} {installed}, not {ZK_DEB_VERSION}")
    java = root / JAVA_HOME.lstrip("/") / "bin" / "java"
    if not java.is_file():
        raise RuntimeError(
            f"no {JAVA_HOME} in the root (this machine is {platform.machine()}; the rock is amd64)"
        )


def _lay_out_zookeeper(root: Path, cache: Path) -> None:
    home = root / ZK_HOME.relative_to("/")
    sources = cache / "zookeeper-source"
    tarball = next(
        path
        for path in debian_archive.download_source(f"zookeeper={ZK_DEB_VERSION}", sources)
        if path.name.endswith(".orig.tar.gz")
    )
    top = f"apache-zookeeper-{ZK_VERSION}/"
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(["tar", "-xzf", tarball, "-C", scratch, top], check=True)
        release = Path(scratch, top)
        for pattern in UPSTREAM_FILES:
            for path in release.glob(pattern):
                target = home / path.relative_to(release)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    for script in (home / "bin").glob("*.sh"):
        script.chmod(0o755)  # as the tarball's assembly sets them

    java_dir = root / "usr/share/java"
    server_jar = java_dir / f"zookeeper-{ZK_VERSION}.jar"
    with zipfile.ZipFile(server_jar) as jar:
        manifest = jar.read("META-INF/MANIFEST.MF").decode()
    # Manifest lines are wrapped at 72 bytes with a leading space on each continuation.
    fields = dict(
        line.split(": ", 1)
        for line in manifest.replace("\r\n", "\n").replace("\n ", "").split("\n")
        if ": " in line
    )
    names = [Path(entry).stem for entry in fields["Class-Path"].split()]
    lib = home / "lib"
    lib.mkdir(parents=True)
    for name in [f"zookeeper-{ZK_VERSION}", *names, *EXTRA_JARS]:
        jar = java_dir / f"{name}.jar"
        if not jar.exists():
            # Named by Debian's manifest but not packaged as a dependency (jline 1): the
            # JVM skips missing Class-Path entries, and lib/ holds jline 2 instead.
            continue
        # Named by version as in the tarball's lib/ (netty-codec-4.1.48.Final.jar, ...) and
        # linked by the path the jar has inside the root.
        target = _inside(root, jar)
        link = lib / target.name
        if not link.is_symlink():
            link.symlink_to(target)


def _inside(root: Path, path: Path) -> Path:
    """Where a symlink chain inside the root ends, as a path inside the root."""
    for _ in range(40):
        if not path.is_symlink():
            return Path("/") / path.relative_to(root)
        target = Path(os.readlink(path))
        path = root / target.relative_to("/") if target.is_absolute() else path.parent / target
        path = Path(os.path.normpath(path))
    raise RuntimeError(f"symlink loop at {path}")


def _add_user(root: Path) -> None:
    # The same commands as the rock's overlay-script, run from the host into the root.
    subprocess.run(["groupadd", "--root", root, "--gid", str(USER_ID), "zookeeper"], check=True)
    subprocess.run(
        [
            *("useradd", "--root", root, "--uid", str(USER_ID), "--gid", str(USER_ID)),
            *("--no-create-home", "--home-dir", str(STORAGE), "--shell", "/usr/sbin/nologin"),
            "zookeeper",
        ],
        check=True,
    )
    for path in (STORAGE, Path("/var/log/zookeeper")):
        directory = root / path.relative_to("/")
        directory.mkdir(parents=True, exist_ok=True)
        os.chown(directory, USER_ID, USER_ID)
        directory.chmod(0o750)


def _tidy(root: Path) -> None:
    # debootstrap leaves its downloads and indexes, and copies of this machine's hostname
    # and resolver: a rock carries none of them (Kubernetes mounts its own resolv.conf).
    for pattern in ("var/cache/apt/archives/*.deb", "var/lib/apt/lists/*_*"):
        for path in root.glob(pattern):
            path.unlink()
    for name in ("etc/hostname", "etc/resolv.conf"):
        (root / name).write_text("")
    # The mount point the container runtime binds the pod's hosts file over; Ubuntu's base
    # image has one, minbase trixie without python3 (netbase) does not.
    (root / "etc/hosts").touch()


_BUILD_STEPS = (_build, _debootstrap, _check_versions, _lay_out_zookeeper, _add_user, _tidy)


def pod_argv(
    root: Path,
    argv: list[str],
    *,
    storage: Path,
    hosts: Path | None = None,
    netns: str | None = None,
    user: str | None = None,
    group: str | None = None,
    env: dict | None = None,
    hostname: str | None = None,
    binds: dict[str, Path] | None = None,
) -> list[str]:
    """An argv that, run as root, runs `argv` in `root` as a pod's container would.

    In network namespace `netns` (a name under /run/netns; None keeps the caller's) and a
    private mount namespace: `storage` is mounted at /var/lib/zookeeper, `hosts` over
    /etc/hosts, /proc and a minimal /dev are there, /tmp, /var/tmp, /dev/shm and
    /var/log/zookeeper are fresh tmpfs (where a container's writable layer would take the
    writes), and the root itself is read-only, so nothing a pod does reaches the shared
    root or another pod. Then chroot, and drop to `user`/`group` looked up in the root's
    own /etc/passwd and /etc/group as Pebble looks them up in the container: a user
    without a group gets the user's primary group, and no supplementary groups. The
    environment is exactly `env`, plus PATH if env has none. With `hostname`, the process
    also gets a UTS namespace of its own carrying that name, as a pod carries its own.
    `binds` maps more paths inside the root to the pod's own directories (Juju's /charm/bin);
    each needs its mount point in the root (`ensure_mount_point`).

    Every step execs the next, so the process Popen starts becomes the workload itself and
    signals to it or its process group reach it.
    """
    root = Path(root).resolve()
    uid, gid = _resolve_ids(root, user, group)
    inside = {
        path: root / path.lstrip("/")
        for path in ("/proc", "/dev", "/tmp", "/var/tmp", "/etc/hosts", str(STORAGE))
    }
    logs = root / "var/log/zookeeper"
    mode = logs.stat()

    def sh(*words: object) -> str:
        return shlex.join(str(word) for word in words)

    script = [
        "set -e",
        # A bind of the root onto itself: the mount that is remounted read-only at the end,
        # in this namespace only.
        sh("mount", "--bind", root, root),
        sh("mount", "--bind", Path(storage).resolve(), inside[str(STORAGE)]),
    ]
    if hosts is not None:
        script.append(sh("mount", "--bind", Path(hosts).resolve(), inside["/etc/hosts"]))
    for target, source in (binds or {}).items():
        script.append(sh("mount", "--bind", Path(source).resolve(), root / target.lstrip("/")))
    if hostname is not None:
        script.append(f"printf %s {shlex.quote(hostname)} > /proc/sys/kernel/hostname")
    script += [
        sh("mount", "-t", "proc", "-o", "nosuid,nodev,noexec", "proc", inside["/proc"]),
        sh("mount", "-t", "tmpfs", "-o", "nosuid,noexec,mode=755,size=1m", "dev", inside["/dev"]),
    ]
    for device in DEVICES:
        node = inside["/dev"] / device
        script += [sh("touch", node), sh("mount", "--bind", f"/dev/{device}", node)]
    for name, target in (("fd", ""), ("stdin", "/0"), ("stdout", "/1"), ("stderr", "/2")):
        script.append(sh("ln", "-s", f"/proc/self/fd{target}", inside["/dev"] / name))
    script.append(sh("mkdir", inside["/dev"] / "shm", inside["/dev"] / "pts"))
    for path, options in (
        (inside["/dev"] / "shm", "mode=1777"),
        (inside["/tmp"], "mode=1777"),
        (inside["/var/tmp"], "mode=1777"),
        (logs, f"mode={mode.st_mode & 0o7777:o},uid={mode.st_uid},gid={mode.st_gid}"),
    ):
        script.append(sh("mount", "-t", "tmpfs", "-o", f"nosuid,nodev,{options}", "tmpfs", path))
    script.append(sh("mount", "-o", "remount,bind,ro", root))

    environment = {"PATH": DEFAULT_PATH, **(env or {})}
    # The root's own setpriv drops to the user, then asks for SIGKILL when the process that
    # started the pod dies (the kernel clears that request on a change of user, so it must
    # come after): a test run that is killed leaves no server behind.
    drop = ["/usr/bin/setpriv"]
    if uid is not None:
        drop += [f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    final = [
        shutil.which("env") or "/usr/bin/env",
        "-i",
        *(f"{key}={value}" for key, value in environment.items()),
        shutil.which("chroot") or "/usr/sbin/chroot",
        root,
        *drop,
        "--pdeathsig=KILL",
        "--",
        *argv,
    ]
    script.append("exec " + sh(*final))

    enter = ["nsenter", f"--net=/run/netns/{netns}", "--"] if netns else []
    return [
        *enter,
        "unshare",
        "--mount",
        *(["--uts"] if hostname is not None else []),
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        "-c",
        "\n".join(script),
    ]


def ensure_mount_point(root: Path, path: str) -> None:
    """An empty, root-owned directory in the root where a pod mounts something of its own,
    as a container runtime makes the mount points of a pod's volumes (Juju's /charm/bin is
    not in the rock). Not part of the recipe: it changes nothing the root is built from."""
    point = Path(root) / path.lstrip("/")
    if not point.is_dir():
        with _locked(Path(root).parent / "rock-root.lock"):
            point.mkdir(parents=True, exist_ok=True)
            for directory in (point, point.parent):
                directory.chmod(0o755)


def _resolve_ids(root: Path, user: str | None, group: str | None) -> tuple[int | None, int]:
    if user is None:
        if group is not None:
            raise ValueError("a group needs a user, as Pebble requires")
        return None, 0
    passwd = _entries(root / "etc/passwd")
    if user not in passwd:
        raise KeyError(f"no user {user!r} in {root}/etc/passwd")
    uid, primary = int(passwd[user][1]), int(passwd[user][2])
    if group is None:
        return uid, primary
    groups = _entries(root / "etc/group")
    if group not in groups:
        raise KeyError(f"no group {group!r} in {root}/etc/group")
    return uid, int(groups[group][1])


def _entries(path: Path) -> dict[str, list[str]]:
    """name -> the remaining colon-separated fields."""
    entries = {}
    for line in path.read_text().splitlines():
        fields = line.split(":")
        if len(fields) > 2 and not line.startswith("#"):
            entries[fields[0]] = fields[1:]
    return entries


if __name__ == "__main__":
    # `python -m tests.live.rootfs [CACHE]` builds ahead of a test run (CI, a warm-up).
    print(build_root(Path(sys.argv[1]) if len(sys.argv) > 1 else CACHE))
