"""Clients that record every operation ZooKeeper acknowledged, to check nothing was lost.

`Writer` (tests/live/writer.py) creates sequential znodes; `Updater` does versioned
compare-and-set updates of one znode, as a client keeping a counter or a lock would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from pathlib import Path

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, ConnectionLoss, KazooException, OperationTimeoutError

from tests.live.cluster import Cluster, deadline_poll
from tests.live.writer import Writer

RESULTS = Path(__file__).resolve().parents[2] / ".cache" / "chaos.jsonl"
# bench/chaos.py names a file of its own here, to print this run's lines alone.
RUN_RESULTS = "ZK_CHAOS_RESULTS"


@dataclasses.dataclass
class Update:
    version: int  # the znode's version the update created
    value: bytes


class Updater:
    """get, then set(version=...) in a loop; an update is acknowledged when set returns."""

    def __init__(self, hosts: str, sasl: tuple[str, str], path: str, name: str):
        self.path, self.name = path, name
        self.client = KazooClient(
            hosts=hosts,
            timeout=10,
            sasl_options={"mechanism": "DIGEST-MD5", "username": sasl[0], "password": sasl[1]},
            connection_retry={"max_tries": -1, "delay": 0.1, "max_delay": 1},
        )
        self.acknowledged: list[Update] = []
        self.unknown = 0  # sent, outcome not known (the connection went before the answer)
        self.expirations = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _on_state(self, state: KazooState) -> None:
        if state == KazooState.LOST:
            self.expirations += 1

    def __enter__(self) -> Updater:
        self.client.add_listener(self._on_state)
        self.client.start(timeout=15)
        self.client.ensure_path(self.path)
        self._thread.start()
        return self

    def _run(self) -> None:
        seq = 0
        while not self._stop.is_set():
            try:
                _, stat = self.client.get(self.path)
            except KazooException:
                time.sleep(0.01)  # back off while the client reconnects
                continue
            seq += 1
            value = f"{self.name}-{seq}".encode()
            try:
                after = self.client.set(self.path, value, version=stat.version)
            except BadVersionError:
                continue  # another updater won this version: nothing was written
            except (ConnectionLoss, OperationTimeoutError):
                self.unknown += 1
                continue
            except KazooException:
                self.unknown += 1
                continue
            self.acknowledged.append(Update(after.version, value))

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def close(self) -> None:
        self.client.stop()
        self.client.close()


def lost_updates(updaters: list[Updater], final_version: int, final_value: bytes) -> list[str]:
    """What the version chain of the znode contradicts: two acknowledged updates that made
    the same version, a final version outside [acknowledged, acknowledged + unknown], or a
    last acknowledged value that is not the one read when no update's fate is unknown."""
    problems = []
    made: dict[int, bytes] = {}
    for update in (u for w in updaters for u in w.acknowledged):
        if update.version in made:
            problems.append(f"version {update.version} acknowledged twice")
        made[update.version] = update.value
    acked = len(made)
    unknown = sum(w.unknown for w in updaters)
    if not acked <= final_version <= acked + unknown:
        problems.append(f"final version {final_version}: {acked} acknowledged, {unknown} unknown")
    if final_version in made and made[final_version] != final_value:
        problems.append(
            f"version {final_version} reads {final_value!r}, not {made[final_version]!r}"
        )
    return problems


def flowing(writer: Writer, after: int, timeout: float, what: str, start=None) -> float:
    """Seconds (since `start`, or now) until the writer has 20 more acknowledged writes
    than `after`."""
    start = time.monotonic() if start is None else start
    deadline_poll(lambda: len(writer.acknowledged) > after + 20, timeout, what)
    return time.monotonic() - start


def holding(writer: Writer, seconds: float) -> None:
    """Keep the fault for `seconds`, the majority writing on all along (it fails if the
    writer stops for more than 5 s of it)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        flowing(writer, len(writer.acknowledged), 5, "writes during the fault")


def agreeing(cluster: Cluster, timeout: float) -> dict:
    """Every member serving, naming the same voters and one leader (a member just back may
    serve a moment before its view of the configuration is loaded, and a leader thawed
    after a new one was elected says it leads until it finds it has no quorum)."""

    def agreed():
        healths = {o: u.health() for o, u in cluster.units.items()}
        ok = all(h.serving for h in healths.values())
        ok = ok and sum(h.mode == "leader" for h in healths.values()) == 1
        return healths if ok and len({h.voter_ids for h in healths.values()}) == 1 else None

    return deadline_poll(agreed, timeout, "every member serving the same configuration")


def statuses_of(cluster: Cluster) -> dict[int, str]:
    """Each unit's status as `juju status` shows it."""
    return {o: f"{u.status.name}: {u.status.message}" for o, u in sorted(cluster.units.items())}


def login(user: tuple[str, str]) -> dict:
    return {"mechanism": "DIGEST-MD5", "username": user[0], "password": user[1]}


def read_counter(hosts: str, user: tuple[str, str], path: str = "/counter"):
    """The compare-and-set znode's value and stat, read through `hosts` after a sync."""
    reader = KazooClient(hosts=hosts, sasl_options=login(user))
    reader.start(timeout=15)
    try:
        reader.sync(path)
        return reader.get(path)
    finally:
        reader.stop()
        reader.close()


def record(figures: dict) -> None:
    """Print one case's figures as a JSON line and append it to .cache/chaos.jsonl (and to
    the file bench/chaos.py gave, if it did)."""
    line = json.dumps(figures)
    print(line)
    RESULTS.parent.mkdir(exist_ok=True)
    targets = [RESULTS] + ([Path(os.environ[RUN_RESULTS])] if RUN_RESULTS in os.environ else [])
    for target in targets:
        with target.open("a") as out:
            out.write(line + "\n")


def client_figures(writer: Writer, updaters: list[Updater]) -> dict:
    return {
        "acknowledged_writes": len(writer.acknowledged),
        "acknowledged_updates": sum(len(u.acknowledged) for u in updaters),
        "unknown_updates": sum(u.unknown for u in updaters),
        "max_write_gap_s": round(writer.max_gap, 2),
    }
