import pytest
from ops import testing

from charm import ZooKeeperCharm
from state import INTERNAL_SECRET_LABEL, InternalSecret


@pytest.fixture
def storage(tmp_path):
    return tmp_path


@pytest.fixture
def ctx():
    return testing.Context(ZooKeeperCharm, unit_id=0)


def container(storage, *, can_connect=True, running=False):
    return testing.Container(
        "zookeeper",
        can_connect=can_connect,
        mounts={"data": testing.Mount(location="/var/lib/zookeeper", source=storage)},
        service_statuses={"zookeeper": testing.pebble.ServiceStatus.ACTIVE} if running else {},
    )


def internal_secret():
    return testing.Secret(
        InternalSecret(super_password="superpw", sync_password="syncpw").content(),
        owner="app",
        label=INTERNAL_SECRET_LABEL,
    )
