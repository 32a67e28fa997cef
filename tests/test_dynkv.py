"""dynkv on real loopback processes: quorums, read repair, anti-entropy, and each buggy mode's
deviation in a scenario built from kills and restarts (no namespaces needed).

Nodes listen on their own 127.x.y.z address, all on dynkv's one port, as in a real cluster; they
are started through the `DynKV` system class on the shipped loopback runtime.
Kills (not pauses) cut nodes off: a paused node would still receive, on resume, the requests
queued in its socket buffer, which would blur the scenarios.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import pytest

from checkers import convergence, stale_reads
from harness import startup
from harness.history import Op
from harness.runtime.loopback import LoopbackCluster, LoopbackRuntime
from nemeses.clock import SHM_DIR, SHM_PATTERNS
from systems_under_test.dynkv.client import DynKVClient, key_text
from systems_under_test.dynkv.ring import Ring
from systems_under_test.dynkv.system import DynKV


def find_libfaketime() -> Path | None:
    """The clock nemesis's libfaketime (from the `libfaketime` Python package), else Debian's."""
    import importlib.util

    spec = importlib.util.find_spec("libfaketime")
    candidates = [Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")]
    if spec is not None and spec.submodule_search_locations:
        package = Path(list(spec.submodule_search_locations)[0])
        candidates.insert(0, package / "vendor" / "libfaketime" / "src" / "libfaketime.so.1")
    return next((path for path in candidates if path.exists()), None)


LIBFAKETIME = find_libfaketime()


@dataclass
class Harness:
    """A started dynkv cluster plus the history of the ops run through `op`."""

    system: DynKV
    cluster: LoopbackCluster
    history: list[Op] = field(default_factory=list)

    def op(self, node: str, f: str, key: Any, value: Any = None) -> Op:
        """Run one op through a fresh client on `node`, recording invocation and completion."""
        invocation = Op(type="invoke", f=f, value=[key, value], process=len(self.history), node=node)
        self.history.append(invocation)
        client = self.system.client(self.cluster)
        client.open(self.cluster, self.cluster.node(node))
        try:
            completion = client.invoke(invocation)
        finally:
            client.close()
        self.history.append(completion)
        return completion

    def kill(self, *names: str) -> None:
        for name in names:
            self.cluster.node(name).kill()

    def restart(self, *names: str) -> None:
        startup.start_cluster(self.cluster, self.system, [self.cluster.node(name) for name in names])

    def records(self, name: str) -> dict[str, Any]:
        return self.system.dump_replicas(self.cluster)[name]["records"]


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator:
    runtime = LoopbackRuntime()
    started: list[Harness] = []

    def start(mode: str, size: int = 3, extra_args: Sequence[str] = (), env: Mapping[str, dict] | None = None) -> Harness:
        run_dir = tmp_path / f"run{len(started)}"
        cluster = runtime.create(run_dir, [f"n{i}" for i in range(1, size + 1)], runtime.new_prefix())
        harness = Harness(DynKV(mode, tuple(extra_args)), cluster)
        started.append(harness)
        for node in cluster.nodes:
            node.spawn_env.update((env or {}).get(node.name, {}))
        harness.system.setup(cluster)
        startup.start_cluster(cluster, harness.system)
        return harness

    try:
        yield start
    finally:
        for harness in started:
            try:
                harness.system.teardown(harness.cluster)
            finally:
                runtime.destroy(harness.cluster)


NO_ANTI_ENTROPY = ("--anti-entropy-interval", "0")


def test_quorum_writes_are_read_from_every_node(start_cluster) -> None:
    h = start_cluster("strict")
    assert h.op("n1", "write", "k", 1).type == "ok"
    assert h.op("n2", "write", "k", 2).type == "ok"
    for name in ("n1", "n2", "n3"):
        assert h.op(name, "read", "k").value == ["k", 2]
    assert h.op("n3", "read", "other").value == ["other", None]
    assert stale_reads.check(h.history, {})["valid"] is True


def test_strict_serves_with_one_replica_down_and_refuses_without_a_quorum(start_cluster) -> None:
    h = start_cluster("strict", extra_args=NO_ANTI_ENTROPY)
    h.kill("n3")
    assert h.op("n1", "write", "k", 1).type == "ok"
    assert h.op("n2", "read", "k").value == ["k", 1]
    h.kill("n2")
    refused = h.op("n1", "write", "k", 2)
    assert refused.type == "fail", "no read quorum for the version: nothing was stored anywhere"
    assert h.op("n1", "read", "k").type == "fail"
    assert h.op("n1", "cas", "k", [1, 3]).type == "fail"
    h.restart("n2", "n3")
    assert h.op("n3", "read", "k").value == ["k", 1]


@pytest.mark.parametrize("mode, repaired", [("strict", True), ("no-read-repair", False)])
def test_a_read_writes_the_newest_value_back(start_cluster, mode: str, repaired: bool) -> None:
    h = start_cluster(mode, extra_args=NO_ANTI_ENTROPY)
    h.kill("n3")
    assert h.op("n1", "write", "k", "new").type == "ok"  # on n1 and n2 only
    h.restart("n3")
    h.kill("n2")
    assert h.op("n1", "read", "k").value == ["k", "new"]  # the quorum is n1 and the stale n3
    on_n3 = h.records("n3").get(key_text("k"), {}).get("value")
    assert on_n3 == ("new" if repaired else None)


@pytest.mark.parametrize("mode, first_write, reads", [("strict", "fail", [None, None]),
                                                      ("no-read-repair", "info", ["failed", None])])
def test_a_failed_write_is_read_once_and_then_lost_without_read_repair(
    start_cluster, mode: str, first_write: str, reads: list
) -> None:
    # GUIDE.md Q-c: a write short of its quorum stays where it landed; without write-back one
    # read sees it and the next does not (a new-then-old flicker, never linearizable).
    h = start_cluster(mode, extra_args=NO_ANTI_ENTROPY)
    h.kill("n2", "n3")
    assert h.op("n1", "write", "k", "failed").type == first_write
    # n3 stays down, so the first read's quorum is n1 and n2 for certain: with both up, the
    # replies of n2 and n3 could arrive before n1's own and hide the partial write.
    h.restart("n2")
    seen = [h.op("n1", "read", "k").value[1]]  # quorum n1 + n2
    h.kill("n1")
    h.restart("n3")
    seen.append(h.op("n2", "read", "k").value[1])  # quorum n2 + n3
    assert seen == reads


def test_anti_entropy_brings_a_restarted_replica_up_to_date(start_cluster) -> None:
    h = start_cluster("strict", extra_args=("--anti-entropy-interval", "0.2"))
    h.kill("n3")
    for i in range(5):
        assert h.op("n1", "write", f"k{i}", i).type == "ok"
    h.restart("n3")
    data = h.system.collect(h.cluster, window=30.0)
    assert data["settled"] is True
    assert {key: r["value"] for key, r in h.records("n3").items()} == {key_text(f"k{i}"): i for i in range(5)}
    assert convergence.check(h.history, {"system_data": data})["valid"] is True


def keys_placed(ring: Ring, on: str, not_on: str, count: int) -> list[str]:
    """Keys that `on` replicates and `not_on` does not."""
    keys = []
    for i in range(10_000):
        owners = ring.preference_list(key_text(f"pump{i}"))
        if on in owners and not_on not in owners:
            keys.append(f"pump{i}")
            if len(keys) == count:
                return keys
    raise AssertionError(f"no {count} keys on {on} and not on {not_on}")


@pytest.mark.parametrize("mode, expected", [("strict", "new"), ("per-node-version", "old")])
def test_a_busy_replicas_counter_outranks_a_newer_write(start_cluster, mode: str, expected: str) -> None:
    # GUIDE.md Q-a: replica state n0:('old', v6), n1:('new', v2), n2:('new', v2) after the put.
    h = start_cluster(mode, size=4, extra_args=NO_ANTI_ENTROPY)
    ring = Ring(["n1", "n2", "n3", "n4"], 3)
    key = next(f"k{i}" for i in range(1000) if len(ring.preference_list(key_text(f"k{i}"))) == 3)
    first, second, busy = ring.preference_list(key_text(key))
    # Run the busy replica's node-wide counter ahead: each pump key lands on it and on only one
    # of the other two replicas, so it counts 16 writes to their 8 each.
    pump_keys = keys_placed(ring, busy, first, 8) + keys_placed(ring, busy, second, 8)
    for pump_key in pump_keys:
        assert h.op(busy, "write", pump_key, 0).type == "ok"
    # A write returns once two replicas hold it; wait until the busy one has counted all 16, so
    # its counter is ahead of `first`'s (at most 8 + 2) for certain when "old" reaches it.
    deadline = time.monotonic() + 30
    while not all(key_text(k) in h.records(busy) for k in pump_keys):
        assert time.monotonic() < deadline, "the busy replica never stored every pump write"
        time.sleep(0.02)
    assert h.op(first, "write", key, "old").type == "ok"
    # A quorum of two acknowledged it; the third replica (the busy one) may store it a moment
    # later. Killing it before then would leave the outcome to a race.
    deadline = time.monotonic() + 30
    while h.records(busy).get(key_text(key), {}).get("value") != "old":
        assert time.monotonic() < deadline, "the busy replica never stored the write"
        time.sleep(0.02)
    h.kill(busy)
    assert h.op(first, "write", key, "new").type == "ok"  # on `first` and `second`
    h.restart(busy)
    h.kill(second)
    read = h.op(first, "read", key)
    assert read.type == "ok", read.error
    assert read.value == [key, expected]
    assert stale_reads.check(h.history, {})["valid"] is (expected == "new")


@pytest.mark.parametrize("mode, isolated_write", [("strict", "fail"), ("reachable-majority", "ok")])
def test_a_node_cut_off_alone_acknowledges_writes_only_in_reachable_majority(
    start_cluster, mode: str, isolated_write: str
) -> None:
    h = start_cluster(mode, extra_args=NO_ANTI_ENTROPY)
    h.kill("n2", "n3")
    assert h.op("n1", "write", "k", "alone").type == isolated_write
    h.restart("n2", "n3")
    h.kill("n1")
    assert h.op("n2", "read", "k").value == ["k", None]
    result = stale_reads.check(h.history, {})
    assert result["valid"] is (isolated_write == "fail")
    if not result["valid"]:
        assert result["anomalies"] == ["stale-read"]


@pytest.mark.skipif(LIBFAKETIME is None, reason="libfaketime is missing: run `bash scripts/setup.sh`")
@pytest.mark.parametrize("mode, expected", [("strict", "second"), ("wallclock-lww", "first")])
def test_a_write_from_a_slow_clock_loses_under_wallclock_lww(start_cluster, mode: str, expected: str) -> None:
    slow_clock = {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": "-3600",
                  "FAKETIME_DONT_FAKE_MONOTONIC": "1", "DONT_FAKE_MONOTONIC": "1"}
    h = start_cluster(mode, extra_args=NO_ANTI_ENTROPY, env={"n1": slow_clock})
    faked = h.cluster.node("n1")
    pid = faked.pid
    try:
        assert h.op("n2", "write", "k", "first").type == "ok"
        assert h.op("n1", "write", "k", "second").type == "ok"  # stamped an hour in the past
        assert h.op("n3", "read", "k").value == ["k", expected]
        assert stale_reads.check(h.history, {})["valid"] is (expected == "second")
    finally:
        # The preload is this test's own, not the clock nemesis's, so its files are ours to remove.
        faked.kill()
        for start in SHM_PATTERNS:
            (SHM_DIR / f"{start}{pid}").unlink(missing_ok=True)


@pytest.mark.parametrize("mode, converges", [("eventual", True), ("equal-version-no-repair", False)])
def test_equal_counters_from_both_sides_of_a_split_are_reconciled(start_cluster, mode: str, converges: bool) -> None:
    # GUIDE.md Q-g: after partitioned writes and a heal, a='from-a', b='from-b' forever.
    h = start_cluster(mode, extra_args=("--anti-entropy-interval", "0.2"))
    h.kill("n3")
    assert h.op("n1", "write", "k", "from-n1").type == "ok"  # counter 1, on n1 (and n2)
    h.kill("n1", "n2")
    h.restart("n3")
    assert h.op("n3", "write", "k", "from-n3").type == "ok"  # counter 1 again, on n3 alone
    h.restart("n1", "n2")
    data = h.system.collect(h.cluster, window=30.0 if converges else 3.0)
    result = convergence.check(h.history, {"system_data": data})
    assert data["settled"] is converges
    assert result["valid"] is converges
    if not converges:
        assert result["anomalies"] == ["divergent-replicas"]


class Recorder:
    """A thread-safe history: ops are appended as they happen, so list order is real-time order."""

    def __init__(self) -> None:
        self.ops: list[Op] = []
        self._lock = threading.Lock()

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = len(self.ops)
            op.time = time.monotonic_ns()
            self.ops.append(op)
        return op


def run_register_load(h: Harness, seconds: float, faults: Sequence[str], seed: int,
                      threads: int = 6, keys: int = 4, op_interval: float = 0.0) -> list[Op]:
    """Clients doing random reads and unique writes on a few keys against random nodes (each
    waiting `op_interval` s between ops), while a fault thread kills or pauses one node at a
    time; then everything heals and every key is read once more. Bounded by `seconds`."""
    recorder = Recorder()
    stop = threading.Event()
    names = [n.name for n in h.cluster.nodes]
    next_value = iter(range(1, 10**9))
    value_lock = threading.Lock()

    def client_loop(worker: int) -> None:
        rng = random.Random(f"{seed}:{worker}")
        process = worker
        clients: dict[str, DynKVClient] = {}
        try:
            while not stop.wait(op_interval * rng.uniform(0.5, 1.5)):
                node = rng.choice(names)
                if node not in clients:
                    clients[node] = h.system.client(h.cluster)
                    clients[node].open(h.cluster, h.cluster.node(node))
                key = rng.randrange(keys)
                if rng.random() < 0.5:
                    op = Op(type="invoke", f="read", value=[key, None], process=process, node=node)
                else:
                    with value_lock:
                        op = Op(type="invoke", f="write", value=[key, next(next_value)], process=process, node=node)
                recorder.append(op)
                completion = recorder.append(clients[node].invoke(op))
                if completion.type == "info":
                    process += threads  # an indeterminate op retires its process, as in Jepsen
        finally:
            for client in clients.values():
                client.close()

    def fault_loop() -> None:
        rng = random.Random(f"{seed}:faults")
        while not stop.wait(rng.uniform(0.5, 1.5)):
            node = h.cluster.node(rng.choice(names))
            fault = rng.choice(faults)
            recorder.append(Op(type="info", f=fault, value=node.name, process="nemesis"))
            if fault == "kill":
                node.kill()
                stop.wait(rng.uniform(0.3, 1.5))
                startup.start_cluster(h.cluster, h.system, [node])
            else:
                node.pause()
                stop.wait(rng.uniform(0.3, 1.5))
                node.resume()

    workers = [threading.Thread(target=client_loop, args=(i,)) for i in range(threads)]
    if faults:
        workers.append(threading.Thread(target=fault_loop))
    for worker in workers:
        worker.start()
    stop.wait(seconds)
    stop.set()
    for worker in workers:
        worker.join(timeout=60)
    for node in h.cluster.nodes:  # heal: every node up and running
        node.resume()
    startup.start_cluster(h.cluster, h.system, [node for node in h.cluster.nodes if not node.is_running()])
    for key in range(keys):
        op = recorder.append(Op(type="invoke", f="read", value=[key, None], process=10_000 + key, node=names[0]))
        client = h.system.client(h.cluster)
        client.open(h.cluster, h.cluster.node(names[0]))
        recorder.append(client.invoke(op))
        client.close()
    return recorder.ops


@pytest.mark.slow
def test_strict_mode_stays_linearizable_and_converges_under_kills_and_pauses(start_cluster) -> None:
    linearizable = pytest.importorskip("checkers.linearizable")
    h = start_cluster("strict", size=5, extra_args=("--anti-entropy-interval", "0.5"))
    history = run_register_load(h, seconds=30, faults=("kill", "pause"), seed=1)
    oks = sum(1 for op in history if op.type == "ok")
    assert oks > 100, "the load should get real work done between faults"
    assert stale_reads.check(history, {})["valid"] is True
    lin = linearizable.check(history, {"model": "cas-register", "keyed": True, "time_limit": 120})
    assert lin["valid"] is True, lin
    result = convergence.check(history, {"system_data": h.system.collect(h.cluster, window=30.0)})
    assert result["valid"] is True, result
