"""Policy cases the mutation run showed untested (make mutation)."""

import pytest

import clients
import policy
from clients import Grant


def chroot_lines(text: str) -> list[list[str]]:
    return [line.split("\t") for line in text.splitlines() if line.startswith("chroot\t")]


def test_a_chroot_taken_back_and_granted_again_in_one_hook_is_listed_once_with_its_owner():
    grant = Grant(9, "kafka", "/kafka", "cdrwa")
    text = policy.render([(grant, "KafkaPassw0rd")], closing=["/kafka", "/gone"])

    assert chroot_lines(text) == [
        ["chroot", "/gone", ""],
        [
            "chroot",
            "/kafka",
            "cdrw",
            "sasl:relation-9",
            f"digest:{clients.digest_id('relation-9', 'KafkaPassw0rd')}",
        ],
    ]


def test_a_chroot_with_a_space_granted_again_is_listed_once():
    # ZooKeeper paths may hold spaces; only tabs and line breaks separate policy fields.
    grant = Grant(9, "kafka", "/my app", "r")
    text = policy.render([(grant, "KafkaPassw0rd")], closing=["/my app"])

    assert [row[:3] for row in chroot_lines(text)] == [["chroot", "/my app", "r"]]


def test_a_chroot_closing_with_no_new_owner_is_listed_without_one():
    assert policy.render([], closing=["/old"]) == "zookeeper-k8s policy 1\nchroot\t/old\t\n"


@pytest.mark.parametrize("bad", ["\t", "\n", "\r"])
def test_a_closing_chroot_with_a_tab_or_line_break_raises_saying_so(bad):
    with pytest.raises(ValueError, match=r"^a policy field holds a tab or a line break$"):
        policy.render([], closing=[f"/old{bad}x"])
