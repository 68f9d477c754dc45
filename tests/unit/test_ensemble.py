"""Ensemble arithmetic: ids, server strings and ZooKeeper's committed config."""

import dataclasses

import pytest

from ensemble import EnsembleConfig, Role, Server, myid, ordinal_of, plan_membership, server_for
from layout import K8S

APP, MODEL = "zookeeper-k8s", "prod"


def pod(ordinal: int) -> str:
    return f"{APP}-{ordinal}.{APP}-endpoints.{MODEL}.svc.cluster.local"


# What `get /zookeeper/config` returns on a real 3.9 ensemble after one reconfig that
# added an observer: server lines in id order, the version in hex on the last line.
COMMITTED = (
    f"server.1={pod(0)}:2888:3888:participant;0.0.0.0:2181\n"
    f"server.2={pod(1)}:2888:3888:participant;0.0.0.0:2181\n"
    f"server.3={pod(2)}:2888:3888:participant;0.0.0.0:2181\n"
    f"server.4={pod(3)}:2888:3888:observer;0.0.0.0:2181\n"
    "version=100000000"
)


@pytest.mark.parametrize(("ordinal", "expected"), [(0, 1), (1, 2), (2, 3), (9, 10), (254, 255)])
def test_myid_is_ordinal_plus_one(ordinal, expected):
    assert myid(ordinal) == expected


@pytest.mark.parametrize(
    ("unit", "ordinal"),
    [("zookeeper-k8s/0", 0), ("zookeeper-k8s/3", 3), ("zk/12", 12), ("a-b-c/7", 7)],
)
def test_ordinal_comes_from_the_unit_name(unit, ordinal):
    assert ordinal_of(unit) == ordinal


def test_no_two_units_share_a_myid_and_none_is_zero():
    ids = [myid(ordinal_of(f"{APP}/{n}")) for n in range(20)]
    assert len(set(ids)) == 20
    assert min(ids) == 1


@pytest.mark.parametrize(
    ("server", "line"),
    [
        (Server(1, "zk-0.example"), "server.1=zk-0.example:2888:3888:participant;0.0.0.0:2181"),
        (
            Server(4, "zk-3.example", Role.OBSERVER),
            "server.4=zk-3.example:2888:3888:observer;0.0.0.0:2181",
        ),
        (
            Server(2, "127.0.0.2", client_host="127.0.0.2"),
            "server.2=127.0.0.2:2888:3888:participant;127.0.0.2:2181",
        ),
    ],
)
def test_server_line_is_zookeepers_dynamic_config_syntax(server, line):
    assert server.line == line
    key, _, spec = line.partition("=")
    assert Server.parse(key, spec) == server


def test_a_server_line_without_client_address_gets_the_default_one():
    server = Server.parse("server.3", "zk-2.example:2888:3888:participant")
    assert server.line == "server.3=zk-2.example:2888:3888:participant;0.0.0.0:2181"


def test_a_server_line_without_role_is_a_participant():
    assert Server.parse("server.5", "zk-4:2888:3888;0.0.0.0:2181").role is Role.PARTICIPANT


def test_committed_config_parses_with_hex_version_and_observers():
    config = EnsembleConfig.parse(COMMITTED)
    assert config.version == 0x100000000 == 4294967296
    assert config.ids == {1, 2, 3, 4}
    assert [s.id for s in config.voters] == [1, 2, 3]
    observer = next(s for s in config.servers if s.id == 4)
    assert observer.role is Role.OBSERVER
    assert observer.address == pod(3)
    assert (observer.quorum_port, observer.election_port, observer.client_port) == (
        2888,
        3888,
        2181,
    )


def test_committed_config_renders_back_to_its_server_lines():
    rendered = EnsembleConfig.parse(COMMITTED).render()
    # ZooKeeper adds the version itself; everything else comes back byte for byte.
    assert rendered == COMMITTED.removesuffix("version=100000000")
    again = EnsembleConfig.parse(rendered)
    assert again.servers == EnsembleConfig.parse(COMMITTED).servers
    assert again.version is None


def test_render_parse_round_trip():
    config = EnsembleConfig(
        (
            *(server_for(K8S, APP, MODEL, n) for n in range(5)),
            server_for(K8S, APP, MODEL, 5, Role.OBSERVER),
        )
    )
    assert EnsembleConfig.parse(config.render()) == config


def test_servers_render_in_numeric_id_order_whatever_order_they_came_in():
    shuffled = "\n".join(
        [
            "server.10=h10:2888:3888:participant;0.0.0.0:2181",
            "server.2=h2:2888:3888:participant;0.0.0.0:2181",
            "version=2a",
            "server.1=h1:2888:3888:participant;0.0.0.0:2181",
        ]
    )
    config = EnsembleConfig.parse(shuffled)
    assert config.version == 42
    assert [line.split("=")[0] for line in config.render().splitlines()] == [
        "server.1",
        "server.2",
        "server.10",
    ]


def test_parse_ignores_blank_and_comment_lines():
    text = "\n# written by ZooKeeper\nserver.1=h1:2888:3888:participant;0.0.0.0:2181\n\n"
    assert EnsembleConfig.parse(text).ids == {1}


@pytest.mark.parametrize("ordinal", [0, 1, 2, 7])
def test_server_for_k8s_uses_the_pods_stable_dns_name(ordinal):
    server = server_for(K8S, APP, MODEL, ordinal)
    assert server.id == ordinal + 1
    assert server.address == f"{APP}-{ordinal}.{APP}-endpoints.{MODEL}.svc.cluster.local"
    assert server.line == (
        f"server.{ordinal + 1}={APP}-{ordinal}.{APP}-endpoints.{MODEL}.svc.cluster.local"
        ":2888:3888:participant;0.0.0.0:2181"
    )


def test_server_for_a_per_unit_bind_layout_serves_clients_on_its_own_address():
    loopback = dataclasses.replace(
        K8S, address=lambda app, model, n: f"127.0.0.{n + 1}", per_unit_bind=True
    )
    server = server_for(loopback, APP, MODEL, 2)
    assert server.line == "server.3=127.0.0.3:2888:3888:participant;127.0.0.3:2181"


def test_server_for_an_observer():
    assert server_for(K8S, APP, MODEL, 4, Role.OBSERVER).line.endswith(
        ":2888:3888:observer;0.0.0.0:2181"
    )


# -- membership plan (test_planner.py has the rest) ----------------------------------------


def committed(*ordinals: int) -> EnsembleConfig:
    return EnsembleConfig(tuple(server_for(K8S, APP, MODEL, n) for n in ordinals))


def test_scale_down_holds_when_the_remaining_members_would_lack_a_majority():
    # 3 of 5 in sync overall, but removing member 5 (in sync) leaves 2 of 4 in sync.
    plan = plan_membership(committed(0, 1, 2, 3, 4), 4, frozenset({0, 1, 4}), {})
    assert not plan.step
    assert plan.held.startswith("cannot remove member 5 safely")


def test_a_member_that_already_votes_is_not_added_again():
    joiners = {n: server_for(K8S, APP, MODEL, n, Role.OBSERVER) for n in range(3)}
    assert not plan_membership(committed(0, 1, 2), 3, frozenset(range(3)), joiners).step
