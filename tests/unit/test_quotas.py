"""Per-client quotas: the most znodes and bytes one client app may hold, enforced by
ZooKeeper itself (hard quotas under /zookeeper/quota, zookeeper.enforceQuota), the charm's
limits from config, lowered (never raised) by the client in its relation data."""

from __future__ import annotations

import dataclasses

import pytest
from ops import testing

import clients
import render
from config import parse
from layout import K8S
from tests.unit.test_provider import KAFKA, answer, asking, client, records, run, serve

DEFAULT = clients.quota_limits(100000, 67108864)


def test_limits_are_written_as_zookeepers_statstrack_hard_limits():
    assert DEFAULT == "count=-1,bytes=-1=;byteHardLimit=67108864;countHardLimit=100000"
    assert clients.quota_limits(0, 0) == "count=-1,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"


def test_usage_is_read_from_a_quotas_stats_node():
    assert clients.parse_usage("count=4,bytes=5") == (4, 5)
    assert clients.parse_usage("count=7,bytes=120=;byteHardLimit=-1;countHardLimit=9") == (7, 120)


def test_the_server_is_told_to_enforce_quotas():
    assert "-Dzookeeper.enforceQuota=true" in render.jvm_flags(parse({}), K8S)


def test_every_client_gets_the_charms_limits_on_its_chroot(disk, zookeeper):
    out = serve(disk, client(7, KAFKA))
    assert zookeeper.quotas == {"/kafka": DEFAULT}
    assert (records(out)["7"]["max-znodes"], records(out)["7"]["max-bytes"]) == (100000, 1 << 26)


@pytest.mark.parametrize(
    ("asked", "limits"),
    [
        ({"quota-znodes": "50", "quota-bytes": "4096"}, clients.quota_limits(50, 4096)),
        # More than the charm allows is the charm's limit: a client cannot raise its own.
        ({"quota-znodes": "999999999"}, DEFAULT),
        ({"quota-znodes": "0", "quota-bytes": ""}, DEFAULT),
    ],
)
def test_a_client_may_ask_for_less_never_more(disk, zookeeper, asked, limits):
    out = serve(disk, client(7, {**KAFKA, **asked}))
    assert zookeeper.quotas["/kafka"] == limits
    assert out.unit_status == testing.ActiveStatus("leader, 3 members")


def test_a_bad_quota_request_blocks_naming_the_fix_and_keeps_the_limits(disk, zookeeper):
    granted = serve(disk, client(7, {**KAFKA, "quota-znodes": "50"}))

    out = run(asking(granted, 7, {**KAFKA, "quota-znodes": "fifty"}), relation_id=7)

    assert out.unit_status == testing.BlockedStatus(
        "relation 7 (kafka): quota-znodes 'fifty': give a whole number (0 or nothing: the default)"
    )
    assert zookeeper.quotas["/kafka"] == clients.quota_limits(50, 67108864)
    assert answer(out, 7)["secret-user"]  # still served

    fixed = run(asking(out, 7, {**KAFKA, "quota-znodes": "40"}), relation_id=7)
    assert fixed.unit_status == testing.ActiveStatus("leader, 3 members")
    assert zookeeper.quotas["/kafka"] == clients.quota_limits(40, 67108864)


def test_a_client_that_clears_its_databag_keeps_the_lower_quota_it_asked_for(disk, zookeeper):
    granted = serve(disk, client(7, {**KAFKA, "quota-znodes": "50"}))

    # Not a removal (the relation stays): it keeps its grant, and the limit it asked for.
    out = run(asking(granted, 7, {}), relation_id=7)

    assert zookeeper.quotas["/kafka"] == clients.quota_limits(50, 67108864)
    assert answer(out, 7)["secret-user"]
    # The charm's own limit, if lowered below it, still wins.
    lowered = dataclasses.replace(out, config={"client-max-znodes": 20})
    run(lowered, event="config_changed")
    assert zookeeper.quotas["/kafka"] == clients.quota_limits(20, 67108864)


def test_new_charm_limits_reach_every_client_on_config_changed(disk, zookeeper):
    granted = serve(disk, client(7, KAFKA), client(8, {"database": "/b"}, app="b"))
    lowered = dataclasses.replace(
        granted, config={"client-max-znodes": 1000, "client-max-bytes": 0}
    )

    run(lowered, event="config_changed")

    assert zookeeper.quotas == {
        "/kafka": clients.quota_limits(1000, 0),
        "/b": clients.quota_limits(1000, 0),
    }


def test_list_clients_shows_each_grant_and_its_use_against_its_quota(
    disk, zookeeper, admin_server
):
    from tests.unit.test_charm import context

    # This unit's server holds two of kafka's connections; the others said what theirs hold.
    admin_server.health = dataclasses.replace(admin_server.health, sessions=(("/kafka", 2),))
    granted = serve(
        disk,
        client(7, {**KAFKA, "quota-znodes": "50", "x509-subject": "CN=kafka"}),
        client(8, {"database": "/b", "extra-user-roles": "r"}, app="b"),
    )
    peers = next(r for r in granted.relations if r.endpoint == "cluster")
    reports = {
        1: {**peers.peers_data[1], "client-sessions": '{"/kafka": 1, "/b": 4}'},
        2: {**peers.peers_data[2], "client-sessions": "{}"},
    }
    granted = dataclasses.replace(
        granted,
        relations={
            *(r for r in granted.relations if r is not peers),
            dataclasses.replace(peers, peers_data=reports),
        },
    )
    zookeeper.client_creates("/kafka/topics")
    ctx = context(0)
    ctx.run(ctx.on.action("list-clients"), granted)

    assert ctx.action_results == {
        "relation-7": {
            "app": "kafka",
            "chroot": "/kafka",
            "user": "relation-7",
            "roles": "cdrw",
            "x509-subject": "CN=kafka",
            "max-znodes": "50",
            "max-bytes": "67108864",
            "znodes": "2",
            "bytes": "0",
            "sessions": "3",
            "sessions-per-unit": "0: 2, 1: 1, 2: 0",
        },
        "relation-8": {
            "app": "b",
            "chroot": "/b",
            "user": "relation-8",
            "roles": "r",
            "max-znodes": "100000",
            "max-bytes": "67108864",
            "znodes": "1",
            "bytes": "0",
            "sessions": "4",
            "sessions-per-unit": "0: 0, 1: 4, 2: 0",
        },
    }


def test_list_clients_with_zookeeper_down_fails_saying_when_to_retry(disk, zookeeper):
    from tests.unit.test_charm import context

    granted = serve(disk, client(7, KAFKA))
    zookeeper.fail = True
    ctx = context(0)
    with pytest.raises(testing.ActionFailed, match="try again once it serves"):
        ctx.run(ctx.on.action("list-clients"), granted)
