"""Ensemble cases the mutation run showed untested (make mutation)."""

import pytest

from ensemble import EnsembleConfig, Role, Server, zxid_lag

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
