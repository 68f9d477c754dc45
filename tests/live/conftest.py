import os
import shutil

import pytest

from tests.live import network
from tests.live.cluster import Cluster, stop_everything

# Before pytest or any test starts a thread: the sandbox's mount namespace needs one thread.
network.enter()


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.live)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    cluster = item.funcargs.get("cluster") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(cluster, Cluster):
        report.sections.append(
            (
                "juju stand-in",
                f"seed {cluster.seed}: replay with ZK_LIVE_SEED={cluster.seed}\n"
                + "hooks, last 80: "
                + " ".join(cluster.juju.log[-80:]),
            )
        )
    return report


@pytest.fixture
def cluster(tmp_path, request):
    if shutil.which("ip") is None:
        pytest.fail("iproute2 is missing: run `make deps`")
    # A test's own seed (parametrized), unless ZK_LIVE_SEED replays another one.
    seed = None if "ZK_LIVE_SEED" in os.environ else getattr(request, "param", None)
    c = Cluster(tmp_path, seed=seed)
    yield c
    c.stop()


@pytest.fixture(autouse=True)
def no_server_outlives_its_test():
    yield
    stop_everything()
    network.cleanup_units()
