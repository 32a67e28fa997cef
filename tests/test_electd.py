"""electd's lease store and candidates, in process: each lease mode's flaw and the correct
mode's answer to it, with the store called directly instead of over the network."""

from __future__ import annotations

import time

from systems_under_test.electd.server import Candidate, LeaseStore


def pair(mode, tmp_path, ttl=0.3):
    store = LeaseStore(mode, tmp_path)

    def call(address, message, timeout):
        return store.handle(message["type"], message)

    return store, [Candidate(name, mode, ttl, call, ("store", 0), {}) for name in ("n1", "n2")]


def test_correct_lease_expires_before_another_is_granted_and_renewal_checks_the_owner(tmp_path):
    store, (a, b) = pair("correct", tmp_path)
    a.campaign()
    assert a.status()["leader"] and a.epoch == 1
    b.campaign()
    assert not b.status()["leader"], "held"
    time.sleep(0.35)  # a paused past its lease
    assert not a.status()["leader"], "its own deadline passed first"
    b.campaign()
    assert b.status()["leader"] and b.epoch == 2
    a.leader = True  # even a node that somehow kept its flag cannot renew another's lease
    a.renew()
    assert store.handle("renew", {"node": "n1", "epoch": 1})["status"] == "lost"
    assert store.handle("heartbeat", {"node": "n1", "epoch": 1})["status"] == "rejected"


def test_renew_without_owner_check_extends_the_new_leaders_lease(tmp_path):
    store, (a, b) = pair("renew-without-owner-check", tmp_path)
    a.campaign()
    time.sleep(0.35)
    b.campaign()
    a.renew()
    assert a.status()["leader"] and b.status()["leader"], "split brain"


def test_stop_toctou_deletes_the_next_leaders_key(tmp_path):
    store, (a, b) = pair("stop-toctou", tmp_path, ttl=0.2)
    a.campaign()
    a.resigning = True
    stopping = __import__("threading").Thread(target=a.stop)
    stopping.start()
    time.sleep(0.25)  # a's lease ran out while it drains
    b.campaign()
    assert b.status()["leader"]
    stopping.join()
    assert store.handle("get", {})["node"] is None, "a deleted b's key"


def test_a_restarted_store_keeps_the_holder_and_the_counter(tmp_path):
    store, (a, _) = pair("correct", tmp_path, ttl=5.0)
    a.campaign()
    restarted = LeaseStore("correct", tmp_path)
    assert restarted.handle("campaign", {"node": "n2", "ttl": 5.0})["status"] == "held"
    assert restarted.counter == 1


def test_bully_declares_itself_when_no_higher_node_answers(tmp_path):
    def call(address, message, timeout):
        if address == ("n2", 0):
            raise __import__("systems_under_test.wire", fromlist=["WireError"]).WireError("cut off")
        return {"status": "ok"}

    lower = Candidate("n1", "bully-no-quorum", 1.0, call, ("store", 0), {"n2": ("n2", 0)})
    lower.bully_round()
    assert lower.status()["leader"] and lower.epoch == "n1/1", "no quorum asked; a term of its own"
