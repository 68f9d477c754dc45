"""COS: what the charm says on its three observability relations, as COS reads it.

- `metrics-endpoint` (prometheus_scrape, provider): the scrape jobs, the alert rules and the
  Juju topology in app data; each unit's address and name in its unit data. Prometheus puts
  every unit's address in place of the `*` of a job's targets.
- `grafana-dashboard` (grafana_dashboard, provider): the dashboards in app data, each
  LZMA-compressed and base64-encoded, with the topology Grafana fills its dropdowns from.
- `logging` (loki_push_api, requirer): each Loki unit puts its push URL in its unit data;
  the workload's Pebble forwards the service logs there, one log target per Loki unit.

The Charmhub libraries are not vendored: this is the part of their protocols the charm
needs. `cosl` (alert rule labelling, dashboard encoding) is imported only where app data is
built, in the hooks that can change it (`needed`): its import costs more than a whole
update-status.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from pathlib import Path

from layout import METRICS_PORT
from records import Record, frozen

logger = logging.getLogger(__name__)

METRICS = "metrics-endpoint"
DASHBOARDS = "grafana-dashboard"
LOGGING = "logging"
METRICS_PATH = "/metrics"
# Beside this module in the packed charm (src/), and so in tests too.
ALERT_RULES_DIR = Path(__file__).parent / "prometheus_alert_rules"
DASHBOARDS_DIR = Path(__file__).parent / "grafana_dashboards"
# The layer that holds only log targets, beside the workload's own.
LOG_LAYER = "log-forwarding"

# Hooks (JUJU_DISPATCH_PATH's last part) that may change what the leader publishes: the
# relations' own, a new leader, a new charm (new rule or dashboard files).
_PUBLISH_HOOKS = ("leader-elected", "upgrade-charm")
# Hooks that may change where logs go or find the workload's Pebble without its log
# targets (a new container starts from the rock's plan).
_LOG_HOOKS = ("upgrade-charm", "zookeeper-pebble-ready")


def _hook(dispatch_path: str) -> str:
    return dispatch_path.rpartition("/")[2]


def publishing(dispatch_path: str) -> bool:
    """Whether this hook (re)writes the metrics and dashboard relations' data."""
    hook = _hook(dispatch_path)
    return hook in _PUBLISH_HOOKS or hook.startswith(
        (f"{METRICS}-relation-", f"{DASHBOARDS}-relation-")
    )


def forwarding(dispatch_path: str) -> bool:
    """Whether this hook looks at the logging relation and the workload's log targets."""
    hook = _hook(dispatch_path)
    return hook in _LOG_HOOKS or hook.startswith(f"{LOGGING}-relation-")


def needed(dispatch_path: str) -> bool:
    return publishing(dispatch_path) or forwarding(dispatch_path)


@frozen
class Hook(Record):
    """What this hook does on the COS relations (None on the charm's other hooks)."""

    publish: bool
    forward: bool
    charm_name: str

    @classmethod
    def of(cls, dispatch_path: str, charm_name: str) -> Hook | None:
        if not needed(dispatch_path):
            return None
        return cls(publishing(dispatch_path), forwarding(dispatch_path), charm_name)


@frozen
class Inputs(Record):
    """The COS duty's snapshot: who this unit is, where it is scraped, where Loki is."""

    hook: Hook
    leader: bool
    topology: Topology
    address: str
    # Each Loki unit's push URL (read only in the hooks that forward logs).
    loki: Mapping[str, str]


@frozen
class Topology(Record):
    """Who this unit is to COS: the labels every metric, rule, dashboard and log line gets."""

    model: str
    model_uuid: str
    application: str
    unit: str
    charm_name: str

    def scrape_metadata(self) -> dict[str, str]:
        return {
            "model": self.model,
            "model_uuid": self.model_uuid,
            "application": self.application,
            "unit": self.unit,
            "charm_name": self.charm_name,
        }

    def log_labels(self) -> dict[str, str]:
        return {
            "product": "Juju",
            "charm": self.charm_name,
            "juju_model": self.model,
            "juju_model_uuid": self.model_uuid,
            "juju_application": self.application,
            "juju_unit": self.unit,
        }

    def cosl(self):
        from cosl import JujuTopology

        return JujuTopology(
            model=self.model,
            model_uuid=self.model_uuid,
            application=self.application,
            unit=self.unit,
            charm_name=self.charm_name,
        )


# -- metrics-endpoint ---------------------------------------------------------------------


def scrape_jobs() -> list[dict]:
    # `*`: Prometheus scrapes each unit at the address in its unit data.
    return [
        {
            "metrics_path": METRICS_PATH,
            "static_configs": [{"targets": [f"*:{METRICS_PORT}"]}],
        }
    ]


def alert_rules(topology: Topology, directory: Path = ALERT_RULES_DIR) -> dict:
    """Every *.rules file under `directory`, grouped per file, each rule labelled with the
    topology (cosl's AlertRules: the same grouping and labels Prometheus' library gives)."""
    from cosl import AlertRules

    rules = AlertRules(query_type="promql", topology=topology.cosl())
    rules.add_path(directory, recursive=True)
    return rules.as_dict()


def scrape_app_data(topology: Topology, rules_dir: Path = ALERT_RULES_DIR) -> dict[str, str]:
    return {
        "scrape_jobs": json.dumps(scrape_jobs()),
        "scrape_metadata": json.dumps(topology.scrape_metadata()),
        "alert_rules": json.dumps(alert_rules(topology, rules_dir)),
    }


def scrape_unit_data(address: str, unit: str) -> dict[str, str]:
    return {"prometheus_scrape_unit_address": address, "prometheus_scrape_unit_name": unit}


# -- grafana-dashboard --------------------------------------------------------------------


def dashboards_app_data(
    topology: Topology, directory: Path = DASHBOARDS_DIR, charm_root: Path | None = None
) -> dict[str, str]:
    """Every *.json under `directory` as a template Grafana reads.

    The "uuid" tells Grafana that the templates changed; it is their own digest, so the
    same templates publish the same data and a hook that changes nothing writes nothing.
    """
    from cosl import DashboardPath40UID, LZMABase64

    root = charm_root or directory.parent.parent
    templates = {}
    for path in sorted(directory.glob("**/*.json")):
        relative = path.relative_to(root).as_posix()
        templates[f"file:{path.stem}"] = {
            "charm": topology.charm_name,
            "content": LZMABase64.compress(path.read_text()),
            "juju_topology": {
                "model": topology.model,
                "model_uuid": topology.model_uuid,
                "application": topology.application,
                "unit": topology.unit,
            },
            "inject_dropdowns": True,
            "dashboard_alt_uid": DashboardPath40UID.generate(topology.charm_name, relative),
        }
    digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode()).hexdigest()
    return {"dashboards": json.dumps({"templates": templates, "uuid": digest[:32]})}


# -- logging ------------------------------------------------------------------------------


def loki_endpoints(units: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """The push URL of each Loki unit, from its unit data; a unit that has not said yet
    (or said something unreadable) is left out until it does."""
    endpoints = {}
    for unit, data in units.items():
        try:
            url = json.loads(data["endpoint"])["url"]
        except (KeyError, TypeError, ValueError):
            continue
        if isinstance(url, str) and url:
            endpoints[unit] = url
    return endpoints


def log_targets(
    endpoints: Mapping[str, str], current: Mapping[str, Mapping], topology: Topology
) -> dict[str, dict]:
    """The log-targets section to add so that Pebble forwards to `endpoints` only.

    Pebble cannot drop a target from its plan: one the charm no longer wants keeps its
    place with no services (`-all`), as Pebble's docs say to disable it. Empty when the
    plan already is what is wanted.
    """
    wanted = {
        unit: {
            "override": "replace",
            "type": "loki",
            "location": url,
            "services": ["all"],
            "labels": topology.log_labels(),
        }
        for unit, url in endpoints.items()
    }
    changes = {
        name: target for name, target in wanted.items() if not _same(current.get(name), target)
    }
    for name, target in current.items():
        if name not in wanted and _forwards(target):
            changes[name] = {
                "override": "replace",
                "type": target.get("type", "loki"),
                "location": target.get("location", ""),
                "services": ["-all"],
            }
    return changes


def _forwards(target: Mapping) -> bool:
    """Whether Pebble sends this target anything: `services` read left to right."""
    on = set()
    for service in target.get("services", []):
        if service == "-all":
            on.clear()
        elif service.startswith("-"):
            on.discard(service[1:])
        else:
            on.add(service)
    return bool(on)


def _same(current: Mapping | None, wanted: Mapping) -> bool:
    if current is None:
        return False
    return all(current.get(key) == value for key, value in wanted.items() if key != "override")
