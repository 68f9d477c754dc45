"""Ensemble cases the mutation run showed untested (make mutation)."""

import pytest

from ensemble import EnsembleConfig, Role, Server, Step, zxid_lag

EPOCH = 1 << 32


def test_the_published_lines_carry_the_committed_version_in_hex_last():
    config = EnsembleConfig(
        (Server(2, "zk-1"), Server(1, "zk-0"), Server(3, "zk-2", Role.OBSERVER)), 0x10000002A
    )

    assert config.lines() == [
        "server.1=zk-0:2888:3888:participant;0.0.0.0:2181",
        "server.2=zk-1:2888:3888:participant;0.0.0.0:2181",
        "server.3=zk-2:2888:3888:observer;0.0.0.0:2181",
        "version=10000002a",
    ]
    # What the leader publishes reads back as the same committed config, version included.
    assert EnsembleConfig.parse("\n".join(config.lines())) == EnsembleConfig(
        (Server(1, "zk-0"), Server(2, "zk-1"), Server(3, "zk-2", Role.OBSERVER)), 0x10000002A
    )


def test_a_config_with_no_version_publishes_server_lines_only():
    assert EnsembleConfig((Server(1, "zk-0"),)).lines() == [
        "server.1=zk-0:2888:3888:participant;0.0.0.0:2181"
    ]


@pytest.mark.parametrize(
    ("leader", "member", "lag"),
    [
        (EPOCH + 10, EPOCH + 10, 0),  # in step
        (EPOCH + 10, EPOCH + 3, 7),  # same epoch: the counters' difference
        (EPOCH + 3, EPOCH + 10, 0),  # a member ahead of the leader's last report is not behind
        (2 * EPOCH + 5, EPOCH + 900, 5),  # on the previous epoch: all of this epoch's
        (2 * EPOCH + 5, 900, 5),  # two epochs back: still only this epoch's are known
        # A member already on a newer epoch (the leader's zxid was read before the election
        # that moved it on) is not behind at all, whatever the counters say.
        (EPOCH + 900, 2 * EPOCH + 1, 0),
        (EPOCH + 1, 2 * EPOCH + 900, 0),
        (0xFFFFFFFF, 0, 0xFFFFFFFF),  # the whole counter, no sign bit trouble
    ],
)
def test_zxid_lag(leader, member, lag):
    assert zxid_lag(leader, member) == lag


def test_a_server_line_with_its_own_ports_reads_back_with_them():
    server = Server.parse("server.12", "zk-11.example:2889:3889:observer;10.0.0.7:2182")

    assert server == Server(
        12,
        "zk-11.example",
        Role.OBSERVER,
        client_host="10.0.0.7",
        quorum_port=2889,
        election_port=3889,
        client_port=2182,
    )
    assert server.line == "server.12=zk-11.example:2889:3889:observer;10.0.0.7:2182"


def test_a_client_part_with_only_a_port_binds_every_address():
    # ZooKeeper's own short form: server.1=host:2888:3888;2181
    server = Server.parse("server.1", "zk-0:2888:3888;2182")

    assert (server.role, server.client_host, server.client_port) == (
        Role.PARTICIPANT,
        "0.0.0.0",
        2182,
    )


def test_parse_reads_on_past_a_line_without_an_equals_sign():
    text = "written by ZooKeeper\nserver.1=h1:2888:3888:participant;0.0.0.0:2181\nversion=10"
    config = EnsembleConfig.parse(text)

    assert (config.ids, config.version) == ({1}, 16)


def test_parse_ignores_keys_it_does_not_know():
    text = "server.1=h1:2888:3888:participant;0.0.0.0:2181\nclientPort=2181\nversion=a"
    assert EnsembleConfig.parse(text) == EnsembleConfig((Server(1, "h1"),), 10)


def test_a_step_is_something_to_do_when_it_adds_or_removes_anyone():
    assert not Step()
    assert Step(joining=(Server(4, "zk-3"),))
    assert Step(leaving=(4,))
