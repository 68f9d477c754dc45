import contextlib
import os
import pathlib

import pytest
from ops import testing

import admin
from charm import ZooKeeperCharm
from layout import ADMIN_PORT, K8S
from state import INTERNAL_SECRET_LABEL, InternalSecret
from tests.kubeapi import KubeAPI

# Any mtime the charm's own writes cannot produce: files aged to this and still carrying it
# afterwards were not rewritten (no sleeps needed to tell writes apart).
LONG_AGO_NS = 1_000_000_000 * 10**9


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


class AdminServer:
    """Stands in for a member's admin server: there is no ZooKeeper in unit tests.

    Only `admin.probe`, the thin HTTP shell, is replaced; set `health` to what the server
    should answer. `asked` records the hosts the charm asked.
    """

    def __init__(self):
        self.health = admin.Health(serving=True, mode="leader", voters=3)
        self.asked: list[str] = []

    def probe(self, host, port=ADMIN_PORT, timeout=3.0):
        self.asked.append(host)
        return self.health


@pytest.fixture(autouse=True)
def admin_server(monkeypatch):
    server = AdminServer()
    monkeypatch.setattr(admin, "probe", server.probe)
    # ZooKeeper's view of the quorum (four-letter words over the client port): in sync.
    monkeypatch.setattr(admin, "quorum_synced", lambda hosts, voters: server.health.serving)
    # Each member's own `srvr`: every pod serves while this server does.
    monkeypatch.setattr(
        admin,
        "server_stats",
        lambda host, port=2181: {"mode": "follower"} if server.health.serving else {},
    )
    return server


class DataVolume:
    """The data volume's filesystem as the kernel reports it to the charm container:
    `free` of `total` bytes (roomy unless a test fills it). Only os.statvfs of the
    volume's mount point is answered; every other path goes to the real call."""

    FRAGMENT = 4096

    def __init__(self, free: int = 8 * 2**30, total: int = 10 * 2**30):
        self.free, self.total = free, total

    def result(self) -> os.statvfs_result:
        blocks, available = self.total // self.FRAGMENT, self.free // self.FRAGMENT
        size = self.FRAGMENT
        return os.statvfs_result((size, size, blocks, available, available, 10, 9, 9, 0, 255))


@pytest.fixture(autouse=True)
def data_volume(monkeypatch):
    volume = DataVolume()
    real = os.statvfs

    def statvfs(path):
        return volume.result() if str(path) == K8S.charm_volume else real(path)

    monkeypatch.setattr(os, "statvfs", statvfs)
    return volume


@pytest.fixture(autouse=True)
def no_zookeeper_sessions(monkeypatch):
    """A tripwire, not a fake: a unit test that makes the charm open a kazoo session (or log
    in as a client, admin.refusing) would otherwise wait out a connection timeout against
    whatever listens on 2181. The one thing every leader does on its first serving hook,
    closing the root znode, is recorded instead (ROOT_CLOSED) and nothing else is allowed."""
    closed: list[list] = []

    class RootOnly:
        def set_acls(self, path, acls):
            assert path == "/", f"unit tests have no ZooKeeper: the charm set ACLs on {path}"
            closed.append(list(acls))

        def __getattr__(self, name):
            raise AssertionError(f"unit tests have no ZooKeeper: the charm tried Admin.{name}")

    @contextlib.contextmanager
    def session(*args, **kwargs):
        yield RootOnly()

    monkeypatch.setattr(admin, "session", session)

    def refusing(*args, **kwargs):
        raise AssertionError("unit tests have no ZooKeeper: the charm tried admin.refusing()")

    # It logs in as each new client on every server, retrying for seconds.
    monkeypatch.setattr(admin, "refusing", refusing)
    return closed


class Disk:
    """The unit's storage as the test sees it: the tmp dir behind the container's mount."""

    def __init__(self, root: pathlib.Path):
        self.root = root

    def __truediv__(self, path) -> pathlib.Path:
        """A path inside the container (absolute, or relative to the mount) on this disk."""
        path = pathlib.PurePosixPath(path)
        return self.root / (path.relative_to(K8S.storage) if path.is_absolute() else path)

    def files(self) -> dict[str, tuple[bytes, int, int]]:
        """Every file under the mount: content, mtime and mode, to compare before and after."""
        return {
            str(p.relative_to(self.root)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }

    def age(self) -> None:
        """Backdate every file so that any later write shows in its mtime."""
        for p in self.root.rglob("*"):
            os.utime(p, ns=(LONG_AGO_NS, LONG_AGO_NS))

    def zookeeper_takes_over(self, version: int = 0x100000000) -> str:
        """Do what a started server does: write zoo.cfg.dynamic.<hex> and rewrite zoo.cfg.

        Returns the new dynamic file's path inside the container.
        """
        zoo_cfg = self / K8S.zoo_cfg
        text = zoo_cfg.read_text()
        current = next(
            line.partition("=")[2].strip()
            for line in text.splitlines()
            if line.startswith("dynamicConfigFile=")
        )
        versioned = f"{K8S.zoo_cfg}.dynamic.{version:x}"
        members = (self / current).read_text()
        (self / versioned).write_text(f"{members}version={version:x}\n")
        zoo_cfg.write_text(zookeeper_rewrite(text, versioned))
        return versioned


@pytest.fixture
def zookeeper(monkeypatch, admin_server):
    """test_provider's stand-in ZooKeeper, installed (replacing the tripwire); it serves
    version 3.9.4."""
    from tests.unit.test_provider import VERSION, FakeZooKeeper

    admin_server.health = admin.Health(serving=True, mode="leader", voters=3, version=VERSION)
    fake = FakeZooKeeper()
    monkeypatch.setattr(admin, "session", fake.session)
    monkeypatch.setattr(admin, "refusing", fake.refusing)
    return fake


@pytest.fixture
def disk(storage):
    return Disk(storage)


@pytest.fixture
def new_disk(tmp_path_factory):
    """Storage for another unit of the same test."""
    return lambda: Disk(tmp_path_factory.mktemp("unit"))


@pytest.fixture
def zookeeper_rewrites():
    return zookeeper_rewrite


ZOOKEEPER_DROPS = ("dynamicConfigFile", "clientPort", "clientPortAddress")


def zookeeper_rewrite(zoo_cfg: str, dynamic_file: str) -> str:
    """zoo.cfg as ZooKeeper rewrites it on start and after each reconfig.

    It reloads the properties, drops the keys it now keeps in the dynamic file (client
    address, server lines), writes the rest back in another order with a comment line, and
    points dynamicConfigFile at the versioned file it wrote itself.
    """
    kept = []
    for raw in zoo_cfg.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key = line.partition("=")[0].strip()
        if key in ZOOKEEPER_DROPS or key.startswith("server."):
            continue
        kept.append(line)
    body = "".join(f"{line}\n" for line in sorted(kept))
    return f"#Sat Nov 21 23:59:59 UTC 2026\n{body}dynamicConfigFile={dynamic_file}\n"


@pytest.fixture(autouse=True)
def kube_api(monkeypatch):
    """The Kubernetes API every unit test's charm talks to, through lightkube's own Client
    with only its transport and credentials replaced (tests/kubeapi.py)."""
    import lightkube
    from lightkube.config.kubeconfig import KubeConfig

    from tests.kubeapi import CONFIG

    api = KubeAPI()
    real = lightkube.Client

    class Client(real):
        def __init__(self, *args, **kwargs):
            api.clients += 1
            kwargs["config"] = KubeConfig.from_dict(CONFIG)
            super().__init__(*args, transport=api.transport, **kwargs)

    monkeypatch.setattr(lightkube, "Client", Client)
    return api
