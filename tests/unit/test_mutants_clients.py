"""Client-relation decisions the mutation run showed untested (make mutation)."""

import clients
from clients import Grant, Request


def request(relation_id, chroot, roles=None, app=None) -> Request:
    return Request(relation_id, app or f"app{relation_id}", chroot, roles)


def test_a_relation_that_has_not_asked_yet_does_not_hold_up_later_ones():
    decision = clients.decide([request(1, None), request(2, ""), request(3, "/three")])

    assert decision.granted == {3: Grant(3, "app3", "/three", "cdrwa")}
    assert decision.rejected == {}


def test_a_relation_rejected_for_a_clash_holds_up_no_later_grant():
    decision = clients.decide(
        [request(1, "/a"), request(2, "/a/b"), request(3, "/c"), request(4, "/a")]
    )

    assert set(decision.granted) == {1, 3}
    assert set(decision.rejected) == {2, 4}


def test_each_rejection_names_its_own_problem():
    decision = clients.decide([request(1, "/"), request(2, "rel"), request(3, "/ok", "x")])

    assert decision.rejected == {
        1: "chroot / would give the whole tree; ask for a path such as /myapp",
        2: "chroot 'rel' must be an absolute path such as /rel",
        3: "extra-user-roles 'x': use ACL permission letters from cdrwa "
        "(c create, d delete, r read, w write, a admin)",
    }


def test_admin_alone_is_refused_saying_it_grants_nothing():
    assert clients.decide([request(1, "/a", "a")]).rejected == {
        1: "extra-user-roles 'a' grants nothing (admin is the charm's): "
        "ask for at least one of cdrw"
    }


def test_a_chroot_keeps_every_character_but_its_trailing_slashes():
    decision = clients.decide([request(1, "/APP-X//"), request(2, "/x.X")])

    assert decision.granted[1].chroot == "/APP-X"
    assert decision.granted[2].chroot == "/x.X"


def test_an_established_grant_with_a_now_reserved_path_keeps_it_a_newcomer_is_told_why():
    decision = clients.decide(
        [request(2, "/public/b"), request(8, "/public/a")],
        existing={8: "/public/a"},
        reserved=["/public/"],
    )

    assert decision.granted == {8: Grant(8, "app8", "/public/a", "cdrwa")}
    assert decision.rejected == {
        2: "chroot /public/b overlaps /public/, open to clients without credentials"
    }


def test_a_reserved_path_below_the_request_is_an_overlap_too():
    decision = clients.decide([request(2, "/public")], reserved=["/other", "/public/open"])

    assert decision.rejected == {
        2: "chroot /public overlaps /public/open, open to clients without credentials"
    }


def test_a_reserved_sibling_with_a_shared_prefix_is_no_overlap():
    decision = clients.decide([request(2, "/publicity")], reserved=["/public"])

    assert decision.granted == {2: Grant(2, "app2", "/publicity", "cdrwa")}


def test_an_existing_grant_that_is_now_invalid_is_rejected_naming_the_problem():
    decision = clients.decide([request(3, "/zookeeper/x")], existing={3: "/zookeeper/x"})

    assert decision.granted == {}
    assert decision.rejected == {
        3: "chroot /zookeeper/x lies under /zookeeper, which ZooKeeper keeps for itself"
    }


def test_newcomers_are_decided_in_relation_id_order_whatever_the_input_order():
    decision = clients.decide([request(7, "/a"), request(3, "/a/b"), request(5, "/a")])

    assert set(decision.granted) == {3}
    assert decision.rejected == {
        5: "chroot /a overlaps /a/b of relation 3 (app3)",
        7: "chroot /a overlaps /a/b of relation 3 (app3)",
    }


# -- open-chroots ------------------------------------------------------------------------------


def test_valid_open_chroots_have_no_problems():
    granted = {4: Grant(4, "kafka", "/kafka", "cdrwa")}
    assert clients.open_chroot_problems(["/public", "/legacy/app", "/kafkaesque"], granted) == []


def test_open_chroots_name_each_bad_path_in_order():
    assert clients.open_chroot_problems(["public", "/", "/zookeeper/x", "/a//b"], {}) == [
        "open-chroots: chroot 'public' must be an absolute path such as /public",
        "open-chroots: chroot / would give the whole tree; ask for a path such as /myapp",
        "open-chroots: chroot /zookeeper/x lies under /zookeeper, "
        "which ZooKeeper keeps for itself",
        "open-chroots: chroot '/a//b' is not a plain path",
    ]


def test_an_open_chroot_over_or_under_a_client_relations_chroot_names_the_relation():
    granted = {4: Grant(4, "kafka", "/apps/kafka", "cdrwa"), 6: Grant(6, "solr", "/solr", "r")}
    assert clients.open_chroot_problems(["/apps/", "/solr/open", "/free"], granted) == [
        "open-chroots: /apps overlaps /apps/kafka of relation 4 (kafka); "
        "pick a path no client relation uses",
        "open-chroots: /solr/open overlaps /solr of relation 6 (solr); "
        "pick a path no client relation uses",
    ]


def test_open_chroots_that_overlap_each_other_name_the_earlier_one():
    assert clients.open_chroot_problems(["/pub", "/other", "/pub/sub/", "/pub"], {}) == [
        "open-chroots: /pub/sub overlaps /pub, also listed",
        "open-chroots: /pub overlaps /pub, also listed",
    ]


def test_an_open_chroot_under_an_earlier_one_given_with_a_slash_overlaps_it():
    assert clients.open_chroot_problems(["/pub/", "/pub/x"], {}) == [
        "open-chroots: /pub/x overlaps /pub/, also listed"
    ]


def test_an_open_chroot_overlapping_a_relation_and_a_listed_path_names_the_relation():
    granted = {4: Grant(4, "kafka", "/pub/kafka", "cdrwa")}
    assert clients.open_chroot_problems(["/pub/kafka/x", "/pub"], granted) == [
        "open-chroots: /pub/kafka/x overlaps /pub/kafka of relation 4 (kafka); "
        "pick a path no client relation uses",
        "open-chroots: /pub overlaps /pub/kafka of relation 4 (kafka); "
        "pick a path no client relation uses",
    ]


def test_open_chroots_are_open_to_anyone_but_their_acls_are_the_super_users():
    assert clients.open_acls() == [
        clients.Acl("world", "anyone", "cdrw"),
        clients.Acl("sasl", "super", "cdrwa"),
    ]
