"""The alert rules the charm ships: valid for Prometheus, filtered to their application,
and each one firing exactly when its cases say (promtool, from Debian's prometheus)."""

import subprocess

import pytest
import yaml
from tools import promtool

from tests import alert_cases, promql

RULES = alert_cases.source_rules()
CASES = alert_cases.cases()


@pytest.fixture(scope="module")
def promtool_bin():
    # Fetched by `make promtool` before the unit tests; fetching here keeps a bare pytest
    # run honest instead of skipping.
    return str(promtool.ensure())


@pytest.fixture(scope="module")
def loaded():
    return alert_cases.as_cos_loads_them()


def run(promtool_bin, *args, cwd=None):
    return subprocess.run(
        [promtool_bin, *args], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_rules_as_cos_loads_them(promtool_bin, loaded, tmp_path):
    path = tmp_path / "zookeeper.rules"
    path.write_text(yaml.safe_dump(loaded))
    result = run(promtool_bin, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in result.stdout


def test_every_group_and_rule_reaches_cos_with_the_application_topology(loaded):
    names = [rule["alert"] for group in loaded["groups"] for rule in group["rules"]]
    assert sorted(names) == sorted(RULES)
    for group in loaded["groups"]:
        assert group["name"].startswith("cos_test_f2b6a1c4_zookeeper_k8s_")
        for rule in group["rules"]:
            assert alert_cases.APP_LABELS.items() <= rule["labels"].items()


def test_every_selector_carries_the_topology_placeholder():
    # cos-tool injects the topology into each selector; the placeholder marks each one, so
    # a rule is filtered to its application with or without cos-tool.
    unfiltered = {
        name: [
            s.metric
            for s in promql.selectors(rule["expr"])
            if s.matchers.split(",")[0] != alert_cases.PLACEHOLDER
        ]
        for name, rule in RULES.items()
    }
    assert {name: found for name, found in unfiltered.items() if found} == {}


def test_every_rule_tells_the_operator_what_happened_and_what_to_do():
    for name, rule in RULES.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        annotations = rule["annotations"]
        assert set(annotations) == {"summary", "description"}, name
        assert len(annotations["description"]) > len(annotations["summary"]), name


def test_every_rule_has_a_case_that_fires_it_and_one_that_must_not():
    assert set(CASES) == set(RULES)
    for name, path in CASES.items():
        fires, quiet = alert_cases.asserted(yaml.safe_load(path.read_text()))
        assert (fires, quiet) == ({name}, {name}), path.name


@pytest.mark.parametrize("name", sorted(CASES))
def test_promtool_runs_the_case(promtool_bin, loaded, tmp_path, name):
    case = yaml.safe_load(CASES[name].read_text())
    labels = alert_cases.rule_labels(loaded)
    # Annotations are compared only in the tests that spell them out: those run against the
    # rules as loaded, the others against the same rules without annotations.
    (tmp_path / "full.yaml").write_text(yaml.safe_dump(loaded))
    (tmp_path / "bare.yaml").write_text(yaml.safe_dump(alert_cases.without_annotations(loaded)))
    split = {"full.yaml": [], "bare.yaml": []}
    for test in case["tests"]:
        split["full.yaml" if "exp_annotations" in yaml.safe_dump(test) else "bare.yaml"].append(
            test
        )
    for rule_file, tests in split.items():
        if not tests:
            continue
        expanded = alert_cases.expand_case({**case, "tests": tests}, labels, rule_file)
        (tmp_path / f"case-{rule_file}").write_text(yaml.safe_dump(expanded))
        result = run(promtool_bin, "test", "rules", f"case-{rule_file}", cwd=tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
