"""State tests of the charm: events in; statuses, files, Pebble plan and relation data out."""

import dataclasses
import json
import logging
import re
import string

import ops
import pytest
from ops import testing

import admin
import render
from charm import ZooKeeperCharm
from layout import K8S
from state import ClusterUnitData

APP, MODEL = "zookeeper-k8s", "prod"
# The server and the watcher that wakes the charm: the services the charm runs.
SERVING = {
    "zookeeper": testing.pebble.ServiceStatus.ACTIVE,
    "zookeeper-notify": testing.pebble.ServiceStatus.ACTIVE,
}
STOPPED = {"zookeeper": testing.pebble.ServiceStatus.INACTIVE}


def pod(ordinal: int) -> str:
    return f"{APP}-{ordinal}.{APP}-endpoints.{MODEL}.svc.cluster.local"


def member_line(ordinal: int) -> str:
    return f"server.{ordinal + 1}={pod(ordinal)}:2888:3888:participant;0.0.0.0:2181\n"


def context(unit_id: int = 0) -> testing.Context:
    return testing.Context(ZooKeeperCharm, app_name=APP, unit_id=unit_id)


def make_state(
    disk,
    *,
    leader: bool = True,
    planned_units: int = 3,
    config: dict | None = None,
    app_data: dict | None = None,
    secrets=(),
    can_connect: bool = True,
) -> testing.State:
    return testing.State(
        leader=leader,
        planned_units=planned_units,
        config=config or {},
        model=testing.Model(name=MODEL),
        relations=[testing.PeerRelation("cluster", local_app_data=app_data or {})],
        containers=[
            testing.Container(
                "zookeeper",
                can_connect=can_connect,
                mounts={"data": testing.Mount(location=str(K8S.storage), source=disk.root)},
            )
        ],
        secrets=secrets,
    )


def follower_state(disk, secret, *, members=(0, 1, 2), with_id=True, published=True, **kw):
    """A non-leader's view once the leader did its part: credentials, bootstrap members and
    the ensemble it published (or, without the ID or the ensemble, before it did)."""
    app_data = {"bootstrap-members": json.dumps([0, 1, 2])}
    if published:
        app_data["members"] = json.dumps([member_line(n).strip() for n in members])
    if with_id:
        app_data["internal-secret-id"] = json.dumps(secret.id)
    return make_state(disk, leader=False, app_data=app_data, secrets=[secret], **kw)


def peers(state: testing.State) -> testing.PeerRelation:
    return state.get_relations("cluster")[0]


def app_data(state: testing.State) -> dict:
    return {key: json.loads(value) for key, value in peers(state).local_app_data.items()}


def unit_state(state: testing.State) -> str:
    """The unit's state as its peers read it (no key reads as ClusterUnitData's default)."""
    data = peers(state).local_unit_data
    return ClusterUnitData.model_validate(
        {key: json.loads(value) for key, value in data.items() if key == "state"}
    ).state.value


def workload(state: testing.State) -> testing.Container:
    return state.get_container("zookeeper")


def plan(state: testing.State) -> dict:
    return workload(state).plan.to_dict()


def command(state: testing.State) -> str:
    return plan(state)["services"]["zookeeper"]["command"]


def the_secret(state: testing.State) -> testing.Secret:
    (secret,) = state.secrets
    return secret


def passwords(state: testing.State) -> list[str]:
    return [value for secret in state.secrets for value in secret.latest_content.values()]


def with_config(state: testing.State, **options) -> testing.State:
    config = {key.replace("_", "-"): value for key, value in options.items()}
    return dataclasses.replace(state, config={**state.config, **config})


def on_disk(state: testing.State, disk) -> testing.State:
    """The same Juju state seen from a unit whose storage is `disk` (another pod)."""
    mount = testing.Mount(location=str(K8S.storage), source=disk.root)
    container = dataclasses.replace(workload(state), mounts={"data": mount})
    return dataclasses.replace(state, containers={container})


def with_services(state: testing.State, statuses) -> testing.State:
    container = dataclasses.replace(workload(state), service_statuses=statuses)
    return dataclasses.replace(state, containers={container})


def woken(ctx: testing.Context, state: testing.State) -> testing.State:
    """The workload's watcher says its server changed (a custom notice), as after a restart."""
    notice = testing.Notice(render.NOTICE_KEY, last_data={"state": "serving"})
    container = dataclasses.replace(workload(state), notices=[notice])
    state = dataclasses.replace(state, containers={container})
    return ctx.run(ctx.on.pebble_custom_notice(container, notice), state)


def restarts(ctx: testing.Context) -> list[str]:
    """Restarts as `juju debug-log` shows them: Scenario keeps no other trace of one."""
    return [line.message for line in ctx.juju_log if line.message.startswith("restarting")]


@pytest.fixture
def deployed(ctx, disk):
    """unit/0, leader of a fresh three-unit deployment, after its first hooks."""
    out = ctx.run(ctx.on.leader_elected(), make_state(disk))
    return ctx.run(ctx.on.config_changed(), out)


# -- a fresh deployment ----------------------------------------------------------------------

LIFECYCLE = {
    "install": lambda ctx, state: ctx.on.install(),
    "leader-elected": lambda ctx, state: ctx.on.leader_elected(),
    "config-changed": lambda ctx, state: ctx.on.config_changed(),
    "start": lambda ctx, state: ctx.on.start(),
    "pebble-ready": lambda ctx, state: ctx.on.pebble_ready(workload(state)),
    "update-status": lambda ctx, state: ctx.on.update_status(),
    "upgrade-charm": lambda ctx, state: ctx.on.upgrade_charm(),
}


@pytest.mark.parametrize("event", LIFECYCLE)
def test_first_hook_of_a_fresh_leader_starts_a_three_member_ensemble(event, disk):
    ctx = context()
    state = make_state(disk)
    out = ctx.run(LIFECYCLE[event](ctx, state), state)

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    assert workload(out).service_statuses == SERVING
    assert (disk / "data/myid").read_text() == "1\n"
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert "dynamicConfigFile=/var/lib/zookeeper/conf/zoo.cfg.dynamic\n" in zoo_cfg
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(map(member_line, range(3)))
    jaas = (disk / "conf/jaas.conf").read_text()
    assert all(password in jaas for password in passwords(out))
    assert (disk / "conf/jaas.conf").stat().st_mode & 0o777 == 0o600
    assert '<root level="INFO">' in (disk / "conf/logback.xml").read_text()
    assert "org.apache.zookeeper.server.quorum.QuorumPeerMain" in command(out)
    assert unit_state(out) == "serving"


def test_pebble_ready_on_a_non_leader_starts_it_with_the_leaders_credentials(disk, admin_server):
    admin_server.health = admin.Health(serving=True, mode="follower", voters=3)
    ctx = context(1)
    secret = internal_secret_without_label()
    state = follower_state(disk, secret)
    out = ctx.run(ctx.on.pebble_ready(workload(state)), state)

    assert out.unit_status == testing.ActiveStatus("follower, 3 members")
    assert workload(out).service_statuses == SERVING
    assert (disk / "data/myid").read_text() == "2\n"
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(map(member_line, range(3)))
    assert set(out.secrets) == {secret}  # read, not copied nor created


@pytest.mark.parametrize("event", ["install", "leader-elected", "config-changed", "update-status"])
def test_without_the_container_nothing_is_written_and_the_unit_waits(event, disk):
    ctx = context()
    state = make_state(disk, can_connect=False)
    out = ctx.run(LIFECYCLE[event](ctx, state), state)

    assert out.unit_status == testing.WaitingStatus("waiting for the zookeeper container")
    assert disk.files() == {}
    assert plan(out) == {}


# -- leadership and credentials --------------------------------------------------------------


@pytest.mark.parametrize("planned_units", [1, 3, 5])
def test_leader_of_a_fresh_deployment_creates_one_secret_and_the_bootstrap_members(
    disk, planned_units
):
    ctx = context()
    out = ctx.run(ctx.on.leader_elected(), make_state(disk, planned_units=planned_units))

    secret = the_secret(out)
    assert secret.owner == "app"
    assert secret.label == "zookeeper-internal"
    assert set(secret.latest_content) == {"super-password", "sync-password"}
    super_pw, sync_pw = (
        secret.latest_content["super-password"],
        secret.latest_content["sync-password"],
    )
    assert super_pw != sync_pw
    for password in (super_pw, sync_pw):
        assert len(password) >= 32
        assert set(password) <= set(string.ascii_letters + string.digits)

    data = app_data(out)
    assert data["internal-secret-id"] == secret.id
    assert data["bootstrap-members"] == list(range(planned_units))
    raw = json.dumps(dict(peers(out).local_app_data))
    assert super_pw not in raw
    assert sync_pw not in raw
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(
        map(member_line, range(planned_units))
    )


@pytest.mark.parametrize("new_leader", [0, 2])
def test_a_later_leader_elected_keeps_the_secret_and_the_bootstrap_members(
    disk, new_disk, new_leader
):
    first = context()
    out = first.run(first.on.leader_elected(), make_state(disk, planned_units=3))
    before = the_secret(out)

    # The application has grown since; leadership moves (or is re-asserted).
    ctx = context(new_leader)
    state = dataclasses.replace(out, planned_units=5)
    if new_leader:
        state = on_disk(state, new_disk())
    again = ctx.run(ctx.on.leader_elected(), state)

    assert the_secret(again).id == before.id
    assert the_secret(again).latest_content == before.latest_content
    assert app_data(again)["internal-secret-id"] == before.id
    assert app_data(again)["bootstrap-members"] == [0, 1, 2]


def internal_secret_without_label():
    # No label: a non-leader must find the secret by the ID the leader published.
    return testing.Secret(
        {"super-password": "superpw-from-leader", "sync-password": "syncpw-from-leader"},
        owner="app",
    )


def test_a_non_leader_reads_the_secret_by_the_id_in_peer_data(disk):
    ctx = context(1)
    out = ctx.run(ctx.on.config_changed(), follower_state(disk, internal_secret_without_label()))

    jaas = (disk / "conf/jaas.conf").read_text()
    assert 'user_super="superpw-from-leader"' in jaas
    assert 'user_sync0="syncpw-from-leader"' in jaas
    assert 'password="syncpw-from-leader"' in jaas
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


@pytest.mark.parametrize("event", ["install", "config-changed", "pebble-ready", "update-status"])
def test_a_non_leader_without_the_secret_id_waits_and_writes_nothing(disk, event):
    ctx = context(1)
    state = follower_state(disk, internal_secret_without_label(), with_id=False)
    out = ctx.run(LIFECYCLE[event](ctx, state), state)

    assert out.unit_status == testing.WaitingStatus("waiting for the leader to create credentials")
    assert disk.files() == {}
    assert plan(out) == {}


def test_a_unit_before_the_ensemble_is_published_waits_and_starts_nothing(disk):
    ctx = context(3)
    state = follower_state(disk, internal_secret_without_label(), published=False)
    out = ctx.run(ctx.on.config_changed(), state)

    assert out.unit_status == testing.WaitingStatus(
        "waiting for the leader to publish the ensemble"
    )
    assert plan(out).get("services", {}) == {}
    assert workload(out).service_statuses == {}
    assert disk.files() == {}
    assert unit_state(out) == "waiting"


def test_a_unit_outside_the_ensemble_starts_as_observer_and_waits_to_be_added(disk, admin_server):
    admin_server.health = admin.Health(serving=True, mode="observer", voters=3)
    ctx = context(3)
    out = ctx.run(ctx.on.config_changed(), follower_state(disk, internal_secret_without_label()))

    assert out.unit_status == testing.WaitingStatus("in sync, waiting to be added to the ensemble")
    assert (disk / "data/myid").read_text() == "4\n"
    # The committed members as they are, and this unit as a non-voter.
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(map(member_line, range(3))) + (
        f"server.4={pod(3)}:2888:3888:observer;0.0.0.0:2181\n"
    )
    assert workload(out).service_statuses == SERVING
    assert unit_state(out) == "serving"


def test_a_joiner_not_yet_in_sync_says_so(disk, admin_server, monkeypatch):
    # The charm gives a joiner a while to sync inside the hook; no time to give here.
    admin_server.health = admin.NOT_RUNNING
    ctx = context(3)
    out = ctx.run(ctx.on.config_changed(), follower_state(disk, internal_secret_without_label()))

    assert out.unit_status == testing.WaitingStatus("zookeeper started, waiting for quorum")
    assert workload(out).service_statuses == SERVING
    assert unit_state(out) == "started"


def test_a_unit_added_earlier_restarts_from_zookeepers_own_config(disk, admin_server):
    """unit/3 joined by reconfig earlier; its pod restarted with its storage kept."""
    admin_server.health = admin.Health(serving=True, mode="follower", voters=4)
    versioned = f"{K8S.zoo_cfg}.dynamic.300000002"
    (disk / "conf").mkdir()
    (disk / versioned).write_text("".join(map(member_line, range(4))) + "version=300000002\n")
    (disk / "conf/zoo.cfg").write_text(f"tickTime=2000\ndynamicConfigFile={versioned}\n")
    ctx = context(3)
    state = follower_state(disk, internal_secret_without_label(), members=range(4))
    out = ctx.run(ctx.on.start(), state)

    assert out.unit_status.name == "active"
    assert out.unit_status.message.startswith("follower, 4 members")
    assert (disk / "data/myid").read_text() == "4\n"
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert re.findall(r"^dynamicConfigFile=(.*)$", zoo_cfg, flags=re.M) == [versioned]
    assert not (disk / "conf/zoo.cfg.dynamic").exists()


def joiner_running_with(disk, admin_server, ctx, servers: str) -> testing.State:
    """unit/3 started as an observer of the three published members; then ZooKeeper sent it
    a new committed config (`servers`) and rewrote its zoo.cfg to point there."""
    admin_server.health = admin.Health(serving=True, mode="observer", voters=3)
    out = ctx.run(ctx.on.config_changed(), follower_state(disk, internal_secret_without_label()))
    assert workload(out).service_statuses == SERVING
    versioned = f"{K8S.zoo_cfg}.dynamic.300000002"
    (disk / versioned).write_text(servers + "version=300000002\n")
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    (disk / "conf/zoo.cfg").write_text(
        re.sub(r"^dynamicConfigFile=.*$", f"dynamicConfigFile={versioned}", zoo_cfg, flags=re.M)
    )
    return out


def test_a_joiner_left_out_of_the_config_it_runs_starts_again_as_an_observer(
    disk, admin_server, monkeypatch
):
    """The leader committed a config that added another joiner without unit/3 (it had not
    synced yet), and ZooKeeper sent unit/3 that config: a server outside its own config never
    serves again, so its charm restarts it with a fresh start file (it votes nowhere)."""
    ctx = context(3)
    left_out = member_line(0) + member_line(1) + member_line(2) + member_line(4)
    state = joiner_running_with(disk, admin_server, ctx, left_out)
    disk.age()  # ZooKeeper wrote that config a while ago, and the server still does not serve
    admin_server.health = admin.NOT_RUNNING  # LOOKING, outside its own config
    woken(ctx, state)  # the watcher's reminder that it does not serve

    assert restarts(ctx) == ["restarting zookeeper"]
    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert re.findall(r"^dynamicConfigFile=(.*)$", zoo_cfg, flags=re.M) == [
        f"{K8S.conf_dir}/zoo.cfg.dynamic"
    ]
    assert (disk / "conf/zoo.cfg.dynamic").read_text() == "".join(map(member_line, range(3))) + (
        f"server.4={pod(3)}:2888:3888:observer;0.0.0.0:2181\n"
    )


@pytest.mark.parametrize("why", ["just written", "serving"])
def test_a_joiner_sent_the_config_before_it_was_added_is_left_running(disk, admin_server, why):
    """A syncing joiner gets the committed config, which names it only once the leader
    adds it: a notice of that moment must not restart it (it would loop: each restart is a
    change the watcher reports)."""
    ctx = context(3)
    committed = "".join(map(member_line, range(3)))
    state = joiner_running_with(disk, admin_server, ctx, committed)
    if why == "serving":
        disk.age()
    else:
        admin_server.health = admin.NOT_RUNNING
    woken(ctx, state)
    assert restarts(ctx) == []


def test_a_joiner_in_the_config_it_runs_is_left_running(disk, admin_server):
    ctx = context(3)
    with_it = "".join(map(member_line, range(3))) + (
        f"server.4={pod(3)}:2888:3888:observer;0.0.0.0:2181\n"
    )
    state = joiner_running_with(disk, admin_server, ctx, with_it)
    ctx.run(ctx.on.update_status(), state)

    assert restarts(ctx) == []
    assert "zoo.cfg.dynamic.300000002" in (disk / "conf/zoo.cfg").read_text()


# -- config-changed --------------------------------------------------------------------------


def test_changed_tick_time_rewrites_zoo_cfg_and_restarts_zookeeper(ctx, disk, deployed):
    disk.age()
    before = disk.files()
    restarted = ctx.run(ctx.on.config_changed(), with_config(deployed, tick_time=3000))
    # The hook returns right after the restart; the server's notice wakes the next one.
    assert restarted.unit_status == testing.MaintenanceStatus(
        "restarting zookeeper with new settings"
    )
    out = woken(ctx, restarted)

    after = disk.files()
    assert "tickTime=3000\n" in (disk / "conf/zoo.cfg").read_text()
    assert "tickTime=2000" not in (disk / "conf/zoo.cfg").read_text()
    assert {path for path in after if after[path] != before[path]} == {"conf/zoo.cfg"}
    assert plan(out) == plan(deployed)
    assert restarts(ctx) == ["restarting zookeeper"]
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


@pytest.mark.parametrize("heap", [128, 2048, 65536])
def test_changed_heap_changes_the_layer_and_leaves_files_alone(ctx, disk, deployed, heap):
    disk.age()
    before = disk.files()
    out = ctx.run(ctx.on.config_changed(), with_config(deployed, jvm_heap_mb=heap))

    assert f"-Xmx{heap}m" in command(out).split()
    assert "-Xmx1024m" not in command(out).split()
    assert disk.files() == before
    assert workload(out).service_statuses == SERVING


def test_changed_log_level_rewrites_the_log_config(ctx, disk, deployed):
    disk.age()
    before = disk.files()
    ctx.run(ctx.on.config_changed(), with_config(deployed, log_level="debug"))

    after = disk.files()
    assert '<root level="DEBUG">' in (disk / "conf/logback.xml").read_text()
    assert {path for path in after if after[path] != before[path]} == {"conf/logback.xml"}


def test_unchanged_config_touches_nothing(ctx, disk, deployed):
    disk.age()
    before = disk.files()
    out = ctx.run(ctx.on.config_changed(), deployed)

    assert disk.files() == before
    assert plan(out) == plan(deployed)
    assert restarts(ctx) == []


def test_several_bad_options_are_named_in_one_status(ctx, disk, deployed):
    disk.age()
    before = disk.files()
    bad = with_config(deployed, tick_time=1, log_level="LOUD", jvm_heap_mb=1)
    out = ctx.run(ctx.on.config_changed(), bad)

    assert isinstance(out.unit_status, testing.BlockedStatus)
    for option in ("tick-time", "log-level", "jvm-heap-mb"):
        assert option in out.unit_status.message
    assert disk.files() == before


def test_bad_config_on_a_fresh_unit_writes_nothing(disk):
    ctx = context()
    out = ctx.run(ctx.on.install(), make_state(disk, config={"tick-time": 5}))

    assert out.unit_status == testing.BlockedStatus(
        "invalid config: tick-time must be between 100 and 60000"
    )
    assert disk.files() == {}
    assert plan(out) == {}


def test_fixing_bad_config_unblocks_and_applies_it(ctx, disk, deployed):
    blocked = ctx.run(ctx.on.config_changed(), with_config(deployed, tick_time=5))
    out = woken(ctx, ctx.run(ctx.on.config_changed(), with_config(blocked, tick_time=2500)))

    assert out.unit_status == testing.ActiveStatus("leader, 3 members")
    assert "tickTime=2500\n" in (disk / "conf/zoo.cfg").read_text()


# -- peers come and go -----------------------------------------------------------------------


@pytest.mark.parametrize("change", ["joined", "changed", "departed"])
def test_peer_events_keep_the_units_files_and_plan(ctx, disk, deployed, change):
    relation = dataclasses.replace(peers(deployed), peers_data={1: {}, 2: {}})
    state = dataclasses.replace(deployed, relations={relation})
    event = {
        "joined": lambda: ctx.on.relation_joined(relation, remote_unit=1),
        "changed": lambda: ctx.on.relation_changed(relation, remote_unit=1),
        "departed": lambda: ctx.on.relation_departed(relation, remote_unit=2, departing_unit=2),
    }[change]()
    disk.age()
    before = disk.files()
    out = ctx.run(event, state)

    assert disk.files() == before
    assert plan(out) == plan(deployed)
    assert restarts(ctx) == []
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


@pytest.mark.parametrize(
    "planned_units",
    [pytest.param(3, id="pod-restart"), pytest.param(0, id="application-removed")],
)
def test_stop_of_a_unit_that_stays_or_of_the_whole_app_changes_nothing(
    ctx, disk, deployed, planned_units
):
    disk.age()
    before = disk.files()
    out = ctx.run(ctx.on.stop(), dataclasses.replace(deployed, planned_units=planned_units))

    assert disk.files() == before
    assert plan(out) == plan(deployed)
    # Nothing but the app status the leader records having set.
    assert {**app_data(out), "app-status": None} == {**app_data(deployed), "app-status": None}


# -- ZooKeeper's own rewrite of its config ---------------------------------------------------


@pytest.mark.parametrize("event", ["config-changed", "update-status", "upgrade-charm", "start"])
def test_zookeepers_rewrite_of_zoo_cfg_is_not_drift(ctx, disk, deployed, event):
    disk.zookeeper_takes_over()
    disk.age()
    before = disk.files()
    out = ctx.run(LIFECYCLE[event](ctx, deployed), deployed)

    assert disk.files() == before
    assert restarts(ctx) == []
    assert plan(out) == plan(deployed)


def test_after_zookeepers_rewrite_a_config_change_keeps_its_dynamic_file(ctx, disk, deployed):
    versioned = disk.zookeeper_takes_over()
    disk.age()
    before = disk.files()
    ctx.run(ctx.on.config_changed(), with_config(deployed, tick_time=4000))

    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    assert "tickTime=4000\n" in zoo_cfg
    assert re.findall(r"^dynamicConfigFile=(.*)$", zoo_cfg, flags=re.M) == [versioned]
    # Neither the bootstrap file nor ZooKeeper's own was touched.
    after = disk.files()
    assert after["conf/zoo.cfg.dynamic"] == before["conf/zoo.cfg.dynamic"]
    assert after["conf/zoo.cfg.dynamic.100000000"] == before["conf/zoo.cfg.dynamic.100000000"]
    assert restarts(ctx) == ["restarting zookeeper"]


# -- statuses --------------------------------------------------------------------------------


def test_a_stopped_server_shows_it_is_starting(disk, deployed):
    # Every reconciling hook (re)starts the server, so look at it from a hook that does not
    # reconcile: collect-status runs after actions too.
    ctx = context()
    out = ctx.run(ctx.on.action("get-super-password"), with_services(deployed, STOPPED))

    assert out.unit_status == testing.MaintenanceStatus("starting zookeeper")


def test_a_running_server_that_is_not_serving_waits_for_quorum(ctx, disk, admin_server):
    admin_server.health = admin.NOT_RUNNING
    out = ctx.run(ctx.on.leader_elected(), make_state(disk))

    assert workload(out).service_statuses == SERVING
    assert out.unit_status == testing.WaitingStatus("zookeeper started, waiting for quorum")
    assert unit_state(out) == "started"


@pytest.mark.parametrize(
    ("mode", "voters", "message"),
    [
        ("leader", 3, "leader, 3 members"),
        ("follower", 5, "follower, 5 members"),
        ("leader", 1, "leader, 1 member"),
        ("follower", 4, "follower, 4 members (even: tolerates 1 failure(s), like 3)"),
    ],
)
def test_a_serving_server_is_active_with_its_mode_and_voters(
    disk, admin_server, mode, voters, message
):
    admin_server.health = admin.Health(serving=True, mode=mode, voters=voters)
    ctx = context()
    out = ctx.run(ctx.on.update_status(), make_state(disk))

    assert out.unit_status == testing.ActiveStatus(message)
    assert unit_state(out) == "serving"


def test_health_is_asked_once_per_hook_where_the_admin_server_listens(ctx, disk, admin_server):
    ctx.run(ctx.on.update_status(), make_state(disk))

    zoo_cfg = (disk / "conf/zoo.cfg").read_text()
    (admin_host,) = re.findall(r"^admin\.serverAddress=(.*)$", zoo_cfg, flags=re.M)
    assert admin_server.asked == [admin_host]


def test_a_server_going_out_of_quorum_is_reported_to_peers(ctx, disk, deployed, admin_server):
    admin_server.health = admin.NOT_RUNNING
    out = ctx.run(ctx.on.update_status(), deployed)

    assert unit_state(deployed) == "serving"
    assert unit_state(out) == "started"
    assert out.unit_status == testing.WaitingStatus("zookeeper started, waiting for quorum")


# -- the get-super-password action -----------------------------------------------------------


@pytest.mark.parametrize("unit_id", [0, 1])
def test_get_super_password_gives_the_user_and_secret_id_not_the_password(disk, deployed, unit_id):
    ctx = context(unit_id)
    state = deployed if unit_id == 0 else dataclasses.replace(deployed, leader=False)
    ctx.run(ctx.on.action("get-super-password"), state)

    secret = the_secret(deployed)
    results = ctx.action_results
    assert results["username"] == "super"
    assert results["secret-id"] == secret.id
    assert secret.id in results["how"]
    for password in passwords(deployed):
        assert password not in json.dumps(results)


@pytest.mark.parametrize("leader", [True, False])
def test_get_super_password_before_the_secret_exists_fails_clearly(disk, leader):
    ctx = context()
    with pytest.raises(testing.ActionFailed) as failure:
        ctx.run(ctx.on.action("get-super-password"), make_state(disk, leader=leader))

    assert failure.value.message == (
        "the leader has not created the credentials yet; retry once it has"
    )


# -- passwords stay secret -------------------------------------------------------------------


def test_passwords_appear_in_no_log_and_no_relation_data(disk, new_disk, caplog):
    caplog.set_level(logging.DEBUG)
    ctx = context()
    state = make_state(disk)
    for event in ("leader-elected", "install", "config-changed", "pebble-ready"):
        state = ctx.run(LIFECYCLE[event](ctx, state), state)
    state = ctx.run(ctx.on.config_changed(), with_config(state, tick_time=3000))
    state = ctx.run(ctx.on.action("get-super-password"), state)
    follower, follower_disk = context(1), new_disk()
    other = follower.run(
        follower.on.config_changed(),
        on_disk(dataclasses.replace(state, leader=False), follower_disk),
    )

    secrets = passwords(state)
    assert len(secrets) == 2
    assert caplog.records, "logging was not captured"
    assert ctx.juju_log and follower.juju_log
    logged = [record.getMessage() for record in caplog.records]
    logged += [line.message for line in ctx.juju_log + follower.juju_log]
    relation_data = [
        json.dumps(dict(peers(s).local_app_data)) + json.dumps(dict(peers(s).local_unit_data))
        for s in (state, other)
    ]
    for password in secrets:
        assert not [line for line in logged if password in line]
        assert not [data for data in relation_data if password in data]
        for unit_disk in (disk, follower_disk):
            holding = {
                p: mode & 0o777
                for p, (data, _, mode) in unit_disk.files().items()
                if password.encode() in data
            }
            # Only ZooKeeper's JAAS file, readable by its owner alone.
            assert set(holding) <= {"conf/jaas.conf"}
            assert "conf/jaas.conf" in holding
            assert set(holding.values()) == {0o600}


# -- restarts --------------------------------------------------------------------------------


def test_a_new_check_and_a_new_setting_in_one_hook_still_restart(ctx, disk, deployed):
    # As after upgrading from a revision whose ready check differed.
    old = workload(deployed).plan.to_dict()
    old["checks"]["zookeeper-ready"] = {
        "override": "replace",
        "level": "ready",
        "http": {"url": "http://127.0.0.1:8080/commands/ruok"},
    }
    container = dataclasses.replace(
        workload(deployed), layers={"zookeeper": ops.pebble.Layer(old)}
    )
    state = with_config(dataclasses.replace(deployed, containers={container}), tick_time=3000)
    out = ctx.run(ctx.on.upgrade_charm(), state)

    assert "exec" in plan(out)["checks"]["zookeeper-ready"]
    assert "tickTime=3000\n" in (disk / "conf/zoo.cfg").read_text()
    assert restarts(ctx) == ["restarting zookeeper"]


def test_a_server_that_comes_back_after_the_roll_gave_up_is_no_longer_blocked(
    ctx, disk, deployed, admin_server, monkeypatch
):
    """The roll waits restart_timeout for a restarted server; one that comes back later runs
    the new settings all the same: its next hook says so instead of staying blocked."""
    monkeypatch.setattr(ZooKeeperCharm, "restart_timeout", 0.0)
    synced = iter([True])  # in sync before the restart; not back after it
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: next(synced, False))
    admin_server.health = admin.NOT_RUNNING
    restarted = ctx.run(ctx.on.config_changed(), with_config(deployed, tick_time=3000))
    # Its next hook (the health check failing, or any other) finds it past the timeout.
    failed = ctx.run(ctx.on.update_status(), restarted)
    assert failed.unit_status.name == "blocked"
    assert failed.unit_status.message.startswith("restart failed: ")

    admin_server.health = admin.Health(serving=True, mode="leader", voters=3)
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: True)
    back = ctx.run(ctx.on.update_status(), failed)

    assert back.unit_status == testing.ActiveStatus("leader, 3 members")
    assert restarts(ctx) == ["restarting zookeeper"]  # the one restart, not another


# -- secrets and the application's status ----------------------------------------------------


def test_a_secret_revision_nobody_tracks_is_removed(ctx, deployed):
    """Every rotation (and every scale, for a client's user secret) makes a revision; Juju
    tells the owner once no one tracks an old one, and the charm drops it."""
    secret = the_secret(deployed)
    ctx.run(ctx.on.secret_remove(secret, revision=3), deployed)

    assert ctx.removed_secret_revisions == [3]


def test_an_expired_secret_changes_nothing(ctx, disk, deployed):
    secret = the_secret(deployed)
    disk.age()
    before = disk.files()
    out = ctx.run(ctx.on.secret_expired(secret, revision=1), deployed)

    assert ctx.removed_secret_revisions == []
    assert disk.files() == before
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


def test_the_application_status_says_how_many_vote_and_how_many_clients(ctx, deployed):
    out = ctx.run(ctx.on.update_status(), deployed)

    assert out.app_status == testing.ActiveStatus("3 voting members, 0 client apps")


def test_an_unchanged_application_status_is_not_set_again(ctx, deployed):
    steady = ctx.run(ctx.on.update_status(), deployed)
    again = context(0)
    out = again.run(again.on.update_status(), steady)

    assert again.app_status_history == []  # no status-set: Juju keeps the one shown
    assert out.app_status == testing.ActiveStatus("3 voting members, 0 client apps")
    # A change is set, and the next hook keeps it without setting it again.
    changed = again.run(again.on.update_status(), dataclasses.replace(out, planned_units=5))
    assert changed.app_status == testing.MaintenanceStatus("3 voting members, moving to 5")
    assert len(again.app_status_history) == 1
    again.run(again.on.update_status(), changed)
    assert len(again.app_status_history) == 1


def test_the_application_status_shows_a_scale_under_way(ctx, deployed):
    out = ctx.run(ctx.on.update_status(), dataclasses.replace(deployed, planned_units=5))

    assert out.app_status == testing.MaintenanceStatus("3 voting members, moving to 5")


def test_the_application_status_carries_what_blocks_the_leader(ctx, deployed):
    out = ctx.run(ctx.on.config_changed(), with_config(deployed, tick_time=99))

    assert out.app_status == testing.BlockedStatus(
        "invalid config: tick-time must be between 100 and 60000"
    )
