"""bank2pc on the loopback runtime, driven by scripted messages so each outcome is certain: a
participant killed between its vote and the commit, and presumed abort once a paused coordinator
comes back."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from harness import startup
from harness.history import Op
from harness.runtime.loopback import LoopbackCluster, LoopbackRuntime
from systems_under_test.bank2pc.system import PORT, Bank2PC
from systems_under_test.lifecycle import request

ACCOUNT_ON_N2 = 1  # account a lives on sorted(nodes)[a mod 3]


@pytest.fixture
def bank(tmp_path: Path) -> Iterator:
    runtime = LoopbackRuntime()
    started: list[LoopbackCluster] = []

    def start(mode: str) -> LoopbackCluster:
        cluster = runtime.create(tmp_path / f"run{len(started)}", ["n1", "n2", "n3"], runtime.new_prefix())
        started.append(cluster)
        system = Bank2PC(mode)
        startup.start_cluster(cluster, system)
        return cluster

    try:
        yield start
    finally:
        for cluster in started:
            for node in cluster.nodes:
                node.resume()
            runtime.destroy(cluster)


def send(cluster: LoopbackCluster, name: str, message: dict[str, Any]) -> dict[str, Any]:
    return request(cluster, cluster.node(name), PORT, message, 5.0)


def restart(cluster: LoopbackCluster, name: str) -> None:
    node = cluster.node(name)
    node.kill()
    node.restart()
    deadline = time.monotonic() + 60
    while not Bank2PC("correct").ready(cluster, node):
        assert time.monotonic() < deadline, f"{name} did not come back"
        time.sleep(0.2)


def prepare_on_n2(cluster: LoopbackCluster, txn: str) -> None:
    vote = send(cluster, "n2", {"type": "prepare", "txn": txn, "coordinator": "n1",
                                "deltas": {str(ACCOUNT_ON_N2): -3}})
    assert vote == {"status": "ok", "vote": True}


def test_a_transfer_and_a_read_keep_the_total(bank) -> None:
    cluster = bank("correct")
    client = Bank2PC("correct").client(cluster)
    client.open(cluster, cluster.node("n1"))
    try:
        done = client.invoke(Op("invoke", "transfer", {"from": 0, "to": ACCOUNT_ON_N2, "amount": 4}, process=0))
        assert done.type == "ok" and done.value["txn"]
        read = client.invoke(Op("invoke", "read", None, process=0))
        assert read.type == "ok" and read.value[0] == 6 and read.value[ACCOUNT_ON_N2] == 14 and sum(read.value) == 80
    finally:
        client.close()


@pytest.mark.parametrize("mode, remembers", [("correct", True), ("no-prepare-log", False)])
def test_a_participant_killed_after_its_vote_keeps_it_only_when_prepared_is_logged(bank, mode: str, remembers: bool) -> None:
    cluster = bank(mode)
    cluster.node("n1").pause()  # the coordinator cannot answer, so the vote stays in doubt
    prepare_on_n2(cluster, "t1")
    restart(cluster, "n2")
    assert ("t1" in send(cluster, "n2", {"type": "dump"})["in_doubt"]) is remembers
    assert send(cluster, "n2", {"type": "commit", "txn": "t1"})["status"] == "ok"
    balances = send(cluster, "n2", {"type": "dump"})["balances"]
    # no-prepare-log acknowledges the commit and drops its half of the transfer
    assert balances[str(ACCOUNT_ON_N2)] == (7 if remembers else 10)


def test_an_in_doubt_vote_resolves_by_presumed_abort_when_the_coordinator_returns(bank) -> None:
    cluster = bank("correct")
    cluster.node("n1").pause()
    prepare_on_n2(cluster, "t2")
    time.sleep(2)  # longer than a participant waits before it asks
    assert "t2" in send(cluster, "n2", {"type": "dump"})["in_doubt"]
    cluster.node("n1").resume()
    deadline = time.monotonic() + 60
    while send(cluster, "n2", {"type": "dump"})["outcomes"].get("t2") != "abort":
        assert time.monotonic() < deadline, "t2 never resolved"
        time.sleep(0.2)
    assert send(cluster, "n1", {"type": "dump"})["decisions"]["t2"][0] == "abort"
    # the abort is logged, so a late commit can no longer win
    assert send(cluster, "n1", {"type": "status", "txn": "t2"})["outcome"] == "abort"
