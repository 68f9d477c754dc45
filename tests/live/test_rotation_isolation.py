"""Isolation holds while the super password rotates: every server restarts once, and an
intruder trying another app's chroot every 100 ms is refused by each of them throughout."""

from __future__ import annotations

import itertools
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import KazooException, NoAuthError

from tests.live.cluster import Cluster
from tests.live.test_clients import KAFKA_SECRETS, root_hosts, sasl_client
from tests.live.zk import closing

VICTIM, INTRUDER = 30, 31
EVERY = 0.1  # seconds between two tries of the intruder
# Seconds without any refusal that a client reconnecting past a restarted server may take.
MAX_GAP = 10.0


def _client(hosts: str, **auth) -> KazooClient:
    """A client that keeps reconnecting through restarts, as a real app's does."""
    client = KazooClient(
        hosts=hosts,
        timeout=18,
        connection_retry={"max_tries": -1, "delay": 0.05, "max_delay": 0.5},
        command_retry={"max_tries": 1},
        **auth,
    )
    client.start(timeout=15)
    return client


class Intruder(threading.Thread):
    """Tries, every EVERY seconds, what another app must never do in the victim's chroot."""

    def __init__(self, clients: dict[str, KazooClient], chroot: str):
        super().__init__(daemon=True)
        self.clients = clients
        self.chroot = chroot
        self.stop = threading.Event()
        self.tries = 0
        self.refused: list[float] = []  # when a server answered NoAuth (not a lost link)
        self.breaches: list[str] = []

    def run(self) -> None:
        data = f"{self.chroot}/data"
        while not self.stop.is_set():
            for who, client in self.clients.items():
                for what, attempt in (
                    ("read", lambda c=client: c.get(data)),
                    ("write", lambda c=client: c.set(data, b"mine now")),
                    ("create", lambda c=client: c.create(f"{self.chroot}/planted")),
                    ("exists", lambda c=client: c.exists(data)),
                    ("list", lambda c=client: c.get_children(self.chroot)),
                ):
                    self.tries += 1
                    try:
                        attempt()
                    except NoAuthError:
                        self.refused.append(time.monotonic())
                    except KazooException:
                        pass  # its server is restarting: the client reconnects elsewhere
                    else:
                        self.breaches.append(f"{who} could {what} {data}")
            self.stop.wait(EVERY)


def test_isolation_holds_through_a_super_password_rotation(cluster: Cluster):
    cluster.deploy(3)
    cluster.wait_serving()
    cluster.settle()
    cluster.relate("victim", {"database": "/victim", "requested-secrets": KAFKA_SECRETS}, VICTIM)
    intruder_request = {"database": "/intruder", "requested-secrets": KAFKA_SECRETS}
    cluster.relate("intruder", intruder_request, INTRUDER)
    cluster.wait_serving()
    cluster.settle()
    victim, intruder = cluster.credentials(VICTIM), cluster.credentials(INTRUDER)
    owner = sasl_client(victim)
    owner.create("/data", b"the victim's")
    closing(owner)

    hosts = root_hosts(intruder)
    sasl = {"mechanism": "DIGEST-MD5", "username": intruder["username"]}
    clients = {
        # Its own login, trying the victim's paths from outside its chroot.
        "the intruder": _client(hosts, sasl_options={**sasl, "password": intruder["password"]}),
        # A digest identity is self-asserted: the victim's name with a made-up password.
        "a forged digest": _client(hosts, auth_data=[("digest", f"{victim['username']}:guess")]),
        # And the intruder presenting the victim's username as its digest, with its own
        # password.
        "a borrowed name": _client(
            hosts, auth_data=[("digest", f"{victim['username']}:{intruder['password']}")]
        ),
    }
    attacker = Intruder(clients, "/victim")
    old_super = cluster.super_password()
    attacker.start()
    try:
        started = time.monotonic()
        cluster.run(cluster.leader, "action", name="rotate-passwords", params={"users": "super"})
        assert cluster.action_results["rotating"] == "super"
        cluster.wait_serving()
        cluster.settle()
        took = time.monotonic() - started
    finally:
        attacker.stop.set()
        attacker.join(timeout=30)
        for client in clients.values():
            closing(client)

    assert attacker.breaches == []
    # Every server restarted once for the new password, the intruder tried all along.
    assert sorted(cluster.restart_log) == [0, 1, 2]
    # Tried all along: refusals from the first second of the rotation to its end, never more
    # than a few seconds apart (a client whose server restarts reconnects to another one).
    refused = [started, *attacker.refused, started + took]
    assert len(attacker.refused) > took / EVERY, (len(attacker.refused), took)
    assert max(b - a for a, b in itertools.pairwise(refused)) < MAX_GAP
    assert cluster.super_password() != old_super
    # The victim's data is as it left it, and it still reaches it with its own user.
    owner = sasl_client(victim)
    try:
        assert owner.get("/data")[0] == b"the victim's"
        assert owner.get_children("/") == ["data"]
    finally:
        closing(owner)
