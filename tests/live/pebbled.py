"""What the workload container's Pebble does on its own, between hooks (JUJU.md section 9).

The hooks' Pebble calls act on real processes through cluster.py's patched mock client.
This module is the rest of Pebble, run by one thread per Cluster (`Daemon`):

* Service auto-restart (Pebble docs, "Service auto-restart"): a service that exits without
  Pebble stopping it is started again after `backoff-delay` (500 ms), the delay multiplied
  by `backoff-factor` (2) at each further exit up to `backoff-limit` (30 s), and reset once
  the service stays up for `backoff-limit`; `on-success`/`on-failure: ignore` leave it down.
  Since Pebble 1.17 that includes services that exit within the 1 s "okay delay".
* Health checks (Pebble docs, "Health checks"): each check of the plan runs every `period`,
  cancelled after `timeout`; `threshold` failures in a row take it down (Juju: one
  `<container>-pebble-check-failed`), the first success after that brings it up again
  (`-pebble-check-recovered`). Exec checks run in the pod as their user, as the services do.
* Custom notices (Pebble docs, "Notices"): `/charm/bin/pebble notify KEY [NAME=VALUE...]`
  inside the pod records an occurrence (here: one line in a per-pod file beside the script,
  `notice_line`); the daemon reads them and hands them to the cluster, which keeps Pebble's
  notice state (one notice per key, occurrences counted, the last data kept) and has Juju
  run `<container>-pebble-custom-notice`.

What the daemon sees goes to `Daemon.inbox` as `Event`s; the cluster turns them into hooks in
the scheduler's queues (juju.py) from the main thread, where every hook runs.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ops import pebble

from tests.live.rootfs import USER_ID

CHARM_BIN = "/charm/bin"  # where Juju mounts its pebble binary in every workload container
NOTICES = "notices"  # the pod's notice log, beside the script
TICK = 0.05  # seconds between two looks of the daemon

# Pebble's defaults (layer specification).
BACKOFF_DELAY, BACKOFF_FACTOR, BACKOFF_LIMIT = "500ms", 2.0, "30s"
CHECK_PERIOD, CHECK_TIMEOUT, CHECK_THRESHOLD = "10s", "3s", 3

# The stand-in's `pebble`: only `notify`, with Pebble's argument rules (a `<domain>/<path>`
# key, `name=value` data). One line per occurrence, appended in one write: seconds since the
# epoch, the caller's uid (Pebble records the notice under the client's uid), the key, then
# the data, tab-separated. Real pebble answers "Recorded notice <id>"; so does this one.
PEBBLE_SCRIPT = """#!/bin/sh
# Stand-in for Juju's /charm/bin/pebble in live tests: only `pebble notify`.
set -eu
usage() { echo "error: $1" >&2; echo "usage: pebble notify <key> [<name=value>...]" >&2; exit 1; }
[ "${1:-}" = notify ] || usage "only the notify command is modelled"
[ $# -ge 2 ] || usage "the required argument <key> was not provided"
shift
key=$1
shift
domain=${key%%/*}
path=${key#*/}
case $domain in *.*) ;; *) usage "key must be in the format example.com/path" ;; esac
[ "$path" != "$key" ] && [ -n "$path" ] || usage "key must be in the format example.com/path"
line="$(date +%s.%N)\t$(id -u)\t$key"
for pair in "$@"; do
    case $pair in
        *"\t"* | =*) usage "invalid data argument $pair" ;;
        *=*) line="$line\t$pair" ;;
        *) usage "data args must be in the format name=value" ;;
    esac
done
printf '%s\n' "$line" >> /charm/bin/notices
echo "Recorded notice $key"
"""


def make_charm_bin(directory: Path) -> Path:
    """A pod's /charm/bin: the script (root's, as Juju's binary is) and a notice log its
    processes (the rock's user) can append to."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    script = directory / "pebble"
    script.write_text(PEBBLE_SCRIPT.replace("\\t", "\t"))
    script.chmod(0o755)
    notices = directory / NOTICES
    notices.touch()
    os.chown(notices, USER_ID, USER_ID)
    notices.chmod(0o664)
    return directory


@dataclasses.dataclass(frozen=True)
class Occurrence:
    """One `pebble notify` in a pod."""

    time: float  # seconds since the epoch, the pod's clock (this machine's)
    uid: int
    key: str
    data: dict[str, str]


def notice_line(line: str) -> Occurrence:
    when, uid, key, *pairs = line.split("\t")
    return Occurrence(float(when), int(uid), key, dict(p.split("=", 1) for p in pairs))


def duration(text: str | float | None, default: str) -> float:
    """Seconds in a Pebble duration ("500ms", "5s", "1m30s")."""
    if text is None or text == "":
        text = default
    if isinstance(text, (int, float)):
        return float(text)
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Pebble duration: {text!r}")
    return sum(float(n) * units[u] for n, u in parts)


@dataclasses.dataclass
class Supervision:
    """Pebble's restart bookkeeping for one service of one pod."""

    started: float  # monotonic
    delay: float = 0.0  # the last back-off delay; 0: none yet since a start or a reset
    restart_at: float | None = None  # monotonic: a back-off restart is due then
    exited: int | None = None  # the last exit code Pebble saw


@dataclasses.dataclass
class Check:
    """One Pebble check of a pod, and its state as `pebble checks` shows it."""

    name: str
    spec: dict
    level: str
    period: float
    timeout: float
    threshold: int
    status: str = "up"
    failures: int = 0
    successes: int = 0
    change: int = 1
    due: float = 0.0
    running: subprocess.Popen | None = None
    began: float = 0.0


@dataclasses.dataclass(frozen=True)
class Event:
    """What the daemon saw, for the cluster to act on in the main thread."""

    ordinal: int
    kind: str  # "notice", "check-failed", "check-recovered", "exited", "restarted"
    name: str = ""  # the check or service
    occurrence: Occurrence | None = None
    first_restart: bool = False  # "restarted": the first of a back-off series
    time: float = dataclasses.field(default_factory=time.time)  # wall clock, when seen


def plan_checks(layers: dict[str, pebble.Layer]) -> dict[str, dict]:
    """The checks of the combined plan (layers in order; the charm replaces whole checks)."""
    checks: dict[str, dict] = {}
    for layer in layers.values():
        for name, check in layer.checks.items():
            checks[name] = check.to_dict()
    return checks


class Daemon:
    """Pebble's service manager and check manager for every pod of a cluster, one thread."""

    def __init__(
        self,
        units: Callable[[], list],
        lock: threading.RLock,
        start: Callable,
        in_pod: Callable,
        log: Callable[[str], None],
    ):
        self._units, self._lock, self._start, self._in_pod, self._log = (
            units,
            lock,
            start,
            in_pod,
            log,
        )
        self.inbox: collections.deque[Event] = collections.deque()
        self._stop = threading.Event()
        # Processes it starts must outlive nothing but this thread: their setpriv's
        # pdeathsig fires when the thread that forked them ends, so it runs until stop().
        self._thread = threading.Thread(target=self._run, name="pebble", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(TICK):
            with self._lock:
                for unit in self._units():
                    try:
                        self._services(unit)
                        self._checks(unit)
                        self._notices(unit)
                    except Exception as exc:  # a pod going away mid-look: look again
                        self._log(f"{unit.ordinal}: pebble stand-in: {exc!r}")

    # -- services ----------------------------------------------------------------------

    def _services(self, unit) -> None:
        now = time.monotonic()
        for name, process in list(unit.services.items()):
            spec = unit.specs.get(name)
            watch = unit.supervision.setdefault(name, Supervision(now))
            if watch.restart_at is None and process.poll() is not None:
                if watch.exited is not None:
                    continue  # seen, and left down (ignore)
                watch.exited = process.returncode
                self.inbox.append(Event(unit.ordinal, "exited", name))
                action = (spec.on_success if process.returncode == 0 else spec.on_failure) or ""
                if action not in ("", "restart"):
                    self._log(f"{unit.ordinal}: {name} exited ({process.returncode}): {action}")
                    continue
                limit = duration(spec.backoff_limit, BACKOFF_LIMIT)
                if watch.delay and now - watch.started >= limit:
                    watch.delay = 0.0  # it stayed up for backoff-limit: the series starts over
                factor = float(spec.backoff_factor or BACKOFF_FACTOR)
                first = duration(spec.backoff_delay, BACKOFF_DELAY)
                watch.delay = min(watch.delay * factor, limit) if watch.delay else first
                watch.restart_at = now + watch.delay
                self._log(
                    f"{unit.ordinal}: {name} exited ({process.returncode}); "
                    f"restart in {watch.delay:g}s"
                )
            elif watch.restart_at is not None and now >= watch.restart_at:
                first = watch.delay == duration(spec.backoff_delay, BACKOFF_DELAY)
                delay = watch.delay
                self._start(unit, name, spec)  # resets the bookkeeping: keep the series
                unit.supervision[name] = Supervision(time.monotonic(), delay=delay)
                self.inbox.append(Event(unit.ordinal, "restarted", name, first_restart=first))
                self._log(f"{unit.ordinal}: {name} restarted by pebble")

    # -- checks ------------------------------------------------------------------------

    def _checks(self, unit) -> None:
        now = time.monotonic()
        wanted = plan_checks(unit.layers)
        for name in [n for n in unit.checks if n not in wanted]:
            self._cancel(unit.checks.pop(name))
        for name, spec in wanted.items():
            check = unit.checks.get(name)
            if check is None or check.spec != spec:
                if check is not None:
                    self._cancel(check)
                period = duration(spec.get("period"), CHECK_PERIOD)
                check = unit.checks[name] = Check(
                    name,
                    spec,
                    spec.get("level") or "unset",
                    period,
                    duration(spec.get("timeout"), CHECK_TIMEOUT),
                    int(spec.get("threshold") or CHECK_THRESHOLD),
                    due=now + period,  # Pebble's ticker: the first run after one period
                )
            self._check(unit, check, now)

    def _check(self, unit, check: Check, now: float) -> None:
        if check.running is None:
            if now >= check.due and "exec" in check.spec:
                spec = check.spec["exec"]
                argv = self._in_pod(
                    unit,
                    spec["command"],
                    spec.get("user"),
                    spec.get("group"),
                    spec.get("environment"),
                )
                check.running = subprocess.Popen(
                    argv,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                check.began, check.due = now, now + check.period
            return
        code = check.running.poll()
        if code is None and now - check.began < check.timeout:
            return
        if code is None:  # Pebble cancels it: a failure
            self._cancel(check)
        check.running = None
        if code == 0:
            check.successes += 1
            check.failures = 0
            if check.status == "down":
                check.status, check.change = "up", check.change + 1
                self.inbox.append(Event(unit.ordinal, "check-recovered", check.name))
                self._log(f"{unit.ordinal}: check {check.name} up")
            return
        check.failures += 1
        if check.failures == check.threshold and check.status == "up":
            check.status, check.change = "down", check.change + 1
            self.inbox.append(Event(unit.ordinal, "check-failed", check.name))
            self._log(f"{unit.ordinal}: check {check.name} down")

    @staticmethod
    def _cancel(check: Check) -> None:
        process, check.running = check.running, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)

    def forget_checks(self, unit) -> None:
        """The pod's Pebble is gone (container or pod restarted): its checks start over."""
        with self._lock:
            for check in unit.checks.values():
                self._cancel(check)
            unit.checks.clear()

    # -- notices -----------------------------------------------------------------------

    def _notices(self, unit) -> None:
        path = unit.charm_bin / NOTICES
        with path.open("rb") as log:
            log.seek(unit.notices_read)
            chunk = log.read()
        end = chunk.rfind(b"\n") + 1  # only whole lines: a write may be under way
        if not end:
            return
        unit.notices_read += end
        for line in chunk[:end].decode().splitlines():
            self.inbox.append(Event(unit.ordinal, "notice", occurrence=notice_line(line)))
