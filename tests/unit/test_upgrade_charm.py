"""pre-upgrade-check and the leader moving an upgrade on, with a stand-in Kubernetes API."""

import json

import pytest
from ops import testing

import admin
import exposure
import k8s
from charm import ZooKeeperCharm
from config import ExposeExternal
from state import TLSPhase
from tests.unit.test_charm import APP, MODEL, member_line, peers
from tests.unit.test_membership import FakeZooKeeper, cluster_state

SERVING = json.dumps("serving")
# The disruption budget applied long ago: these tests are about the upgrade's own calls.
SETTLED = exposure.wanted(APP, MODEL, ExposeExternal.FALSE, TLSPhase.OFF, False).fingerprint


class FakeKube:
    """Stands in for the lightkube shell: a StatefulSet's partition and revisions."""

    def __init__(self, revision="rev1", upgraded=(0, 1, 2), error=None):
        self.revision = revision
        self.upgraded = set(upgraded)
        self.partitions: list[int] = []
        self.error = error

    def _maybe_fail(self):
        if self.error:
            raise self.error

    def update_revision(self, statefulset, namespace):
        self._maybe_fail()
        assert (statefulset, namespace) == (APP, MODEL)
        return self.revision

    def pod_upgraded(self, pod, statefulset, namespace):
        self._maybe_fail()
        return int(pod.rsplit("-", 1)[1]) in self.upgraded

    def set_partition(self, statefulset, namespace, value):
        self._maybe_fail()
        self.partitions.append(value)


@pytest.fixture
def kube(monkeypatch):
    fake = FakeKube()
    monkeypatch.setattr(ZooKeeperCharm, "kubernetes", lambda self: fake)
    return fake


@pytest.fixture
def zk_leader(monkeypatch):
    """Which server id ZooKeeper's mntr calls leader (server 1 unless a test says)."""
    leader = {"id": 1}

    def mntr(host, port=2181):
        ordinal = int(host.split(".")[0].rsplit("-", 1)[1])
        return {"zk_server_state": "leader" if ordinal + 1 == leader["id"] else "follower"}

    monkeypatch.setattr(admin, "mntr", mntr)
    return leader


@pytest.fixture
def zookeeper(monkeypatch):
    fake = FakeZooKeeper([0, 1, 2])
    monkeypatch.setattr(admin, "session", fake.session)
    return fake


def healthy(disk, **kw):
    return cluster_state(
        disk,
        planned=3,
        published=[0, 1, 2],
        peers_states={1: SERVING, 2: SERVING},
        **kw,
    )


def run_action(state, name="pre-upgrade-check", unit=0):
    ctx = testing.Context(ZooKeeperCharm, app_name=APP, unit_id=unit)
    out = ctx.run(ctx.on.action(name), state)
    return ctx, out


def app(out):
    return {k: json.loads(v) for k, v in peers(out).local_app_data.items()}


def test_pre_upgrade_check_holds_all_pods_but_the_highest(disk, kube, zk_leader, zookeeper):
    ctx, out = run_action(healthy(disk))
    assert ctx.action_results["safe"] == "yes"
    assert kube.partitions == [2]
    assert app(out)["upgrade-partition"] == 2
    assert app(out)["upgrade-from-revision"] == "rev1"
    assert zookeeper.steps == []  # the highest pod does not lead: no handover needed


def test_pre_upgrade_check_moves_leadership_off_the_first_pod_to_go(
    disk, kube, zk_leader, zookeeper
):
    zk_leader["id"] = 3
    run_action(healthy(disk))
    line = member_line(2).strip()
    assert zookeeper.steps == [([], [3]), ([line], [])]


def test_pre_upgrade_check_refuses_while_a_unit_is_down(disk, kube, zk_leader):
    state = cluster_state(
        disk, planned=3, published=[0, 1, 2], peers_states={1: SERVING, 2: json.dumps("started")}
    )
    with pytest.raises(testing.ActionFailed) as failed:
        run_action(state)
    assert failed.value.message.startswith("not safe to upgrade now: ")
    assert "2" in failed.value.message
    assert kube.partitions == []


def test_pre_upgrade_check_runs_on_the_leader_only(disk, kube, zk_leader):
    state = cluster_state(
        disk,
        leader=False,
        planned=3,
        published=[0, 1, 2],
        peers_states={0: SERVING, 2: SERVING},
        unit_id=1,
    )
    with pytest.raises(testing.ActionFailed) as failed:
        run_action(state, unit=1)
    assert "run this on the leader unit" in failed.value.message
    assert kube.partitions == []


def test_pre_upgrade_check_without_trust_says_how_to_fix_it(disk, zk_leader):
    kube = FakeKube(error=k8s.K8sError("forbidden: deploy with --trust"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ZooKeeperCharm, "kubernetes", lambda self: kube)
        with pytest.raises(testing.ActionFailed) as failed:
            run_action(healthy(disk))
    assert "--trust" in failed.value.message


def upgrading(disk, partition, revision="rev1"):
    state = healthy(disk)
    relation = peers(state)
    data = {
        **relation.local_app_data,
        "upgrade-partition": json.dumps(partition),
        "upgrade-from-revision": json.dumps(revision),
        "k8s-applied": json.dumps(SETTLED),
    }
    import dataclasses

    return dataclasses.replace(
        state, relations={dataclasses.replace(relation, local_app_data=data)}
    )


def test_after_the_refresh_the_leader_lowers_the_partition_once_the_new_pod_serves(
    disk, kube, zk_leader, zookeeper
):
    kube.revision, kube.upgraded = "rev2", {2}
    ctx = testing.Context(ZooKeeperCharm, app_name=APP, unit_id=0)
    out = ctx.run(ctx.on.update_status(), upgrading(disk, 2))
    assert kube.partitions == [1]
    assert app(out)["upgrade-partition"] == 1


def test_the_upgrade_waits_before_the_refresh(disk, kube, zk_leader, zookeeper):
    ctx = testing.Context(ZooKeeperCharm, app_name=APP, unit_id=0)
    out = ctx.run(ctx.on.update_status(), upgrading(disk, 2))
    assert kube.partitions == []
    assert out.unit_status.name == "waiting"
    assert out.unit_status.message.startswith("upgrade: ")


def test_the_upgrade_finishes_and_forgets_itself(disk, kube, zk_leader, zookeeper):
    kube.revision, kube.upgraded = "rev2", {0, 1, 2}
    ctx = testing.Context(ZooKeeperCharm, app_name=APP, unit_id=0)
    out = ctx.run(ctx.on.update_status(), upgrading(disk, 0))
    assert app(out).get("upgrade-partition") is None
    assert out.unit_status.name == "active"


def test_kubernetes_refusing_blocks_the_leader_with_the_fix(disk, zk_leader, zookeeper):
    kube = FakeKube(error=k8s.K8sError("forbidden: deploy with --trust"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ZooKeeperCharm, "kubernetes", lambda self: kube)
        ctx = testing.Context(ZooKeeperCharm, app_name=APP, unit_id=0)
        out = ctx.run(ctx.on.update_status(), upgrading(disk, 2))
    assert out.unit_status == testing.BlockedStatus("upgrade: forbidden: deploy with --trust")
