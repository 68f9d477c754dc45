"""The charm's alert rules as COS would load them, and their promtool test cases.

The rules go through cosl.Rules with a Juju topology, as the prometheus_scrape library
forwards them (group names, topology labels on each rule). cos-tool, which would then
inject the topology matchers into every selector, is not installed here, so each
expression is taken from the source file with `%%juju_topology%%` replaced by the same
matchers cos-tool would add; tests/unit/test_alert_rules.py checks that every selector
carries the placeholder, so both give the same expression.

A case file (tests/unit/alert_rules/<AlertName>.yaml) is a promtool test file without
`rule_files`, written with shorthands: `%%unitN%%` in a series stands for the labels of
unit N of the application (`%%stranger%%`: a unit of another application in the same
model, whose series must never fire our rules), and in `exp_labels`, `unit: N` (or
`unit: stranger`) stands for those labels and `app: true` for the application's
topology alone. Each rule's own labels are added to every expected alert. Annotations
are compared only in cases that give `exp_annotations`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import yaml
from cosl import JujuTopology
from cosl.rules import Rules

REPO = Path(__file__).resolve().parents[1]
RULES_DIR = REPO / "src" / "prometheus_alert_rules"
CASES_DIR = REPO / "tests" / "unit" / "alert_rules"
PLACEHOLDER = "%%juju_topology%%"

MODEL, MODEL_UUID, APP = "cos-test", "f2b6a1c4-0d3e-4b5a-9c7d-1e2f3a4b5c6d", "zookeeper-k8s"
TOPOLOGY = JujuTopology(
    model=MODEL, model_uuid=MODEL_UUID, application=APP, unit=f"{APP}/0", charm_name=APP
)
APP_LABELS = {"juju_model": MODEL, "juju_model_uuid": MODEL_UUID, "juju_application": APP}


def unit_labels(which) -> dict[str, str]:
    app = "other-zookeeper" if which == "stranger" else APP
    number = 0 if which == "stranger" else int(which)
    return {
        **APP_LABELS,
        "juju_application": app,
        "juju_charm": "zookeeper-k8s",
        "juju_unit": f"{app}/{number}",
        "instance": f"{app}-{number}.{app}-endpoints:7000",
        "job": f"juju_{MODEL}_{MODEL_UUID[:8]}_{app}_prometheus_scrape",
    }


def matchers(labels: dict[str, str]) -> str:
    return ",".join(f'{key}="{value}"' for key, value in labels.items())


def source_rules() -> dict[str, dict]:
    """Each alert rule as written in the charm, by name."""
    found = {}
    for path in sorted(RULES_DIR.glob("*.rules")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule["alert"]] = rule
    return found


def as_cos_loads_them() -> dict:
    rules = Rules(query_type="promql", topology=TOPOLOGY)
    rules.add_path(RULES_DIR)
    loaded = copy.deepcopy(rules.as_dict())
    written = source_rules()
    for group in loaded["groups"]:
        for rule in group["rules"]:
            source = written[rule["alert"]]["expr"]
            rule["expr"] = source.replace(PLACEHOLDER, matchers(APP_LABELS))
    return loaded


def without_annotations(rules: dict) -> dict:
    bare = copy.deepcopy(rules)
    for group in bare["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    return bare


def rule_labels(rules: dict) -> dict[str, dict[str, str]]:
    return {r["alert"]: r.get("labels", {}) for g in rules["groups"] for r in g["rules"]}


def expand_case(case: dict, labels_of_rule: dict[str, dict[str, str]], rule_file: str) -> dict:
    expanded = copy.deepcopy(case)
    expanded["rule_files"] = [rule_file]
    expanded.setdefault("evaluation_interval", "1m")
    for test in expanded["tests"]:
        for series in test.get("input_series", []):
            series["series"] = _series(series["series"])
            if re.search(r"(^|\s)0x", str(series["values"])):
                # promtool reads "0x10" as hexadecimal 16, not "0 ten times more".
                raise ValueError(f"write 0+0xN for repeated zeros: {series['values']}")
        for check in test.get("alert_rule_test", []):
            for alert in check.get("exp_alerts", []) or []:
                alert["exp_labels"] = {
                    **_labels(alert.get("exp_labels", {})),
                    **labels_of_rule[check["alertname"]],
                }
    return expanded


def _series(text: str) -> str:
    for which in ("stranger", *map(str, range(5))):
        token = "%%stranger%%" if which == "stranger" else f"%%unit{which}%%"
        text = text.replace(token, matchers(unit_labels(which)))
    return text


def _labels(short: dict) -> dict[str, str]:
    labels = {}
    if "unit" in short:
        labels |= unit_labels(short["unit"])
    if short.get("app"):
        labels |= APP_LABELS
    return labels | {k: str(v) for k, v in short.items() if k not in ("unit", "app")}


def cases() -> dict[str, Path]:
    return {path.stem: path for path in sorted(CASES_DIR.glob("*.yaml"))}


def asserted(case: dict) -> tuple[set[str], set[str]]:
    """The alerts a case expects to fire, and those it checks stay quiet."""
    fires, quiet = set(), set()
    for test in case["tests"]:
        for check in test.get("alert_rule_test", []):
            (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    return fires, quiet
