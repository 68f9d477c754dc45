"""The Grafana dashboard the charm ships, in the shape COS's grafana_dashboard protocol
expects, with every query valid PromQL (promtool) and filtered by the Juju topology."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from tools import promtool

from tests import promql

DASHBOARD = Path(__file__).resolve().parents[2] / "src" / "grafana_dashboards" / "zookeeper.json"
DATASOURCE = "${prometheusds}"
TOPOLOGY = ("juju_model", "juju_model_uuid", "juju_application", "juju_unit")
FILTER = ",".join(f'{label}=~"${label}"' for label in TOPOLOGY)


@pytest.fixture(scope="module")
def dashboard():
    return json.loads(DASHBOARD.read_text())


def graphs(dashboard):
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def exprs(dashboard):
    return [(p["title"], t["expr"]) for p in graphs(dashboard) for t in p["targets"]]


def test_template_variables_are_the_datasource_and_the_juju_topology(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert list(variables) == ["prometheusds", *TOPOLOGY]
    assert variables["prometheusds"]["type"] == "datasource"
    assert variables["prometheusds"]["query"] == "prometheus"
    for label in TOPOLOGY:
        variable = variables[label]
        assert variable["type"] == "query"
        assert variable["datasource"] == DATASOURCE
        assert variable["includeAll"] and variable["allValue"] == ".*"
        # Each narrows the next: a unit list shows the chosen application's units only.
        earlier = TOPOLOGY[: TOPOLOGY.index(label)]
        where = ",".join(f'{e}=~"${e}"' for e in earlier)
        query = f"label_values(up{{{where}}},{label})" if where else f"label_values(up,{label})"
        assert variable["query"]["query"] == query == variable["definition"]


def test_every_panel_reads_the_prometheus_datasource(dashboard):
    assert graphs(dashboard)
    for panel in graphs(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(set(ids)) == len(ids)
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dashboard["panels"])


def test_every_selector_is_filtered_by_the_chosen_topology(dashboard):
    unfiltered = [
        (title, s.metric)
        for title, expr in exprs(dashboard)
        for s in promql.selectors(expr)
        if not s.matchers.startswith(FILTER)
    ]
    assert unfiltered == []


def test_the_panels_cover_what_an_operator_watches(dashboard):
    titles = " | ".join(p["title"].lower() for p in dashboard["panels"])
    for topic in (
        "quorum",
        "role",
        "voters vs planned",
        "request rate",
        "latency",
        "outstanding requests",
        "connections",
        "znodes",
        "watches",
        "ephemeral",
        "pending syncs",
        "fsync",
        "queue per follower",
        "heap",
        "garbage collection",
        "threads",
    ):
        assert topic in titles
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Ensemble", "Requests", "Data", "Sync and disk", "JVM", "Clients"]


def grafana_to_promql(expr: str) -> str:
    """What Grafana sends Prometheus, for one choice of the variables."""
    expr = re.sub(r"\$__(rate_)?interval", "5m", expr)
    return re.sub(r"\$(juju_[a-z_]+)", ".*", expr)


def test_promtool_parses_every_query(dashboard, tmp_path):
    # promtool has no expression linter of its own here: each query becomes a recording
    # rule, which `check rules` parses.
    records = [
        {"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)}
        for i, (_, expr) in enumerate(exprs(dashboard))
    ]
    path = tmp_path / "queries.rules"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": records}]}))
    result = subprocess.run(
        [str(promtool.ensure()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(records)} rules found" in result.stdout
