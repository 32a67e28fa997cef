"""raftkv on real loopback processes: election, replication, restart, and each buggy mode's
deviation in a targeted scenario.

Every node listens on the system's own port on an address of its own in 127.0.0.0/8 (a random
/24 per cluster), so `RaftKV.start`, its client and `collect` run unchanged on the shipped
loopback runtime. Scenarios that need a precise interleaving (a second candidate
in the same term, a gap in the log) play the other nodes themselves: they run one real node with
a long election timeout and send it the peers' RPCs directly, or, when that node must campaign,
answer its vote requests from small servers on the peers' addresses (`FakePeer`).
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import pytest

from checkers import election_safety, linearizable, log_agreement
from harness.history import Op
from harness.runtime.loopback import LoopbackCluster, LoopbackNode, LoopbackRuntime
from harness.startup import start_cluster
from systems_under_test import wire
from systems_under_test.raftkv.system import RaftKV

WAIT = 30.0  # generous: elections on a loaded 2-core machine


@pytest.fixture
def make_cluster(tmp_path: Path):
    runtime = LoopbackRuntime()
    made: list[LoopbackCluster] = []

    def make(size: int, mode: str = "correct") -> tuple[RaftKV, LoopbackCluster]:
        names = [f"n{i}" for i in range(1, size + 1)]
        cluster = runtime.create(tmp_path / f"cluster{len(made)}", names, runtime.new_prefix())
        made.append(cluster)
        return RaftKV(mode), cluster

    try:
        yield make
    finally:
        for cluster in made:
            runtime.destroy(cluster)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def ping(system: RaftKV, cluster: LoopbackCluster, node: LoopbackNode) -> dict[str, Any] | None:
    if not node.is_running():
        return None
    try:
        return system.call(cluster, node, {"type": "ping"}, 2.0)
    except wire.WireError:
        return None


def stable_leader(system: RaftKV, cluster: LoopbackCluster) -> LoopbackNode | None:
    """The leader every running node follows, once they all agree on it and its term."""
    statuses = [ping(system, cluster, n) for n in cluster.nodes if n.is_running()]
    if not statuses or any(s is None for s in statuses):
        return None
    views = {(s["leader"], s["term"]) for s in statuses}  # type: ignore[index]
    if len(views) != 1:
        return None
    leader, _ = views.pop()
    return cluster.node(leader) if leader and cluster.node(leader).is_running() else None


def start_all(system: RaftKV, cluster: LoopbackCluster, nodes: Sequence[LoopbackNode] | None = None) -> None:
    start_cluster(cluster, system, nodes)


def invoke(system: RaftKV, cluster: LoopbackCluster, node: LoopbackNode, f: str, key: Any, value: Any) -> Op:
    client = system.client(cluster)
    client.open(cluster, node)
    try:
        return client.invoke(Op(type="invoke", f=f, value=[key, value], process=0, node=node.name))
    finally:
        client.close()


def test_elects_one_leader_and_serves_register_ops_through_any_node(make_cluster):
    system, cluster = make_cluster(3)
    start_all(system, cluster)
    leader = wait_for(lambda: stable_leader(system, cluster), "a leader all nodes follow")
    follower = next(n for n in cluster.nodes if n is not leader)
    assert system.primary(cluster) == leader.name

    # A client bound to a follower is redirected to the leader.
    assert invoke(system, cluster, follower, "write", 1, 10).type == "ok"
    assert invoke(system, cluster, follower, "read", 1, None).value == [1, 10]
    assert invoke(system, cluster, follower, "cas", 1, [10, 11]).type == "ok"
    refused = invoke(system, cluster, follower, "cas", 1, [10, 12])
    assert refused.type == "fail" and refused.error == "cas-mismatch"
    assert invoke(system, cluster, leader, "read", 1, None).value == [1, 11]
    assert invoke(system, cluster, leader, "read", "never-written", None).value == ["never-written", None]

    # Every node ends with the same committed log, and one leader for the one term.
    wait_for(lambda: all(ping(system, cluster, n)["commit_index"] >= 4 for n in cluster.nodes), "commit on all")
    data = system.collect(cluster)
    assert data["unreachable"] == {}
    assert log_agreement.check([], {"system_data": data})["valid"] is True
    safety = election_safety.check([], {"system_data": data})
    assert safety["valid"] is True and safety["elections"] >= 1

    # A node that is down at the end still contributes its leader events, read from its disk.
    leader.kill()
    data = system.collect(cluster)
    assert list(data["unreachable"]) == [leader.name]
    assert data["nodes"][leader.name]["committed"] is None
    assert {e["node"] for e in data["nodes"][leader.name]["events"]} == {leader.name}
    assert election_safety.check([], {"system_data": data})["valid"] is True
    assert log_agreement.check([], {"system_data": data})["valid"] is True


def test_writes_survive_a_leader_kill_and_a_full_restart_replays_the_log(make_cluster):
    system, cluster = make_cluster(3)
    start_all(system, cluster)
    first = wait_for(lambda: stable_leader(system, cluster), "a first leader")
    for v in range(5):
        assert invoke(system, cluster, first, "write", "k", v).type == "ok"

    first.kill()
    survivor = next(n for n in cluster.nodes if n is not first)
    second = wait_for(lambda: stable_leader(system, cluster), "a leader among the two survivors")
    assert second is not first
    assert invoke(system, cluster, survivor, "read", "k", None).value == ["k", 4]
    assert invoke(system, cluster, survivor, "write", "k", 5).type == "ok"

    start_cluster(cluster, system, [first])  # catches up from the new leader
    wait_for(lambda: (ping(system, cluster, first) or {}).get("commit_index", 0) >= 7, "the old leader to catch up")

    for node in cluster.nodes:
        node.kill()
    start_all(system, cluster)
    wait_for(lambda: stable_leader(system, cluster), "a leader after the full restart")
    assert invoke(system, cluster, cluster.nodes[0], "read", "k", None).value == ["k", 5]
    wait_for(lambda: all(ping(system, cluster, n)["commit_index"] >= 9 for n in cluster.nodes), "commit on all")
    data = system.collect(cluster)
    assert log_agreement.check([], {"system_data": data})["valid"] is True
    assert election_safety.check([], {"system_data": data})["valid"] is True


@pytest.mark.parametrize("mode, elects", [("majority-excl-self", True), ("correct", False)])
def test_majority_excl_self_lets_two_of_four_nodes_elect_and_commit(make_cluster, mode, elects):
    system, cluster = make_cluster(4, mode)
    up = cluster.nodes[:2]  # n3 and n4 stay down: half the cluster
    start_all(system, cluster, up)
    if elects:
        leader = wait_for(lambda: stable_leader(system, cluster), "two of four nodes to elect a leader")
        assert invoke(system, cluster, leader, "write", 1, 1).type == "ok"
    else:
        # No majority can form; watch several election rounds go by without a leader.
        wait_for(lambda: all(ping(system, cluster, n)["term"] >= 3 for n in up), "three election rounds")
        assert stable_leader(system, cluster) is None
        assert invoke(system, cluster, up[0], "write", 1, 1).type in ("fail", "info")


@pytest.mark.parametrize("mode", ["no-persist", "correct"])
def test_no_persist_forgets_term_vote_and_log_on_restart(make_cluster, mode):
    system, cluster = make_cluster(3, mode)
    start_all(system, cluster)
    leader = wait_for(lambda: stable_leader(system, cluster), "a leader")
    for v in range(3):
        assert invoke(system, cluster, leader, "write", "k", v).type == "ok"
    node = cluster.nodes[0]

    def settled() -> dict[str, Any] | None:
        """n1's status once every node holds and has committed the same log in the same term:
        an acknowledged write may still be on its way to one follower, and a look at that
        follower before it arrives would compare the restart with a state that was passing."""
        statuses = [ping(system, cluster, n) for n in cluster.nodes]
        if any(s is None for s in statuses):
            return None
        views = {(s["term"], s["leader"], s["log_length"], s["commit_index"]) for s in statuses}  # type: ignore[index]
        term, leader, length, commit = next(iter(views))
        return statuses[0] if len(views) == 1 and leader and length >= 4 and commit == length else None

    before = wait_for(settled, "every node to hold and commit the same log")
    assert before["term"] >= 1 and before["log_length"] >= 4
    for n in cluster.nodes:  # n1 first, right after its status was taken
        n.kill()
    # Restart one node alone, with elections off, and look at what it remembers.
    node.spawn(system.argv(cluster, node) + ["--election-ms", "600000"])
    after = wait_for(lambda: ping(system, cluster, node), "the restarted node to answer")
    dump = system.call(cluster, node, {"type": "dump"}, 5.0)
    if mode == "no-persist":
        assert (after["term"], after["log_length"], dump["voted_for"]) == (0, 0, None)
    else:
        assert after["term"] == before["term"] and after["log_length"] == before["log_length"]


def fake_peer_node(system: RaftKV, cluster: LoopbackCluster) -> LoopbackNode:
    """Start n1 alone with elections off; the test speaks for n2 and n3."""
    node = cluster.nodes[0]
    node.spawn(system.argv(cluster, node) + ["--election-ms", "600000"])
    wait_for(lambda: ping(system, cluster, node), "n1 to answer")
    return node


def rpc(system: RaftKV, cluster: LoopbackCluster, node: LoopbackNode, message: dict[str, Any]) -> dict[str, Any]:
    return system.call(cluster, node, message, 5.0)


def vote_request(term: int, candidate: str) -> dict[str, Any]:
    return {"type": "vote", "term": term, "candidate": candidate, "last_index": 0, "last_term": 0}


def append_request(
    term: int, prev_index: int, prev_term: int, entries: list, commit: int = 0, leader: str = "n2"
) -> dict[str, Any]:
    return {
        "type": "append", "term": term, "leader": leader, "prev_index": prev_index,
        "prev_term": prev_term, "entries": entries, "commit": commit,
    }  # fmt: skip


@pytest.mark.parametrize("mode, second_vote", [("vote-reset-on-heartbeat", True), ("correct", False)])
def test_vote_reset_on_heartbeat_votes_twice_in_one_term(make_cluster, mode, second_vote):
    system, cluster = make_cluster(3, mode)
    node = fake_peer_node(system, cluster)
    assert rpc(system, cluster, node, vote_request(5, "n2"))["granted"] is True
    assert rpc(system, cluster, node, append_request(5, 0, 0, []))["success"] is True  # n2's heartbeat
    reply = rpc(system, cluster, node, vote_request(5, "n3"))
    assert reply["term"] == 5 and reply["granted"] is second_vote


def entry(term: int, n: int) -> dict[str, Any]:
    return {"term": term, "id": f"e{n}", "op": {"f": "write", "key": "k", "value": n}}


@pytest.mark.parametrize("mode, granted", [("vote-reset-on-heartbeat", True), ("correct", False)])
def test_vote_reset_on_heartbeat_votes_for_a_candidate_whose_log_is_behind(make_cluster, mode, granted):
    system, cluster = make_cluster(3, mode)
    node = fake_peer_node(system, cluster)
    assert rpc(system, cluster, node, append_request(2, 0, 0, [entry(2, 1)]))["success"] is True
    # n3 asks for term 3 with an empty log, although n1 holds an entry of term 2.
    reply = rpc(system, cluster, node, vote_request(3, "n3"))
    assert reply["term"] == 3 and reply["granted"] is granted


class FakePeer:
    """Plays n2 or n3 on its own address for a real n1: answers n1's vote requests (holding
    the answer until `release` is set, if given) and acknowledges its AppendEntries."""

    def __init__(self, system: RaftKV, node: LoopbackNode, grant: bool, release: threading.Event | None = None):
        self.grant, self.release = grant, release
        self.vote_terms: list[int] = []
        self.asked = threading.Condition()
        self.server = wire.serve(node.address, system.port, self.handle)

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg["type"] == "append":
            return {"term": msg["term"], "success": True}
        with self.asked:
            self.vote_terms.append(msg["term"])
            self.asked.notify_all()
        if self.release is not None:
            self.release.wait(WAIT)
        return {"term": msg["term"], "granted": self.grant}

    def wait_asked(self, term: int) -> None:
        with self.asked:
            assert self.asked.wait_for(lambda: term in self.vote_terms, WAIT), f"no vote request for term {term}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def candidate_with_fake_peers(make_cluster):
    """n1 for real with a long election timeout (its vote requests wait up to that long, and
    it stays a candidate at least that long); n2 grants only once released, n3 refuses."""
    peers: list[FakePeer] = []

    def make(mode: str) -> tuple[RaftKV, LoopbackCluster, FakePeer, FakePeer, threading.Event]:
        system, cluster = make_cluster(3, mode)
        release = threading.Event()
        n2 = FakePeer(system, cluster.nodes[1], grant=True, release=release)
        n3 = FakePeer(system, cluster.nodes[2], grant=False)
        peers.extend([n2, n3])
        node = cluster.nodes[0]
        node.spawn(system.argv(cluster, node) + ["--election-ms", "3000"])
        return system, cluster, n2, n3, release

    yield make
    for peer in peers:
        if peer.release is not None:
            peer.release.set()
        peer.close()


def leader_terms(system: RaftKV, cluster: LoopbackCluster, node: LoopbackNode) -> list[int]:
    events = rpc(system, cluster, node, {"type": "dump"})["events"]
    return [e["term"] for e in events if e["event"] == "leader"]


@pytest.mark.parametrize("mode", ["vote-reset-on-heartbeat", "correct"])
def test_vote_reset_on_heartbeat_candidate_takes_over_after_following_another_leader(
    candidate_with_fake_peers, mode
):
    system, cluster, n2, n3, release = candidate_with_fake_peers(mode)
    n1 = cluster.nodes[0]
    n2.wait_asked(1)
    n3.wait_asked(1)  # and refused
    # n3 won term 1 elsewhere; its heartbeat makes n1 its follower.
    assert rpc(system, cluster, n1, append_request(1, 0, 0, [], leader="n3"))["success"] is True
    assert ping(system, cluster, n1)["role"] == "follower"  # type: ignore[index]
    release.set()  # n2's grant for term 1 arrives now
    if mode == "vote-reset-on-heartbeat":
        wait_for(lambda: ping(system, cluster, n1)["role"] == "leader", "n1 to take over")  # type: ignore[index]
        assert leader_terms(system, cluster, n1) == [1]  # the term n3 leads
    else:
        n2.wait_asked(2)  # n1 went on to its next election: the late grant was long handled
        assert 1 not in leader_terms(system, cluster, n1)


@pytest.mark.parametrize("mode", ["vote-reset-on-heartbeat", "correct"])
def test_vote_reset_on_heartbeat_counts_a_grant_of_an_earlier_term(candidate_with_fake_peers, mode):
    system, cluster, n2, n3, release = candidate_with_fake_peers(mode)
    n1 = cluster.nodes[0]
    n2.wait_asked(1)
    n3.wait_asked(1)
    # n3 runs for term 2 and n1 votes for it, moving to term 2 as a follower.
    assert rpc(system, cluster, n1, vote_request(2, "n3"))["granted"] is True
    release.set()  # n2's grant for term 1 arrives now
    if mode == "vote-reset-on-heartbeat":
        wait_for(lambda: ping(system, cluster, n1)["role"] == "leader", "n1 to take over")  # type: ignore[index]
        assert leader_terms(system, cluster, n1) == [2]  # the term it voted for n3 in
    else:
        n2.wait_asked(3)
        assert 2 not in leader_terms(system, cluster, n1)


@pytest.mark.parametrize("mode", ["no-prevlog-check", "correct"])
def test_no_prevlog_check_appends_blindly(make_cluster, mode):
    system, cluster = make_cluster(3, mode)
    node = fake_peer_node(system, cluster)
    # An entry claimed to follow index 3, on a node whose log is empty.
    gap = rpc(system, cluster, node, append_request(1, 3, 1, [entry(1, 4)]))
    # The same entry 1 sent twice, as a leader does when a reply is lost.
    rpc(system, cluster, node, append_request(1, 0, 0, [entry(1, 1)]))
    rpc(system, cluster, node, append_request(1, 0, 0, [entry(1, 1)]))
    length = ping(system, cluster, node)["log_length"]  # type: ignore[index]
    if mode == "no-prevlog-check":
        assert gap["success"] is True and length == 3  # e4 at index 1, then e1 twice
    else:
        assert gap["success"] is False and length == 1


@pytest.mark.parametrize("mode", ["local-reads", "correct"])
def test_local_reads_answer_from_a_follower_without_asking_anyone(make_cluster, mode):
    system, cluster = make_cluster(3, mode)
    node = fake_peer_node(system, cluster)
    assert rpc(system, cluster, node, append_request(1, 0, 0, [entry(1, 7)], commit=1))["success"] is True
    reply = rpc(system, cluster, node, {"type": "client", "f": "read", "key": "k", "value": None})
    if mode == "local-reads":
        assert reply == {"status": "ok", "value": 7}
    else:
        assert reply == {"status": "not-leader", "leader": "n2"}


def run_clients_while(system: RaftKV, cluster: LoopbackCluster, fault: Callable[[], None], seconds: float) -> list[Op]:
    """Three clients on three keys (unique written values) for `seconds`, while `fault` runs
    once in the middle; returns the history with times, as the runner would record it."""
    history: list[Op] = []
    lock = threading.Lock()
    started = time.monotonic_ns()
    stop = time.monotonic() + seconds

    def record(op: Op) -> None:
        op.time = time.monotonic_ns() - started
        with lock:
            history.append(op)

    def client_loop(process: int) -> None:
        rng = random.Random(process)
        node = cluster.nodes[process % len(cluster.nodes)]
        client = system.client(cluster)
        client.open(cluster, node)
        n = 0
        while time.monotonic() < stop:
            n += 1
            key, f = rng.randrange(3), rng.choice(["read", "write", "cas"])
            value = {"read": None, "write": process * 10_000 + n, "cas": [rng.choice([None, *range(process * 10_000, process * 10_000 + n)]), process * 10_000 + n]}[f]
            invocation = Op(type="invoke", f=f, value=[key, value], process=process, node=node.name)
            record(invocation)
            completion = client.invoke(invocation)
            record(completion)
            if completion.type == "info":
                process += 100  # an indeterminate op retires its process, as in the runner
        client.close()

    threads = [threading.Thread(target=client_loop, args=(p,)) for p in range(3)]
    for t in threads:
        t.start()
    time.sleep(seconds / 3)  # let some history build up before the fault
    fault()
    for t in threads:
        t.join()
    return history


@pytest.mark.slow
def test_correct_mode_stays_linearizable_across_leader_kills(make_cluster):
    system, cluster = make_cluster(3)
    start_all(system, cluster)
    wait_for(lambda: stable_leader(system, cluster), "a leader")

    def kill_leaders() -> None:
        for _ in range(2):
            leader = wait_for(lambda: stable_leader(system, cluster), "a leader to kill")
            leader.kill()
            wait_for(lambda: stable_leader(system, cluster), "a new leader")
            start_cluster(cluster, system, [leader])

    history = run_clients_while(system, cluster, kill_leaders, 12.0)
    assert sum(op.type == "ok" for op in history) > 50
    result = linearizable.check(history, {"model": "cas-register", "keyed": True})
    assert result["valid"] is True, result.get("reason")
    wait_for(lambda: stable_leader(system, cluster), "a leader at the end")
    data = system.collect(cluster)
    assert log_agreement.check([], {"system_data": data})["valid"] is True
    assert election_safety.check([], {"system_data": data})["valid"] is True


class Recorder:
    """One client's ops in a history with times, as the runner would record them; an op whose
    outcome is unknown (`info`) retires its process, as in the runner."""

    def __init__(self, system: RaftKV, cluster: LoopbackCluster):
        self.system, self.cluster = system, cluster
        self.history: list[Op] = []
        self.process = 0
        self.started = time.monotonic_ns()

    def invoke(self, node: LoopbackNode, f: str, key: Any, value: Any) -> Op:
        invocation = Op(type="invoke", f=f, value=[key, value], process=self.process, node=node.name)
        invocation.time = time.monotonic_ns() - self.started
        self.history.append(invocation)
        client = self.system.client(self.cluster)
        client.open(self.cluster, node)
        try:
            completion = client.invoke(invocation)
        finally:
            client.close()
        completion.time = time.monotonic_ns() - self.started
        self.history.append(completion)
        if completion.type == "info":
            self.process += 1
        return completion

    def until_ok(self, node: LoopbackNode, f: str, key: Any, values: Callable[[int], Any], tries: int = 5) -> Op:
        """Retry an op (a fresh value each try) until one is acknowledged: on a loaded machine
        a leader change mid-op gives `info` or `fail`, which proves nothing either way."""
        for attempt in range(tries):
            completion = self.invoke(node, f, key, values(attempt))
            if completion.type == "ok":
                return completion
        raise AssertionError(f"no {f} of {key!r} was acknowledged in {tries} tries: {completion}")


def restart_everything_after_acknowledged_writes(make_cluster, mode: str) -> tuple[dict, dict, dict[str, Any]]:
    """Driven step by step, so the outcome is certain: writes acknowledged (so committed on a
    majority), every node killed at once, every node restarted, then a read of each key.
    Returns what was acknowledged, what the reads found, and the linearizability verdict."""
    system, cluster = make_cluster(3, mode)
    start_all(system, cluster)
    leader = wait_for(lambda: stable_leader(system, cluster), "a leader")
    recorder = Recorder(system, cluster)
    acknowledged = {}
    for key in range(3):
        acknowledged[key] = recorder.until_ok(leader, "write", key, lambda n, key=key: 100 * key + n).value[1]

    for node in cluster.nodes:  # kill -9 and wait: none restarts before all are down
        node.kill()
    start_all(system, cluster)
    wait_for(lambda: stable_leader(system, cluster), "a leader after the full restart")

    observed = {key: recorder.until_ok(cluster.nodes[0], "read", key, lambda n: None).value[1] for key in range(3)}
    return acknowledged, observed, linearizable.check(recorder.history, {"model": "cas-register", "keyed": True})


@pytest.mark.parametrize("mode", ["no-persist", "correct"])
def test_no_persist_loses_acknowledged_writes_when_every_node_restarts(make_cluster, mode):
    """In no-persist every restarted node has an empty log, so each read finds its key empty;
    the correct mode, on the same steps, reads back what it acknowledged."""
    acknowledged, observed, result = restart_everything_after_acknowledged_writes(make_cluster, mode)
    if mode == "no-persist":
        assert observed == {0: None, 1: None, 2: None}
        assert result["valid"] is False and result["anomalies"] == ["nonlinearizable"]
    else:
        assert observed == acknowledged
        assert result["valid"] is True, result.get("reason")


@pytest.mark.reliability
def test_no_persist_loss_shows_on_every_try(make_cluster):
    """Issue 11 defect 10: this scenario once ran as a random load that a lucky run passed.
    Driven, it must catch the loss every time; prints the figures."""
    tries, missed = 3, 0
    for _ in range(tries):
        _, observed, result = restart_everything_after_acknowledged_writes(make_cluster, "no-persist")
        missed += result["valid"] is not False or any(v is not None for v in observed.values())
    print(f"\nno-persist full restart: {tries} tries, {missed} where the loss did not show (want 0)")
    assert missed == 0
