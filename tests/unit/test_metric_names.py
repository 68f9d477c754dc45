"""Every metric the alert rules and the dashboard read is in docs/metrics.md's mapping, and
the mapping follows the naming rules of ZooKeeper's two metrics providers."""

import json
import re
from pathlib import Path

from tests import alert_cases, metrics_mapping, promql

DASHBOARD = Path(__file__).resolve().parents[2] / "src" / "grafana_dashboards" / "zookeeper.json"


def rule_names() -> set[str]:
    return {
        name
        for rule in alert_cases.source_rules().values()
        for name in promql.metric_names(rule["expr"])
    }


def dashboard_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return {
        name
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        for name in promql.metric_names(target["expr"])
    }


def test_every_metric_read_is_in_the_mapping():
    mapped = metrics_mapping.prometheus_names()
    assert rule_names() - mapped == set()
    assert dashboard_names() - mapped == set()


def test_the_mapping_holds_only_metrics_that_are_read():
    assert metrics_mapping.prometheus_names() - rule_names() - dashboard_names() == set()


def monitor_names_for(prometheus: str, kind: str) -> set[str]:
    """What the default provider calls a Prometheus-provider name (docs/metrics.md's rules)."""
    if kind == "gauge set":
        return {f"<namespace>_{prometheus}"}  # each entry as <key>_<name>
    if not kind.startswith("summary"):
        return {prometheus}  # gauges and counters keep their names
    for suffix, prefix in (("_sum", "sum"), ("_count", "cnt")):
        if prometheus.endswith(suffix):
            base = prometheus.removesuffix(suffix)
            return {f"{prefix}_{base}", f"{prefix}_<sid>_{base}"}
    return {f"p{q}_{prometheus}" for q in ("50", "95", "99", "999")}  # its quantiles


def test_each_row_names_one_metric_under_both_providers():
    for row in metrics_mapping.rows():
        if row.reported_by == "not in monitor":
            assert row.monitor == (), row
            continue
        derived = set().union(*(monitor_names_for(n, row.kind) for n in row.prometheus))
        assert set(row.monitor) <= derived, row
        # And no Prometheus name of the row is left without its `monitor` key.
        for name in row.prometheus:
            assert set(row.monitor) & monitor_names_for(name, row.kind), (name, row)


def test_the_placeholder_for_a_learner_id_is_spelled_one_way():
    for row in metrics_mapping.rows():
        for key in row.monitor:
            assert re.fullmatch(
                r"[a-z0-9_]+|[a-z0-9]+_<sid>_[a-z0-9_]+|<namespace>_[a-z0-9_]+", key
            ), key
