"""Upgrades: every size from 1 to 7 rolled from pre-upgrade-check to done, with the ZooKeeper
leader anywhere; every small view the decision can be given; and the Kubernetes shell."""

from __future__ import annotations

import dataclasses
import itertools
import os
import pathlib
import subprocess
import sys

import httpx2
import pytest
from lightkube.core.exceptions import ApiError, ConfigError
from lightkube.models.apps_v1 import (
    RollingUpdateStatefulSetStrategy,
    StatefulSetSpec,
    StatefulSetStatus,
    StatefulSetUpdateStrategy,
)
from lightkube.models.core_v1 import PodTemplateSpec
from lightkube.models.meta_v1 import LabelSelector, ObjectMeta
from lightkube.resources.apps_v1 import StatefulSet
from lightkube.resources.core_v1 import Pod
from lightkube.types import PatchType

import k8s
from upgrade import Step, Unit, check, next_step, pre_upgrade_partition

SIZES = range(1, 8)

# --- an oracle: what any answer of next_step must respect, stated independently ---------


def assert_sound(units, partition, synced, planned, refreshed, step):
    kinds = [step.partition is not None, step.bounce_leader is not None, step.wait, step.done]
    assert sum(map(bool, kinds)) == 1, step
    view = {u.ordinal: u for u in units}
    present = all(o in view for o in range(planned))
    exposed = min(partition, planned)
    # The pods Kubernetes has still to replace (before the refresh: every one).
    to_go = [o for o in range(planned) if o in view and (not refreshed or not view[o].upgraded)]
    healthy = present and synced and all(view[o].serving for o in range(planned))
    leaders = [o for o in range(planned) if o in view and view[o].zk_leader]
    exposed_done = all(view[o].upgraded for o in range(exposed, planned) if o in view)
    finished = healthy and refreshed and exposed == 0 and not to_go
    leading_exposed = [o for o in to_go if o >= exposed and o in leaders]
    if step.done:
        assert finished
    elif step.bounce_leader is not None:
        bounced = step.bounce_leader - 1  # ZooKeeper ids are ordinals + 1
        assert healthy, "an election while something is unhealthy"
        assert bounced in leaders and bounced in to_go and len(to_go) > 1
        assert bounced >= exposed or (refreshed and exposed_done and bounced == exposed - 1)
    elif step.partition is not None:
        assert healthy and refreshed and exposed > 0 and exposed_done
        assert step.partition == exposed - 1, "the partition moves down by exactly one pod"
        assert not leading_exposed or len(to_go) == 1
        target = step.partition
        if target in to_go and len(to_go) > 1:
            # The pod now exposed is not the last to go: it must not lead ZooKeeper.
            assert len(leaders) == 1 and leaders != [target]
    else:
        assert not finished, "waits although the upgrade is finished"
        if healthy and leading_exposed and len(to_go) > 1:
            pytest.fail(f"leaves a leading pod exposed: {step.wait}")
        if healthy and refreshed and exposed_done and exposed > 0:
            target = exposed - 1
            assert target in to_go and len(to_go) > 1 and len(leaders) != 1, step.wait


# --- a whole upgrade, simulated -----------------------------------------------------------


def lowest(cluster, excluded):
    """ZooKeeper's designated leader when a reconfig drops the leader: the first of a
    HashSet<Long> of the voters that acked, in practice the lowest id."""
    return min(o for o, p in enumerate(cluster.pods) if p.serving and o != excluded)


def highest(cluster, excluded):
    """FastLeaderElection among equally up-to-date servers: the highest id."""
    return max(o for o, p in enumerate(cluster.pods) if p.serving and o != excluded)


def adversarial(cluster, excluded):
    """The worst choice for us: the next pod the partition will expose."""
    candidates = [o for o, p in enumerate(cluster.pods) if p.serving and o != excluded]
    stale = [o for o in candidates if not cluster.pods[o].new]
    return max(stale or candidates)


ELECTIONS = {"lowest": lowest, "highest": highest, "adversarial": adversarial}


def expected_bounces(size, zk_leader, election):
    if election == "lowest":
        return [zk_leader] if zk_leader > 0 else []
    if election == "highest":
        if zk_leader == 0:
            return []
        if zk_leader < size - 1:
            return [zk_leader]  # then the upgraded top pod leads
        # The top pod hands over before the refresh, to the pod below it, which hands over
        # again when its turn comes (unless it is ordinal 0, the last).
        return [zk_leader, zk_leader - 1] if zk_leader > 1 else [zk_leader]
    return None


@dataclasses.dataclass
class PodState:
    new: bool = False
    serving: bool = True


class Cluster:
    """Kubernetes, ZooKeeper and the charm's leader, as far as an upgrade sees them."""

    def __init__(self, size, zk_leader, elect):
        self.pods = [PodState() for _ in range(size)]
        self.size = size
        self.zk_leader = zk_leader
        self.elect = elect
        self.synced = True
        self.partition = None  # the charm's view: None while no upgrade is under way
        self.refreshed = False
        self.replaced = []  # ordinals in the order Kubernetes replaced them
        self.partitions = []
        self.bounces = []

    def view(self):
        return [
            # Before the refresh every pod runs the StatefulSet's update revision.
            Unit(o, p.new or not self.refreshed, p.serving, zk_leader=o == self.zk_leader)
            for o, p in enumerate(self.pods)
        ]

    def step(self):
        units = self.view()
        step = next_step(
            units, self.partition, self.synced, planned_units=self.size, refreshed=self.refreshed
        )
        if self.partition is not None:
            assert_sound(units, self.partition, self.synced, self.size, self.refreshed, step)
        return step

    def kubernetes_replaces_one(self) -> bool:
        """The StatefulSet controller: the highest stale pod at or above the partition, and
        only while every pod is ready."""
        if not self.refreshed or not all(p.serving for p in self.pods):
            return False
        stale = [o for o in range(self.partition, self.size) if not self.pods[o].new]
        if not stale:
            return False
        victim = max(stale)
        others_left = [o for o in range(self.size) if not self.pods[o].new and o != victim]
        assert not (victim == self.zk_leader and others_left), "replaced the leader early"
        self.replaced.append(victim)
        self.pods[victim] = PodState(new=True, serving=False)
        self.synced = False
        if victim == self.zk_leader or self.size - 1 <= self.size // 2:
            self.zk_leader = None  # the leader went, or the quorum did: an election follows
        return True

    def recovers(self):
        """The replaced pod starts, then catches up; ZooKeeper elects if it had no leader."""
        for pod in self.pods:
            pod.serving = True
        if self.zk_leader is None:
            self.zk_leader = self.elect(self, excluded=None)
        self.synced = True

    def bounce(self, server_id):
        ordinal = server_id - 1
        assert ordinal == self.zk_leader
        self.bounces.append(ordinal)
        self.zk_leader = self.elect(self, excluded=ordinal)


REFRESH = "pre-upgrade-check passed: waiting for `juju refresh`"


def roll(size, zk_leader, election):
    cluster = Cluster(size, zk_leader, ELECTIONS[election])
    assert check(cluster.view(), True, False, planned_units=size) == []
    assert cluster.step() == Step()  # no upgrade under way
    # pre-upgrade-check: set the partition, then hand leadership off the exposed pod.
    cluster.partition = pre_upgrade_partition(size)
    for _ in range(size):
        step = cluster.step()
        if step.bounce_leader is None:
            break
        cluster.bounce(step.bounce_leader)
    assert step.wait == REFRESH
    assert cluster.step().wait == REFRESH  # nothing moves until the refresh
    cluster.refreshed = True
    for _ in range(10 * size):
        if cluster.kubernetes_replaces_one():
            assert cluster.step().wait, "moved while a pod was down"
            for pod in cluster.pods:
                pod.serving = True
            assert cluster.step().wait, "moved before ZooKeeper reported the quorum in sync"
            cluster.recovers()
            continue
        step = cluster.step()
        if step.done:
            return cluster
        if step.bounce_leader is not None:
            cluster.bounce(step.bounce_leader)
        elif step.partition is not None:
            assert step.partition == cluster.partition - 1
            cluster.partitions.append(step.partition)
            cluster.partition = step.partition
        else:
            pytest.fail(f"stuck: {step.wait}")
    pytest.fail("the upgrade never finished")


@pytest.mark.parametrize("election", ELECTIONS)
@pytest.mark.parametrize("size", SIZES)
def test_a_whole_upgrade_with_the_zookeeper_leader_anywhere(size, election):
    for zk_leader in range(size):
        cluster = roll(size, zk_leader, election)
        assert all(p.new for p in cluster.pods)
        assert cluster.replaced == list(range(size - 1, -1, -1)), "highest first, one by one"
        assert cluster.partitions == list(range(size - 2, -1, -1))
        assert len(set(cluster.bounces)) == len(cluster.bounces), "a pod handed over twice"
        expected = expected_bounces(size, zk_leader, election)
        if expected is None:
            # Even if every handover picked the next pod to go, none is replaced leading.
            assert len(cluster.bounces) <= size - 1
        else:
            assert cluster.bounces == expected


def test_with_zookeepers_own_handover_an_upgrade_costs_at_most_one_extra_election():
    for size in SIZES:
        for zk_leader in range(size):
            assert len(roll(size, zk_leader, "lowest").bounces) <= 1


def test_a_single_unit_upgrades_without_a_partition_step_or_a_bounce():
    cluster = roll(1, 0, "lowest")
    assert pre_upgrade_partition(1) == 0
    assert cluster.partitions == [] and cluster.bounces == [] and cluster.replaced == [0]


@pytest.mark.parametrize("size", SIZES)
def test_pre_upgrade_check_exposes_the_highest_pod_only(size):
    assert pre_upgrade_partition(size) == size - 1
    assert pre_upgrade_partition(0) == 0


# --- every small view ---------------------------------------------------------------------

STATES = [None] + [(up, serving) for up in (False, True) for serving in (False, True)]


def views(size):
    for states in itertools.product(STATES, repeat=size):
        present = [o for o, s in enumerate(states) if s is not None]
        for zk_leader in [None, *present]:
            yield [
                Unit(o, upgraded=s[0], serving=s[1], zk_leader=o == zk_leader)
                for o, s in enumerate(states)
                if s is not None
            ]


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_every_view_gets_a_sound_answer(size):
    for view, partition, synced, refreshed in itertools.product(
        views(size), range(size + 2), (False, True), (False, True)
    ):
        step = next_step(view, partition, synced, planned_units=size, refreshed=refreshed)
        assert_sound(view, partition, synced, size, refreshed, step)


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_check_passes_exactly_when_everything_is_present_serving_and_in_sync(size):
    for view, synced, roll_pending in itertools.product(views(size), (False, True), (False, True)):
        healthy = len(view) == size and all(u.serving for u in view)
        reasons = check(view, synced, roll_pending, planned_units=size)
        assert (reasons == []) == (healthy and synced and not roll_pending)
        assert all(isinstance(r, str) and r for r in reasons)


# --- named cases --------------------------------------------------------------------------


def units(size, *, upgraded=(), down=(), leader=None, absent=()):
    return [
        Unit(o, upgraded=o in upgraded, serving=o not in down, zk_leader=o == leader)
        for o in range(size)
        if o not in absent
    ]


def step(view, partition, synced=True, *, planned=3, refreshed=True):
    return next_step(view, partition, synced, planned_units=planned, refreshed=refreshed)


def test_check_names_what_to_wait_for():
    view = units(3, down={2}, absent={1}, leader=0)
    assert check(view, False, True, planned_units=3) == [
        "unit 1 has not reported its state yet: wait for it to settle",
        "unit 2 is not serving",
        "ZooKeeper reports followers out of sync",
        "a rolling restart is under way: wait for it to finish",
    ]
    assert check(units(3, leader=0), True, False, planned_units=3) == []


def test_no_upgrade_under_way_means_nothing_to_do():
    assert step(units(3, leader=0), None) == Step()
    assert step(units(3, down={0, 1, 2}), None, synced=False) == Step()
    assert step([], 2, planned=0) == Step()  # the application is going away


def test_nothing_moves_before_juju_refresh():
    # Before the refresh every pod runs the update revision: it must not read as finished.
    everyone = units(3, upgraded={0, 1, 2}, leader=0)
    assert step(everyone, 2, refreshed=False).wait == (
        "pre-upgrade-check passed: waiting for `juju refresh`"
    )
    assert step(units(1, upgraded={0}, leader=0), 0, planned=1, refreshed=False).wait


def test_waits_for_kubernetes_to_replace_the_exposed_pods_highest_first():
    assert step(units(3, leader=0), 2).wait == (
        "waiting for unit 2 to be replaced with the new revision"
    )
    assert step(units(5, upgraded={4}, leader=0), 2, planned=5).wait == (
        "waiting for unit 3 to be replaced with the new revision"
    )


def test_each_gate_holds_the_partition():
    ready = units(3, upgraded={2}, leader=0)
    assert step(ready, 2) == Step(partition=1)
    assert step(units(3, upgraded={2}, down={2}, leader=0), 2).wait == (
        "upgrade paused: unit 2 is not serving"
    )
    assert step(units(3, upgraded={2}, down={0}, leader=1), 2).wait == (
        "upgrade paused: unit 0 is not serving"
    )
    assert step(ready, 2, synced=False).wait == (
        "upgrade paused: ZooKeeper reports followers out of sync"
    )


def test_the_leader_is_moved_away_before_its_pod_is_exposed():
    assert step(units(3, upgraded={2}, leader=1), 2) == Step(bounce_leader=2)
    # Once ZooKeeper leads elsewhere, the same pod may go.
    assert step(units(3, upgraded={2}, leader=2), 2) == Step(partition=1)
    assert step(units(3, upgraded={2}, leader=0), 2) == Step(partition=1)


def test_the_last_pod_goes_even_while_it_leads():
    assert step(units(3, upgraded={1, 2}, leader=0), 1) == Step(partition=0)
    # Rolling back after a re-run pre-upgrade-check: pods below may already run the update
    # revision, so the leader's pod can be the last one left with no election spent.
    assert step(units(4, upgraded={0, 2, 3}, leader=1), 2, planned=4) == Step(partition=1)
    assert step(units(4, upgraded={0, 3}, leader=2), 3, planned=4) == Step(bounce_leader=3)
    assert step(units(4, upgraded={1, 3}, leader=2), 3, planned=4) == Step(bounce_leader=3)


def test_the_pod_pre_upgrade_check_exposes_hands_over_before_the_refresh():
    top = units(3, upgraded={0, 1, 2}, leader=2)  # before the refresh: all on the update rev.
    assert step(top, 2, refreshed=False) == Step(bounce_leader=3)
    assert step(units(3, upgraded={0, 1, 2}, leader=0), 2, refreshed=False).wait == REFRESH
    unhealthy = units(3, upgraded={0, 1, 2}, leader=2, down={0})
    assert step(unhealthy, 2, refreshed=False).wait == "upgrade paused: unit 0 is not serving"
    assert step(units(1, upgraded={0}, leader=0), 0, planned=1, refreshed=False).wait == REFRESH


def test_a_pod_already_on_the_new_revision_is_passed_without_a_bounce():
    assert step(units(3, upgraded={1, 2}, leader=1), 2) == Step(partition=1)


def test_an_unclear_leader_holds_the_partition():
    assert step(units(3, upgraded={2}), 2).wait == (
        "upgrade paused: units leading ZooKeeper: none; need exactly one"
    )
    two = [*units(3, upgraded={2}, leader=0, absent={1}), Unit(1, False, True, zk_leader=True)]
    assert step(two, 2).wait == ("upgrade paused: units leading ZooKeeper: 0, 1; need exactly one")
    # Leaderless views do not matter when the next pod is the last one.
    assert step(units(3, upgraded={1, 2}), 1) == Step(partition=0)


def test_a_unit_missing_from_the_view_holds_everything():
    waiting = "unit 1 has not reported its state yet: wait for it to settle"
    assert step(units(3, upgraded={2}, leader=0, absent={1}), 2).wait == waiting
    assert step(units(3, upgraded={0, 2}, leader=0, absent={1}), 0).wait == waiting
    # The highest pod missing: nothing at or above the partition to look at is not "all upgraded".
    top = "unit 2 has not reported its state yet: wait for it to settle"
    assert step(units(3, leader=0, absent={2}), 2).wait == top


def test_a_partition_above_the_scale_exposes_the_highest_pod_next():
    view = units(3, leader=0)
    assert step(view, 5) == Step(partition=2)
    assert step(units(1, leader=0), 9, planned=1) == Step(partition=0)
    assert step(units(2, upgraded={0, 1}, leader=0), 3, planned=2) == Step(partition=1)


def test_units_beyond_the_scale_are_ignored():
    leaving = Unit(3, upgraded=False, serving=False, zk_leader=False)
    assert step([*units(3, upgraded={2}, leader=0), leaving], 2) == Step(partition=1)
    assert check([*units(3, leader=0), leaving], True, False, planned_units=3) == []


def test_done_once_every_pod_runs_the_new_revision_and_serves():
    assert step(units(3, upgraded={0, 1, 2}, leader=2), 0) == Step(done=True)
    assert step(units(3, upgraded={0, 1, 2}, leader=2, down={0}), 0).wait == (
        "upgrade paused: unit 0 is not serving"
    )
    assert step(units(3, upgraded={0, 1, 2}, leader=2), 0, synced=False).wait == (
        "upgrade paused: ZooKeeper reports followers out of sync"
    )
    assert step(units(3, upgraded={1, 2}, leader=2), 0).wait == (
        "waiting for unit 0 to be replaced with the new revision"
    )
    assert step(units(1, upgraded={0}, leader=0), 0, planned=1) == Step(done=True)


def test_the_pure_module_imports_nothing_heavy():
    code = (
        "import sys, upgrade; assert 'lightkube' not in sys.modules and 'ops' not in sys.modules"
    )
    run_isolated(code)


# --- the Kubernetes shell -----------------------------------------------------------------

APP, MODEL = "zookeeper", "prod"


def api_error(code, message):
    request = httpx2.Request("PATCH", f"https://10.0.0.1/apis/apps/v1/namespaces/{MODEL}/x")
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
    return ApiError(request=request, response=httpx2.Response(code, json=body, request=request))


def statefulset(partition=None, update_revision="zookeeper-7d9c", strategy=True):
    rolling = RollingUpdateStatefulSetStrategy(partition=partition)
    return StatefulSet(
        metadata=ObjectMeta(name=APP, namespace=MODEL),
        spec=StatefulSetSpec(
            selector=LabelSelector(matchLabels={"app.kubernetes.io/name": APP}),
            serviceName=f"{APP}-endpoints",
            template=PodTemplateSpec(),
            updateStrategy=StatefulSetUpdateStrategy(type="RollingUpdate", rollingUpdate=rolling)
            if strategy
            else None,
        ),
        status=StatefulSetStatus(replicas=3, updateRevision=update_revision),
    )


def pod(name, revision):
    labels = {"controller-revision-hash": revision} if revision else None
    return Pod(metadata=ObjectMeta(name=name, namespace=MODEL, labels=labels))


class FakeClient:
    """Stands in for lightkube.Client: answers from `objects`, records every call."""

    def __init__(self, *objects, error=None):
        self.objects = {(type(o), o.metadata.namespace, o.metadata.name): o for o in objects}
        self.error = error
        self.calls = []

    def get(self, res, name, *, namespace=None):
        self.calls.append(("get", res, name, namespace))
        if self.error:
            raise self.error
        try:
            return self.objects[(res, namespace, name)]
        except KeyError:
            raise api_error(404, f'{res.__name__.lower()}s "{name}" not found') from None

    def patch(self, res, name, obj, *, namespace=None, patch_type=PatchType.STRATEGIC, **kwargs):
        self.calls.append(("patch", res, name, obj, namespace, patch_type, kwargs))
        if self.error:
            raise self.error


def test_reads_the_partition():
    client = FakeClient(statefulset(partition=2))
    assert k8s.Kubernetes(APP, client).partition(APP, MODEL) == 2
    assert client.calls == [("get", StatefulSet, APP, MODEL)]
    assert k8s.Kubernetes(APP, FakeClient(statefulset(partition=0))).partition(APP, MODEL) == 0
    unset = FakeClient(statefulset(strategy=False))
    assert k8s.Kubernetes(APP, unset).partition(APP, MODEL) is None


def test_sets_the_partition_with_one_merge_patch():
    client = FakeClient()
    k8s.Kubernetes(APP, client).set_partition(APP, MODEL, 2)
    assert client.calls == [
        (
            "patch",
            StatefulSet,
            APP,
            {
                "spec": {
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}
                }
            },
            MODEL,
            PatchType.MERGE,
            {},
        )
    ]


@pytest.mark.parametrize("value", [-1, 1.0, "2", True, None])
def test_refuses_a_partition_that_is_not_a_non_negative_int(value):
    client = FakeClient()
    with pytest.raises(ValueError, match="partition must be a non-negative int"):
        k8s.Kubernetes(APP, client).set_partition(APP, MODEL, value)
    assert client.calls == []


def test_a_pod_is_upgraded_when_it_carries_the_update_revision():
    client = FakeClient(
        statefulset(update_revision="zookeeper-new"),
        pod("zookeeper-0", "zookeeper-old"),
        pod("zookeeper-1", "zookeeper-new"),
        pod("zookeeper-2", None),
    )
    shell = k8s.Kubernetes(APP, client)
    assert shell.pod_upgraded("zookeeper-1", APP, MODEL) is True
    assert shell.pod_upgraded("zookeeper-0", APP, MODEL) is False
    assert shell.pod_upgraded("zookeeper-2", APP, MODEL) is False
    assert client.calls[:2] == [
        ("get", StatefulSet, APP, MODEL),
        ("get", Pod, "zookeeper-1", MODEL),
    ]
    assert shell.update_revision(APP, MODEL) == "zookeeper-new"


def test_no_pod_is_upgraded_before_the_controller_reports_a_revision():
    client = FakeClient(statefulset(update_revision=None), pod("zookeeper-0", "zookeeper-x"))
    assert k8s.Kubernetes(APP, client).pod_upgraded("zookeeper-0", APP, MODEL) is False


def test_forbidden_names_juju_trust():
    client = FakeClient(error=api_error(403, 'statefulsets.apps "zookeeper" is forbidden'))
    with pytest.raises(k8s.K8sError) as raised:
        k8s.Kubernetes(APP, client).set_partition(APP, MODEL, 1)
    message = str(raised.value)
    assert message.startswith(f"cannot set the partition of StatefulSet {MODEL}/{APP}: forbidden")
    assert "deploy with --trust" in message
    assert f"juju trust {APP} --scope=cluster" in message
    assert isinstance(raised.value.__cause__, ApiError)


def test_not_found_says_where_the_statefulset_should_be():
    with pytest.raises(k8s.K8sError, match=r"not found .*named after the application"):
        k8s.Kubernetes(APP, FakeClient()).partition(APP, MODEL)
    with pytest.raises(k8s.K8sError, match="cannot read pod prod/zookeeper-9: not found"):
        k8s.Kubernetes(APP, FakeClient(statefulset())).pod_upgraded("zookeeper-9", APP, MODEL)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (api_error(401, "Unauthorized"), "unauthorised"),
        (api_error(409, "conflict"), "Kubernetes answered 409 \\(conflict\\)"),
        (api_error(500, "etcd down"), "Kubernetes answered 500"),
        (httpx2.ConnectError("connection refused"), "did not answer.*next hook"),
        (httpx2.ReadTimeout("timed out"), "did not answer"),
    ],
)
def test_every_api_failure_becomes_one_k8s_error(error, expected):
    for call in (
        lambda shell: shell.partition(APP, MODEL),
        lambda shell: shell.set_partition(APP, MODEL, 0),
        lambda shell: shell.pod_upgraded("zookeeper-0", APP, MODEL),
    ):
        with pytest.raises(k8s.K8sError, match=expected):
            call(k8s.Kubernetes(APP, FakeClient(error=error)))


def test_the_client_is_made_once_on_first_use_with_the_app_as_field_manager(monkeypatch):
    import lightkube

    made = []

    def client(**kwargs):
        made.append(kwargs)
        return FakeClient(statefulset(partition=1))

    monkeypatch.setattr(lightkube, "Client", client)
    shell = k8s.Kubernetes(APP)
    assert made == []
    assert shell.partition(APP, MODEL) == 1
    shell.set_partition(APP, MODEL, 0)
    assert made == [{"field_manager": APP}]


def test_no_credentials_in_the_pod_becomes_a_k8s_error(monkeypatch):
    import lightkube

    def client(**kwargs):
        raise ConfigError("Configuration file ~/.kube/config not found")

    monkeypatch.setattr(lightkube, "Client", client)
    with pytest.raises(k8s.K8sError, match="no Kubernetes credentials in this pod"):
        k8s.Kubernetes(APP).partition(APP, MODEL)


def test_importing_the_shell_does_not_import_lightkube():
    run_isolated("import sys, k8s; assert 'lightkube' not in sys.modules, 'eager import'")


def run_isolated(code):
    src = pathlib.Path(__file__).parents[2] / "src"
    env = {**os.environ, "PYTHONPATH": str(src)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
