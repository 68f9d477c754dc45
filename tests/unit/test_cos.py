"""State tests of the COS relations: what Prometheus, Grafana and Loki read from the charm,
decoded as they decode it, and the workload's Pebble log targets.

The alert rules and dashboards are whatever src/prometheus_alert_rules and
src/grafana_dashboards hold: the tests read those folders and compare.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import lzma
import os
import pathlib
import subprocess
import sys

import pytest
import yaml
from ops import testing

import render
from tests import log_targets
from tests.unit.test_charm import APP, MODEL, context, make_state, plan, pod, workload

SRC = pathlib.Path(__file__).parents[2] / "src"
RULES_DIR = SRC / "prometheus_alert_rules"
DASHBOARDS_DIR = SRC / "grafana_dashboards"
UUID = "6a2f3c1e-8d4b-4f6a-9e21-0c5b7d9a1f34"
TOPOLOGY_LABELS = {
    "juju_model": MODEL,
    "juju_model_uuid": UUID,
    "juju_application": APP,
    "juju_charm": "zookeeper-k8s",
}
LOKI_0 = "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"
LOKI_1 = "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push"


def state(disk, *relations, leader=True, unit=0, **kw) -> testing.State:
    base = make_state(disk, leader=leader, **kw)
    return dataclasses.replace(
        base,
        model=testing.Model(name=MODEL, uuid=UUID),
        relations={*base.relations, *relations},
    )


def metrics(**kw) -> testing.Relation:
    return testing.Relation("metrics-endpoint", remote_app_name="prometheus", **kw)


def dashboards(**kw) -> testing.Relation:
    return testing.Relation("grafana-dashboard", remote_app_name="grafana", **kw)


def loki(*urls: str, **kw) -> testing.Relation:
    units = {n: {"endpoint": json.dumps({"url": url})} for n, url in enumerate(urls)}
    return testing.Relation("logging", remote_app_name="loki", remote_units_data=units, **kw)


def rules_in_files() -> set[str]:
    names = set()
    for path in RULES_DIR.glob("**/*.rules"):
        content = yaml.safe_load(path.read_text())
        if "groups" in content:
            names |= {r["alert"] for g in content["groups"] for r in g["rules"]}
        else:
            names.add(content["alert"])
    return names


# -- metrics-endpoint -------------------------------------------------------------------------


def test_the_leader_publishes_one_scrape_job_for_every_units_metrics_port(disk):
    ctx = context()
    relation = metrics()
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation))
    app_data = out.get_relation(relation.id).local_app_data
    # Prometheus replaces `*` with each unit's prometheus_scrape_unit_address.
    assert json.loads(app_data["scrape_jobs"]) == [
        {"metrics_path": "/metrics", "static_configs": [{"targets": ["*:7000"]}]}
    ]
    assert json.loads(app_data["scrape_metadata"]) == {
        "model": MODEL,
        "model_uuid": UUID,
        "application": APP,
        "unit": f"{APP}/0",
        "charm_name": "zookeeper-k8s",
    }


def test_every_unit_says_where_prometheus_scrapes_it(disk):
    ctx = context(unit_id=1)
    relation = metrics()
    out = ctx.run(
        ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation, leader=False)
    )
    assert out.get_relation(relation.id).local_unit_data == {
        **relation.local_unit_data,  # what Juju put there itself (ingress-address, ...)
        "prometheus_scrape_unit_address": pod(1),
        "prometheus_scrape_unit_name": f"{APP}/1",
    }


def test_a_non_leader_writes_no_application_data(disk):
    ctx = context(unit_id=1)
    scrape, boards = metrics(), dashboards()
    start = state(disk, scrape, boards, leader=False)
    out = ctx.run(ctx.on.relation_joined(scrape, remote_unit=0), start)
    out = ctx.run(ctx.on.relation_created(out.get_relation(boards.id)), out)
    out = ctx.run(ctx.on.leader_elected(), dataclasses.replace(out, leader=False))
    assert out.get_relation(scrape.id).local_app_data == {}
    assert out.get_relation(boards.id).local_app_data == {}


def test_the_alert_rules_are_every_rule_in_the_rules_folder_labelled_with_the_topology(disk):
    ctx = context()
    relation = metrics()
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation))
    groups = json.loads(out.get_relation(relation.id).local_app_data["alert_rules"])["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} == rules_in_files()
    assert rules_in_files(), "the rules folder has no rule to publish"
    for rule in rules:
        assert rule["labels"].items() >= TOPOLOGY_LABELS.items()
    # Group names carry the topology, so that two ZooKeeper apps' rules stay apart.
    for group in groups:
        assert group["name"].startswith(f"{MODEL}_{UUID[:8]}_{APP.replace('-', '_')}_")


def test_the_scrape_data_is_there_before_the_ensemble_is(disk):
    """Prometheus related before the peer relation or the credentials exist: its hook is
    the only one that comes, so the data must not wait for ZooKeeper's own state."""
    ctx = context()
    relation = metrics()
    start = dataclasses.replace(state(disk, relation), relations={relation})
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), start)
    data = out.get_relation(relation.id)
    assert "scrape_jobs" in data.local_app_data
    assert data.local_unit_data["prometheus_scrape_unit_address"] == pod(0)


def test_a_hook_that_changes_nothing_writes_nothing(disk):
    ctx = context()
    scrape, boards = metrics(), dashboards()
    out = ctx.run(ctx.on.relation_joined(scrape, remote_unit=0), state(disk, scrape, boards))
    out = ctx.run(ctx.on.relation_created(out.get_relation(boards.id)), out)
    again = ctx.run(ctx.on.leader_elected(), out)
    for rid in (scrape.id, boards.id):
        assert again.get_relation(rid).local_app_data == out.get_relation(rid).local_app_data


# -- zoo.cfg ----------------------------------------------------------------------------------


def test_the_server_serves_prometheus_metrics_on_the_pods_address(disk):
    ctx = context()
    out = ctx.run(ctx.on.leader_elected(), state(disk))
    ctx.run(ctx.on.config_changed(), out)
    cfg = render.parse_properties((disk / "conf/zoo.cfg").read_text())
    assert {k: v for k, v in cfg.items() if k.startswith("metricsProvider.")} == {
        "metricsProvider.className": (
            "org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider"
        ),
        "metricsProvider.httpHost": "0.0.0.0",
        "metricsProvider.httpPort": "7000",
        "metricsProvider.exportJvmInfo": "true",
    }


# -- grafana-dashboard ------------------------------------------------------------------------


def test_the_leader_publishes_every_dashboard_in_the_folder_as_grafana_reads_it(disk):
    ctx = context()
    relation = dashboards()
    out = ctx.run(ctx.on.relation_created(relation), state(disk, relation))
    published = json.loads(out.get_relation(relation.id).local_app_data["dashboards"])
    files = {f"file:{p.stem}": p for p in DASHBOARDS_DIR.glob("**/*.json")}
    assert files, "the dashboards folder has no dashboard to publish"
    templates = published["templates"]
    assert templates.keys() == files.keys()
    for key, template in templates.items():
        # Grafana's side: base64, then LZMA, then JSON.
        content = lzma.decompress(base64.b64decode(template["content"])).decode()
        assert json.loads(content) == json.loads(files[key].read_text())
        assert template["charm"] == "zookeeper-k8s"
        assert template["juju_topology"] == {
            "model": MODEL,
            "model_uuid": UUID,
            "application": APP,
            "unit": f"{APP}/0",
        }
        assert template["inject_dropdowns"] is True
        assert len(template["dashboard_alt_uid"]) == 40
    assert published["uuid"]


# -- logging ----------------------------------------------------------------------------------


def targets(out: testing.State) -> dict:
    return plan(out).get("log-targets", {})


def forwarded_to(out: testing.State) -> dict[str, str]:
    return log_targets.forwarded(targets(out))


def test_logs_go_to_every_loki_unit_with_the_juju_topology(disk):
    ctx = context()
    relation = loki(LOKI_0, LOKI_1)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=1), state(disk, relation))
    assert forwarded_to(out) == {"loki/0": LOKI_0, "loki/1": LOKI_1}
    for target in targets(out).values():
        assert target["type"] == "loki"
        assert target["services"] == ["all"]
        assert target["labels"] == {
            "product": "Juju",
            "charm": "zookeeper-k8s",
            "juju_model": MODEL,
            "juju_model_uuid": UUID,
            "juju_application": APP,
            "juju_unit": f"{APP}/0",
        }


def test_a_new_loki_address_moves_the_target(disk):
    ctx = context()
    relation = loki(LOKI_0)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation))
    moved = dataclasses.replace(
        relation, remote_units_data={0: {"endpoint": json.dumps({"url": LOKI_1})}}
    )
    out = ctx.run(
        ctx.on.relation_changed(moved, remote_unit=0),
        dataclasses.replace(
            out, relations={*(r for r in out.relations if r.id != moved.id), moved}
        ),
    )
    assert forwarded_to(out) == {"loki/0": LOKI_1}


def test_the_same_endpoints_again_leave_pebble_alone(disk):
    ctx = context()
    relation = loki(LOKI_0)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation))
    assert [line for line in ctx.juju_log if line.message.startswith("log forwarding")]
    ctx = context()
    again = ctx.run(ctx.on.relation_changed(out.get_relation(relation.id), remote_unit=0), out)
    assert not [line for line in ctx.juju_log if line.message.startswith("log forwarding")]
    assert targets(again) == targets(out)


def test_a_departed_loki_unit_gets_no_more_logs(disk):
    ctx = context()
    relation = loki(LOKI_0, LOKI_1)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=1), state(disk, relation))
    # In relation-departed Juju no longer lists the unit that leaves.
    left = dataclasses.replace(relation, remote_units_data={0: relation.remote_units_data[0]})
    out = ctx.run(
        ctx.on.relation_departed(left, remote_unit=1, departing_unit=1),
        dataclasses.replace(out, relations={*(r for r in out.relations if r.id != left.id), left}),
    )
    assert forwarded_to(out) == {"loki/0": LOKI_0}


def test_a_broken_logging_relation_stops_all_forwarding(disk):
    ctx = context()
    relation = loki(LOKI_0, LOKI_1)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=1), state(disk, relation))
    out = ctx.run(ctx.on.relation_broken(out.get_relation(relation.id)), out)
    assert targets(out), "Pebble keeps the targets it had; they must be there, disabled"
    assert forwarded_to(out) == {}


def test_a_new_container_gets_its_log_targets_again(disk):
    """The workload container restarted: its Pebble starts from an empty plan."""
    ctx = context()
    relation = loki(LOKI_0)
    out = ctx.run(ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation))
    fresh = dataclasses.replace(
        workload(out), layers={}, check_infos=frozenset(), service_statuses={}
    )
    out = ctx.run(ctx.on.pebble_ready(fresh), dataclasses.replace(out, containers={fresh}))
    assert forwarded_to(out) == {"loki/0": LOKI_0}


def test_a_loki_unit_that_has_not_said_where_yet_is_left_out(disk):
    ctx = context()
    relation = testing.Relation(
        "logging",
        remote_app_name="loki",
        remote_units_data={
            0: {},
            1: {"endpoint": "not json"},
            2: {"endpoint": '{"url": "' + LOKI_0 + '"}'},
        },
    )
    out = ctx.run(ctx.on.relation_changed(relation, remote_unit=0), state(disk, relation))
    assert forwarded_to(out) == {"loki/2": LOKI_0}


def test_without_the_container_the_logging_hook_changes_nothing_and_fails_not(disk):
    ctx = context()
    relation = loki(LOKI_0)
    out = ctx.run(
        ctx.on.relation_joined(relation, remote_unit=0), state(disk, relation, can_connect=False)
    )
    assert targets(out) == {}


# -- what other hooks pay -----------------------------------------------------------------------


ISOLATED_HOOK = """
import sys
from ops import testing
from charm import ZooKeeperCharm

scrape = testing.Relation("metrics-endpoint", remote_app_name="prometheus")
boards = testing.Relation("grafana-dashboard", remote_app_name="grafana")
state = testing.State(
    leader=True,
    relations={scrape, boards, testing.PeerRelation("cluster")},
    containers={testing.Container("zookeeper", can_connect=False)},
)
ctx = testing.Context(ZooKeeperCharm, app_name="zookeeper-k8s", unit_id=0)
event = {
    "update-status": ctx.on.update_status(),
    "metrics-endpoint-relation-joined": ctx.on.relation_joined(scrape, remote_unit=0),
}[sys.argv[1]]
ctx.run(event, state)
print("cosl" in sys.modules)
"""


@pytest.mark.parametrize(
    "hook, imported",
    [("update-status", False), ("metrics-endpoint-relation-joined", True)],
)
def test_only_the_hooks_that_build_cos_app_data_import_cosl(hook, imported):
    """cosl (and what it pulls in) costs more than a whole update-status: a fresh process,
    as Juju runs each hook, with the COS relations in place."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}:{SRC.parent / 'lib'}"}
    run = subprocess.run(
        [sys.executable, "-c", ISOLATED_HOOK, hook],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip().splitlines()[-1] == str(imported)
