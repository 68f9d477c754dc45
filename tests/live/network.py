"""A pod network for live tests: one network namespace per unit, names that resolve like pods.

`enter()` moves this process into a sandbox first, while it still has a single thread:
- a private mount namespace, so the hosts file the tests bind over /etc/hosts (and the
  /run/netns entries `ip netns` makes) exist only for this process and its children, and
  vanish with it; the machine's own /etc/hosts is never touched;
- a network namespace of its own (the "node") holding a bridge, so every address the tests
  use lives only in namespaces they created; the test process's clients reach the units
  over that bridge, as a client in another pod reaches them over the cluster network.

Each unit gets its own namespace with one veth into the bridge and one address, its
servers and its hooks run inside it (the charm reaches its own server on 127.0.0.1, as in a
pod), and its pod DNS name resolves to its address for every process of the test run.
Cutting a unit's veth cuts off its charm exactly as it cuts off its server.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
# A private range: these addresses exist only on the bridge and veths made here.
SUBNET = "10.251.0"
NODE_ADDRESS = f"{SUBNET}.1"
BRIDGE = "zkbr0"
HOSTS = Path("/run/zookeeper-k8s-live/hosts")

_libc = ctypes.CDLL(None, use_errno=True)
_state: dict[str, object] = {}
_lock = threading.Lock()


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _ip(*args: str, netns: str | None = None) -> None:
    argv = ["ip", *(["-n", netns] if netns else []), *args]
    subprocess.run(argv, check=True, capture_output=True, text=True)


def unit_address(ordinal: int) -> str:
    return f"{SUBNET}.{ordinal + 10}"


def namespace_of(ordinal: int) -> str:
    return f"zkt{os.getpid()}u{ordinal}"


def enter() -> None:
    """Move this process into its sandbox (idempotent; call before starting any thread)."""
    with _lock:
        if _state:
            return
        if os.geteuid() != 0:
            raise RuntimeError("live tests need root: network and mount namespaces")
        if threading.active_count() > 1:
            raise RuntimeError("network.enter() must run before any thread starts")
        _check(_libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
        subprocess.run(["mount", "--make-rprivate", "/"], check=True)
        # A tmpfs of our own for the hosts file and `ip netns` entries: nothing to clean up.
        for path in (HOSTS.parent, Path("/run/netns")):
            path.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(path)], check=True)
        HOSTS.write_text(_hosts_text({}))
        subprocess.run(["mount", "--bind", str(HOSTS), "/etc/hosts"], check=True)
        node = f"zkt{os.getpid()}node"
        _ip("netns", "add", node)
        root_fd = os.open("/proc/self/ns/net", os.O_RDONLY)
        node_fd = os.open(f"/run/netns/{node}", os.O_RDONLY)
        _check(_libc.setns(node_fd, CLONE_NEWNET), "setns(node)")
        _ip("link", "set", "lo", "up")
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{NODE_ADDRESS}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        _state.update(node=node, node_fd=node_fd, root_fd=root_fd, names={})


def _hosts_text(names: dict[str, str]) -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    # As kubelet writes a pod's /etc/hosts: its FQDN, then its hostname (the pod's name).
    lines += [f"{address} {name} {name.split('.')[0]}" for name, address in sorted(names.items())]
    return "\n".join(lines) + "\n"


def publish(name: str, address: str | None) -> None:
    """Add (or with None remove) a DNS name, as the headless service does for a pod.

    Written in place: the bind mounts over /etc/hosts (ours and each pod's) see the same file.
    """
    names: dict[str, str] = _state["names"]  # type: ignore[assignment]
    if address is None:
        names.pop(name, None)
    else:
        names[name] = address
    with HOSTS.open("r+") as hosts:
        hosts.truncate(0)
        hosts.write(_hosts_text(names))


def add_unit(ordinal: int) -> str:
    """A namespace for one unit's pod, wired into the bridge; returns its name."""
    enter()
    netns = namespace_of(ordinal)
    if Path(f"/run/netns/{netns}").exists():
        return netns
    _ip("netns", "add", netns)
    outer, inner = f"zkv{ordinal}", f"zkp{ordinal}"
    _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
    _ip("link", "set", inner, "netns", netns)
    _ip("link", "set", outer, "master", BRIDGE)
    _ip("link", "set", outer, "up")
    _ip("link", "set", "lo", "up", netns=netns)
    _ip("link", "set", inner, "name", "eth0", netns=netns)
    _ip("addr", "add", f"{unit_address(ordinal)}/24", "dev", "eth0", netns=netns)
    _ip("link", "set", "eth0", "up", netns=netns)
    return netns


def remove_unit(ordinal: int) -> None:
    """The pod is gone: its namespace (and with it its address) too."""
    netns = namespace_of(ordinal)
    if Path(f"/run/netns/{netns}").exists():
        _ip("netns", "del", netns)
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("link", "del", f"zkv{ordinal}")


def cut(ordinal: int, cut_off: bool = True) -> None:
    """Take a unit's pod off the network (or put it back): a partition."""
    _ip("link", "set", f"zkv{ordinal}", "down" if cut_off else "up")


def partition(side: set[int], other: set[int], apart: bool = True) -> None:
    """Cut the units of `side` off from those of `other` (or heal that), both ways, while
    each side keeps its own links and the node (the test's clients) still reaches everyone.

    A blackhole route in each pod for every address of the other side: this machine's
    kernel has no packet filter (no nftables, no tc drop action), and a route is what a
    pod can be given alone. Packets of an open connection to the other side go nowhere, as
    in a real partition; a new connection fails at once instead of timing out.
    """
    action = "add" if apart else "del"
    for here, there in ((side, other), (other, side)):
        for ordinal in sorted(here):
            for remote in sorted(there):
                route = ["route", action, "blackhole", f"{unit_address(remote)}/32"]
                _ip(*route, netns=namespace_of(ordinal))


@contextlib.contextmanager
def inside(netns: str) -> Iterator[None]:
    """Run this thread (and every thread it starts) in a unit's namespace, as its hooks do."""
    fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
    try:
        _check(_libc.setns(fd, CLONE_NEWNET), f"setns({netns})")
        yield
    finally:
        os.close(fd)
        _check(_libc.setns(_state["node_fd"], CLONE_NEWNET), "setns(node)")


@contextlib.contextmanager
def machine_network() -> Iterator[None]:
    """Back on the machine's own network for a moment (building the root downloads)."""
    _check(_libc.setns(_state["root_fd"], CLONE_NEWNET), "setns(machine)")
    try:
        yield
    finally:
        _check(_libc.setns(_state["node_fd"], CLONE_NEWNET), "setns(node)")


def cleanup_units() -> None:
    """Delete every unit's namespace and name (a test's pods are gone with the test)."""
    for entry in Path("/run/netns").glob(f"zkt{os.getpid()}u*"):
        remove_unit(int(entry.name.rsplit("u", 1)[1]))
    names: dict[str, str] = _state.get("names", {})  # type: ignore[assignment]
    for name in list(names):
        publish(name, None)
