"""Where things are: the paths the rock creates and how units find each other.

Kubernetes is the default. Live tests run real ZooKeeper on loopback with a different
layout (temporary directories, Debian's jars, 127.0.0.N per unit); this is the one place
that difference is injected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath

from records import Record, frozen

# The rock (rockcraft.yaml) creates these; keep them in step with it.
ZK_HOME = PurePosixPath("/opt/zookeeper")
STORAGE = PurePosixPath("/var/lib/zookeeper")
# Writable by the rock's user; /opt/zookeeper (root's) is not.
LOG_DIR = PurePosixPath("/var/log/zookeeper")
JAVA_HOME = "/usr/lib/jvm/java-21-openjdk-amd64"
USER = "zookeeper"
GROUP = "zookeeper"
# The rock's base (ubuntu@24.04) brings these; the health check needs nothing else.
BASH = "/bin/bash"
TIMEOUT = "/usr/bin/timeout"

CLIENT_PORT = 2181
SECURE_CLIENT_PORT = 2182
QUORUM_PORT = 2888
ELECTION_PORT = 3888
ADMIN_PORT = 8080
METRICS_PORT = 7000

SUPER_USER = "super"
LOOPBACK = "127.0.0.1"


def _pod_address(app: str, model: str, ordinal: int) -> str:
    # The stable per-pod DNS name of the StatefulSet Juju creates behind the headless service.
    return f"{app}-{ordinal}.{app}-endpoints.{model}.svc.cluster.local"


@frozen
class Layout(Record):
    """Paths inside the workload container and how a member is addressed."""

    storage: PurePosixPath = STORAGE
    zk_home: PurePosixPath = ZK_HOME
    log_dir: PurePosixPath = LOG_DIR
    java_home: str = JAVA_HOME
    classpath: str = f"{ZK_HOME}/lib/*"
    user: str | None = USER
    group: str | None = GROUP
    # ZooKeeper 3.9 (the rock) logs through logback; Debian's 3.8 through log4j 1.
    logging: str = "logback"
    prometheus_metrics: bool = True
    extra_jvm_flags: tuple[str, ...] = ()
    address: Callable[[str, str, int], str] = _pod_address
    # Pods have their own IPs: ZooKeeper listens on all of them. On loopback every unit
    # has its own 127.0.0.N and must bind to exactly that.
    per_unit_bind: bool = False
    # The data volume as the charm container mounts it: Juju mounts a sidecar charm's
    # storage there too, at metadata.yaml's `location` (the workload's path). Known without
    # asking Juju (storage-get would be two more hook tools in every hook).
    charm_volume: str = str(STORAGE)

    @property
    def java(self) -> str:
        return f"{self.java_home}/bin/java"

    @property
    def conf_dir(self) -> PurePosixPath:
        # On the storage, so ZooKeeper's own dynamic config files survive a pod restart.
        return self.storage / "conf"

    @property
    def data_dir(self) -> PurePosixPath:
        return self.storage / "data"

    @property
    def zoo_cfg(self) -> PurePosixPath:
        return self.conf_dir / "zoo.cfg"

    @property
    def jaas(self) -> PurePosixPath:
        return self.conf_dir / "jaas.conf"

    @property
    def log_config(self) -> PurePosixPath:
        name = "logback.xml" if self.logging == "logback" else "log4j.properties"
        return self.conf_dir / name

    @property
    def live_log_config(self) -> bool:
        """logback rereads its config file while running (scan); log4j 1 does not."""
        return self.logging == "logback"

    @property
    def myid(self) -> PurePosixPath:
        return self.data_dir / "myid"

    def client_host(self, address: str, loopback: bool = False) -> str:
        """Where a server takes plaintext clients: loopback only while TLS is on (the
        charm's own session), except where every unit shares loopback."""
        if self.per_unit_bind:
            return address
        return LOOPBACK if loopback else "0.0.0.0"

    @property
    def tls_dir(self) -> PurePosixPath:
        return self.conf_dir / "tls"

    @property
    def keystore(self) -> PurePosixPath:
        return self.tls_dir / "keystore.pem"

    @property
    def keystore_next(self) -> PurePosixPath:
        """A key store from a new CA, held back until every member trusts that CA."""
        return self.tls_dir / "keystore-next.pem"

    @property
    def truststore(self) -> PurePosixPath:
        return self.tls_dir / "truststore.pem"

    def metrics_host(self, address: str) -> str:
        """Where the Prometheus endpoint listens: on the pod's own address, which is what
        Prometheus scrapes (the unit's address on loopback layouts)."""
        return address if self.per_unit_bind else "0.0.0.0"

    def local_host(self, address: str) -> str:
        """Where the charm reaches its own server (client port, admin server)."""
        return address if self.per_unit_bind else LOOPBACK


K8S = Layout()
