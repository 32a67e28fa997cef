"""lockd's server logic, in process: each mode's flaw and the correct mode's answers to it."""

from __future__ import annotations

from systems_under_test.lockd.server import LockNode


def acquire(node, owner, ttl=30.0):
    return node.handle({"type": "acquire", "name": "L", "owner": owner, "ttl": ttl})


def test_correct_refuses_stale_tokens_and_checks_the_owner(tmp_path):
    node = LockNode("correct", tmp_path)
    a = acquire(node, "a")
    assert a["status"] == "ok" and acquire(node, "b")["status"] == "held"
    assert node.handle({"type": "release", "name": "L", "owner": "b"})["status"] == "not-owner"
    assert node.handle({"type": "release", "name": "L", "owner": "a"})["status"] == "ok"
    b = acquire(node, "b")
    assert b["token"] > a["token"]
    assert node.handle({"type": "write", "token": b["token"]})["status"] == "ok"
    assert node.handle({"type": "write", "token": a["token"]})["status"] == "rejected"


def test_correct_restart_keeps_the_lock_and_the_counter(tmp_path):
    a = acquire(LockNode("correct", tmp_path), "a")
    restarted = LockNode("correct", tmp_path)
    assert acquire(restarted, "b")["status"] == "held"
    assert restarted.handle({"type": "release", "name": "L", "owner": "a"})["status"] == "ok"
    assert acquire(restarted, "b")["token"] == a["token"] + 1


def test_volatile_forgets_the_lock_and_reuses_tokens(tmp_path):
    a = acquire(LockNode("volatile", tmp_path), "a")
    b = acquire(LockNode("volatile", tmp_path), "b")
    assert b["status"] == "ok" and b["token"] == a["token"]


def test_unconditional_release_drops_another_holders_lock(tmp_path):
    node = LockNode("unconditional-release", tmp_path)
    acquire(node, "a")
    assert node.handle({"type": "release", "name": "L", "owner": "b"})["status"] == "ok"
    assert acquire(node, "c")["status"] == "ok"


def test_no_fencing_takes_a_stale_token(tmp_path):
    node = LockNode("no-fencing", tmp_path)
    assert node.handle({"type": "write", "token": 5})["status"] == "ok"
    assert node.handle({"type": "write", "token": 1})["status"] == "ok"


def test_leases_expire(tmp_path):
    node = LockNode("correct", tmp_path)
    acquire(node, "a", ttl=0.0)
    assert acquire(node, "b")["status"] == "ok"
