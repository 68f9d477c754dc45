"""Client-relation decisions the mutation run showed untested (make mutation)."""

import clients
from clients import Grant, Request


def request(relation_id, chroot, roles=None, app=None) -> Request:
    return Request(relation_id, app or f"app{relation_id}", chroot, roles)


def test_a_relation_that_has_not_asked_yet_does_not_hold_up_later_ones():
    decision = clients.decide([request(1, None), request(2, ""), request(3, "/three")])

    assert decision.granted == {3: Grant(3, "app3", "/three", "cdrwa")}
    assert decision.rejected == {}
