"""Faults of a unit's data volume on a 3-unit ensemble, under clients that record what
ZooKeeper acknowledged:

- the volume fills up: the unit says so in its status, the other two serve on, and once
  space is freed the unit's server serves the same data again and the unit is active;
- the volume is lost (the pod comes back on an empty one): the unit rejoins as the same
  member, from the ensemble's committed config, and syncs everything from the others.
"""

from __future__ import annotations

import contextlib
import errno
import subprocess
import time

import pytest
from kazoo.client import KazooClient

from tests.chaos.clients import (
    Updater,
    agreeing,
    client_figures,
    flowing,
    holding,
    login,
    lost_updates,
    read_counter,
    record,
    statuses_of,
)
from tests.live.cluster import Cluster, deadline_poll
from tests.live.writer import Writer, client_app

RELATION = 90
# Small enough to fill in a moment, large enough for a fresh ensemble's data and logs.
VOLUME = "64m"
CHUNK = b"\0" * 2**20


@contextlib.contextmanager
def small_volume(cluster: Cluster, ordinal: int):
    """A size-limited filesystem as that unit's data volume, as a small PVC would be: the
    pod's storage directory, before the pod starts (its mounts are made at start)."""
    volume = cluster.workdir / f"unit-{ordinal}"
    volume.mkdir(parents=True)
    # A fresh volume's root as Kubernetes hands it over: root's, the charm makes the rest.
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={VOLUME},mode=0755", "tmpfs", str(volume)],
        check=True,
    )
    try:
        yield volume
    finally:
        cluster.stop()  # nothing may hold the volume open when it goes
        subprocess.run(["umount", "-l", str(volume)], check=True)


def fill(path) -> int:
    """Write zeros until the filesystem refuses: the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as out:
        try:
            while True:
                written += out.write(CHUNK)
                out.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
    return written


def through(cluster: Cluster, ordinal: int, chroot: str, user) -> KazooClient:
    """A reader connected to that one member only."""
    reader = KazooClient(hosts=cluster.hosts([ordinal]) + chroot, sasl_options=login(user))
    reader.start(timeout=15)
    return reader


def serves_the_same(cluster: Cluster, ordinal: int, chroot, user, writer: Writer, stat) -> None:
    """The member has every acknowledged write and the counter's last version."""
    reader = through(cluster, ordinal, chroot, user)
    try:
        reader.sync("/writes")
        present = {f"/writes/{child}" for child in reader.get_children("/writes")}
        assert [p for p in writer.acknowledged if p not in present] == []
        assert reader.get("/counter")[1].version == stat.version
    finally:
        reader.stop()
        reader.close()


def deployed(cluster: Cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    chroot, user = client_app(cluster, "chaos", RELATION)
    healths = cluster.wait_serving()
    (voters,) = {h.voter_ids for h in healths.values()}
    leader = next(o for o, h in healths.items() if h.mode == "leader")
    return chroot, user, voters, leader


# The volume is made before the pods start, so the victim is chosen by ordinal: a fresh
# ensemble elects the highest id it can, never myid 1 (unit 0), and most often myid 3.
VICTIMS = {"follower": 0, "likely-leader": 2}


@pytest.mark.parametrize("victim", VICTIMS.values(), ids=VICTIMS.keys())
def test_a_full_data_volume_shows_in_status_and_loses_nothing(cluster: Cluster, victim):
    figures: dict[str, object] = {"bench": "chaos"}
    with small_volume(cluster, victim) as volume:
        chroot, user, voters, leader = deployed(cluster)
        mode = "leader" if leader == victim else "follower"
        figures |= {"fault": f"full-data-volume-{mode}", "units": 3}
        unit = cluster.units[victim]
        hosts = cluster.hosts([o for o in sorted(cluster.units) if o != victim]) + chroot
        with (
            Writer(hosts, None, path="/writes", sasl=user) as writer,
            Updater(hosts, user, "/counter", "a") as first,
            Updater(hosts, user, "/counter", "b") as second,
        ):
            flowing(writer, 0, 30, "writes before the fault")
            before = len(writer.acknowledged)
            struck = time.monotonic()
            figures["filled_bytes"] = fill(volume / "filler")
            figures["writes_again_s"] = round(
                flowing(writer, before, 60, "writes after the fault", start=struck), 2
            )
            holding(writer, 5)
            # ZooKeeper's member fails each write, drops out and syncs again in a loop.
            figures["member_serving_while_full"] = unit.health().serving
            cluster.settle()
            during = statuses_of(cluster)
            assert unit.status.name == "blocked", during
            assert "data storage full" in unit.status.message, during
            others = [u for o, u in cluster.units.items() if o != victim]
            assert all(u.status.name == "active" for u in others), during
            freed = time.monotonic()
            (volume / "filler").unlink()

            def recovered():
                if not unit.health().serving:
                    return False
                cluster.settle()
                return unit.status.name == "active"

            deadline_poll(recovered, 90, "the unit to serve and be active again", every=1)
            figures["serving_after_freed_s"] = round(time.monotonic() - freed, 2)
            after = agreeing(cluster, 60)
            # The heal is the space freed: every member serving from then on.
            figures["all_serving_after_s"] = round(time.monotonic() - freed, 2)
            flowing(writer, len(writer.acknowledged), 30, "writes once freed")
        cluster.settle()
        statuses = {"during": during, "after": statuses_of(cluster)}
        assert {h.voter_ids for h in after.values()} == {voters}
        assert all(u.status.name == "active" for u in cluster.units.values()), statuses
        assert writer.missing() == []
        assert writer.expirations == first.expirations == second.expirations == 0
        value, stat = read_counter(hosts, user)
        assert lost_updates([first, second], stat.version, value) == []
        serves_the_same(cluster, victim, chroot, user, writer, stat)
        for client in (writer, first, second):
            client.close()
    figures["statuses"] = statuses
    record(figures | client_figures(writer, [first, second]))


def test_a_unit_back_on_an_empty_volume_rejoins_as_the_same_member(cluster: Cluster):
    chroot, user, voters, leader = deployed(cluster)
    victim = leader  # the others elect a leader meanwhile; it comes back as a follower
    unit = cluster.units[victim]
    hosts = cluster.hosts([o for o in sorted(cluster.units) if o != victim]) + chroot
    others = {o: u.process.pid for o, u in cluster.units.items() if o != victim}
    published = cluster.app_data["members"]
    figures: dict[str, object] = {"bench": "chaos", "fault": "data-volume-lost", "units": 3}
    with (
        Writer(hosts, None, path="/writes", sasl=user) as writer,
        Updater(hosts, user, "/counter", "a") as first,
        Updater(hosts, user, "/counter", "b") as second,
    ):
        flowing(writer, 0, 30, "writes before the fault")
        before = len(writer.acknowledged)
        struck = time.monotonic()
        cluster.restart_pod(victim, storage_lost=True)
        figures["writes_again_s"] = round(
            flowing(writer, before, 60, "writes after the fault", start=struck), 2
        )
        during = statuses_of(cluster)
        after = agreeing(cluster, 90)
        figures["all_serving_after_s"] = round(time.monotonic() - struck, 2)
        flowing(writer, len(writer.acknowledged), 30, "writes once back")
    cluster.settle()
    statuses = {"during": during, "after": statuses_of(cluster)}
    # The same member: its id, a voter again, and nobody's membership changed.
    assert (unit.storage / "data/myid").read_text().strip() == str(victim + 1)
    assert {h.voter_ids for h in after.values()} == {voters}
    assert after[victim].mode == "follower"
    assert cluster.app_data["members"] == published
    assert {o: cluster.units[o].process.pid for o in others} == others
    assert all(u.status.name == "active" for u in cluster.units.values()), statuses
    assert writer.missing() == []
    assert writer.expirations == first.expirations == second.expirations == 0
    value, stat = read_counter(hosts, user)
    assert lost_updates([first, second], stat.version, value) == []
    serves_the_same(cluster, victim, chroot, user, writer, stat)
    for client in (writer, first, second):
        client.close()
    figures["statuses"] = statuses
    record(figures | client_figures(writer, [first, second]))
