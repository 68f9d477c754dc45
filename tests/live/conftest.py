import shutil

import pytest

from tests.live.cluster import Cluster, stop_everything


def pytest_collection_modifyitems(items):
    for item in items:
        item.add_marker(pytest.mark.live)


@pytest.fixture
def cluster(tmp_path):
    if shutil.which("java") is None:
        pytest.fail("java is missing: run `make deps`")
    c = Cluster(tmp_path)
    yield c
    c.stop()


@pytest.fixture(autouse=True)
def no_server_outlives_its_test():
    yield
    stop_everything()
