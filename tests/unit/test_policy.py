"""The policy the leader writes for the server extension (policy.render): pure text."""

import pytest

import clients
import policy
from clients import Grant

KAFKA = Grant(5, "kafka", "/kafka", "cdrwa")
OTHER = Grant(12, "other", "/apps/other", "r")
PASSWORDS = {5: "KafkaPassw0rd", 12: "OtherPassw0rd"}


def render(*grants: Grant) -> str:
    return policy.render((grant, PASSWORDS[grant.relation_id]) for grant in grants)


def lines(text: str) -> list[list[str]]:
    assert text.endswith("\n")
    return [line.split("\t") for line in text[:-1].split("\n")]


def test_the_znode_and_the_names_the_server_reads():
    assert policy.ZNODE == "/zookeeper-k8s/policy"
    assert policy.ROOT == clients.POLICY_ROOT == "/zookeeper-k8s"
    assert policy.FACTORY == "org.apache.zookeeper.server.IsolatingCnxnFactory"
    assert policy.PROPERTY == "zookeeperk8s.policy"


def test_no_grants_is_the_header_alone():
    assert policy.render([]) == "zookeeper-k8s policy 1\n"


def test_each_client_has_a_user_line_and_a_chroot_line():
    assert lines(render(KAFKA)) == [
        ["zookeeper-k8s policy 1"],
        ["user", "relation-5", "KafkaPassw0rd"],
        [
            "chroot",
            "/kafka",
            "cdrw",
            "sasl:relation-5",
            f"digest:{clients.digest_id('relation-5', 'KafkaPassw0rd')}",
        ],
    ]


def test_the_lines_are_sorted_users_first_then_chroots():
    text = render(KAFKA, OTHER)
    assert lines(text) == [
        ["zookeeper-k8s policy 1"],
        ["user", "relation-12", "OtherPassw0rd"],
        ["user", "relation-5", "KafkaPassw0rd"],
        [
            "chroot",
            "/apps/other",
            "r",
            "sasl:relation-12",
            f"digest:{clients.digest_id('relation-12', 'OtherPassw0rd')}",
        ],
        [
            "chroot",
            "/kafka",
            "cdrw",
            "sasl:relation-5",
            f"digest:{clients.digest_id('relation-5', 'KafkaPassw0rd')}",
        ],
    ]


def test_the_same_grants_in_any_order_render_the_same_text():
    # The leader compares digests of this text: a hook that sees the relations in another
    # order must not rewrite the znode.
    assert render(KAFKA, OTHER) == render(OTHER, KAFKA) == render(KAFKA, OTHER)


def test_the_super_user_is_never_in_the_policy():
    # The super user is the servers' own (JAAS); the extension must not learn of it here.
    for row in lines(render(KAFKA, OTHER)):
        assert "super" not in row
        assert "sasl:super" not in row
        assert not any(field.endswith(":super") for field in row)


@pytest.mark.parametrize(("asked", "written"), [("cdrwa", "cdrw"), ("ra", "r"), ("cdr", "cdr")])
def test_the_admin_permission_is_stripped(asked, written):
    # With `a` a client could reopen its znodes to others by changing their ACLs.
    chroot = lines(render(Grant(5, "kafka", "/kafka", asked)))[-1]
    assert chroot[:3] == ["chroot", "/kafka", written]


@pytest.mark.parametrize("bad", ["\t", "\n", "\r"])
@pytest.mark.parametrize("where", ["password", "chroot"])
def test_a_tab_or_a_line_break_in_a_field_raises(bad, where):
    grant, password = KAFKA, "KafkaPassw0rd"
    if where == "password":
        password = f"Kafka{bad}Passw0rd"
    else:
        grant = Grant(5, "kafka", f"/kafka{bad}user\trelation-9\tpw", "cdrwa")
    with pytest.raises(ValueError, match="tab or a line break"):
        policy.render([(grant, password)])
