"""COS on live units: the logging relation puts log targets into each pod's Pebble plan while
the servers keep serving, and takes them out of use when it goes.

Metrics are not served here: Debian's ZooKeeper has no Prometheus provider and no Debian
suite packages the Prometheus Java client it needs (cluster.LIVE_DIFFERENCES); zoo.cfg's
metrics settings are state-tested (tests/unit/test_cos.py).
"""

from cos import LOG_LAYER
from tests import log_targets
from tests.live.cluster import APP, MODEL, MODEL_UUID

LOKI = {
    0: "http://loki-0.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push",
    1: "http://loki-1.loki-endpoints.cos.svc.cluster.local:3100/loki/api/v1/push",
}


def targets(unit) -> dict:
    layer = unit.layers.get(LOG_LAYER)
    return {} if layer is None else layer.to_dict().get("log-targets", {})


def forwarded_to(unit) -> dict[str, str]:
    return log_targets.forwarded(targets(unit))


def test_logs_go_to_every_loki_unit_and_stop_when_the_relation_goes(cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    pids = {o: u.process.pid for o, u in cluster.units.items()}

    cluster.relate_logging(LOKI)
    for ordinal, unit in cluster.units.items():
        assert forwarded_to(unit) == {f"loki/{n}": url for n, url in LOKI.items()}
        for target in targets(unit).values():
            assert target["labels"] == {
                "product": "Juju",
                "charm": "zookeeper-k8s",
                "juju_model": MODEL,
                "juju_model_uuid": MODEL_UUID,
                "juju_application": APP,
                "juju_unit": f"{APP}/{ordinal}",
            }
    cluster.wait_serving()
    # Log targets restart nothing: the same server processes serve throughout.
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids

    cluster.unrelate_logging()
    for unit in cluster.units.values():
        assert set(targets(unit)) == {"loki/0", "loki/1"}  # Pebble cannot drop a target
        assert forwarded_to(unit) == {}
    cluster.wait_serving()
    assert {o: u.process.pid for o, u in cluster.units.items()} == pids
