"""The Redis example (examples/redis, the `faultline-redis` package): a real third-party system
plugged in from outside through the `faultline.systems` entry point.

Quick tests run Debian's redis-server on the loopback runtime (no root): the RESP encoding, the
register ops in both modes, and a killed primary that restarts with every acknowledged write.
The slow tests run the real CLI, `faultline test`, on namespaces and read results.json: the
primary mode is valid under partitions and kills of the primary; the replica-reads mode is
invalid with `stale-read` named, under a schedule that cuts the primary off for sure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

pytest.importorskip("faultline_redis", reason="the Redis example is not installed: pip install -e examples/redis")

from faultline_redis.client import RedisClient  # noqa: E402
from faultline_redis.resp import Connection, ReplyError, encode  # noqa: E402
from faultline_redis.system import PORT, Redis  # noqa: E402

import exposure  # noqa: E402
from remote_runtimes import RuntimeUnderTest, docker_engine, runtime, ssh_hosts  # noqa: E402,F401  (runtime: local, docker, ssh)
from harness.history import Op
from harness.history_reader import read_history
from harness.runtime.loopback import LoopbackCluster, LoopbackRuntime  # noqa: E402
from harness.startup import start_cluster, start_nodes  # noqa: E402

needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None,
                                 reason="redis-server is not installed (apt-get install redis-server, "
                                        "or bash scripts/setup.sh --test)")
WAIT = 30.0
FAULTLINE = Path(sys.executable).with_name("faultline")


def wait_for(condition: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def op(f: str, key: int, value: Any = None, process: int = 0) -> Op:
    return Op(type="invoke", f=f, value=[key, value], process=process)


def test_encode_is_an_array_of_bulk_strings() -> None:
    assert encode("SET", "r1", 7) == b"*3\r\n$3\r\nSET\r\n$2\r\nr1\r\n$1\r\n7\r\n"
    assert encode("GET", b"") == b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n"
    with pytest.raises(TypeError):
        encode("SET", "k", None)  # type: ignore[arg-type]


@pytest.fixture
def redis_cluster(tmp_path: Path):
    """A started 3-node Redis (n1 primary, n2 and n3 replicas) on the loopback runtime."""
    runtime = LoopbackRuntime()
    runtime.check_prerequisites()
    made: list[LoopbackCluster] = []

    def make(mode: str = "primary") -> tuple[Redis, LoopbackCluster]:
        cluster = runtime.create(tmp_path / f"c{len(made)}", ["n1", "n2", "n3"], runtime.new_prefix())
        made.append(cluster)
        system = Redis(mode)
        system.setup(cluster)
        start_cluster(cluster, system)
        return system, cluster

    try:
        yield make
    finally:
        for cluster in made:
            for node in cluster.nodes:
                node.stop()
            runtime.destroy(cluster)


@needs_redis
def test_resp_replies_of_every_kind(redis_cluster) -> None:
    system, cluster = redis_cluster()
    conn = Connection(cluster.connect(cluster.nodes[0], PORT, 5.0))
    try:
        assert conn.call("PING") == "PONG"  # simple string
        assert conn.call("GET", "absent") is None  # null bulk string
        assert conn.call("SET", "k", "v") == "OK"
        assert conn.call("GET", "k") == b"v"  # bulk string
        assert conn.call("INCR", "n") == 1  # integer
        assert conn.call("MGET", "k", "absent") == [b"v", None]  # array with a null inside
        with pytest.raises(ReplyError) as error:
            conn.call("INCR", "k")
        assert error.value.code == "ERR"
        assert conn.call("PING") == "PONG"  # an error reply leaves the connection in step
        assert not conn.peer_closed()
        assert conn.call("QUIT") == "OK"
        wait_for(conn.peer_closed, "the server to close the connection after QUIT")
    finally:
        conn.close()


@needs_redis
def test_register_ops_in_primary_mode(redis_cluster) -> None:
    system, cluster = redis_cluster("primary")
    client = system.client(cluster)
    client.open(cluster, cluster.node("n2"))  # bound to a replica, yet every op goes to n1
    try:
        assert client.invoke(op("read", 1)).value == [1, None]
        assert client.invoke(op("write", 1, 5)).type == "ok"  # a replica would refuse it (READONLY)
        assert client.invoke(op("read", 1)).value == [1, 5]
        assert client.invoke(op("cas", 1, [5, 6])).type == "ok"
        mismatch = client.invoke(op("cas", 1, [5, 7]))
        assert (mismatch.type, mismatch.error) == ("fail", "cas-mismatch")
        assert client.invoke(op("read", 1)).value == [1, 6]
        assert client.invoke(op("cas", 2, [None, 1])).type == "ok"  # None: never written
        assert client.invoke(op("cas", 2, [None, 2])).type == "fail"
        assert client.invoke(op("read", 2)).value == [2, 1]
    finally:
        client.close()


@needs_redis
def test_replica_reads_mode_reads_the_bound_node(redis_cluster) -> None:
    system, cluster = redis_cluster("replica-reads")
    client = system.client(cluster)
    client.open(cluster, cluster.node("n3"))
    try:
        assert client.invoke(op("write", 9, 41)).type == "ok"  # writes still go to the primary
        wait_for(lambda: client.invoke(op("read", 9)).value == [9, 41], "n3 to replicate the write")
        # The read really was n3's: n3 holds the key in its own keyspace.
        assert Connection(cluster.connect(cluster.node("n3"), PORT, 5.0)).call("GET", "r9") == b"41"
    finally:
        client.close()


@needs_redis
def test_killed_primary_keeps_acknowledged_writes(redis_cluster) -> None:
    """The AOF is fsynced before each reply, so SIGKILL loses nothing acknowledged; and the
    client reconnects to the restarted server without calling its next op unknown."""
    system, cluster = redis_cluster("primary")
    client = system.client(cluster)
    client.open(cluster, cluster.node("n1"))
    try:
        for v in range(1, 51):
            assert client.invoke(op("write", v % 5, v)).type == "ok"
        primary = cluster.node("n1")
        primary.kill()
        report = start_nodes(cluster, system, [primary])
        assert report.ready == ["n1"], report.not_ready
        reads = [client.invoke(op("read", k)) for k in range(5)]
        assert [r.type for r in reads] == ["ok"] * 5  # not info: the dead connection was noticed
        assert [r.value for r in reads] == [[k, 45 + k if k else 50] for k in range(5)]
    finally:
        client.close()


@needs_redis
def test_unknown_mode_is_refused() -> None:
    from harness.seams import HarnessError

    with pytest.raises(HarnessError, match="replica-reads"):
        Redis("eventual")


# -- end to end, through the real CLI ----------------------------------------------------------


def run_cli(store: Path, *args: str, runtime: RuntimeUnderTest = RuntimeUnderTest("local")) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """`faultline test` as a user runs it; returns its exit code, results.json and the history."""
    argv = [str(FAULTLINE), "test", *runtime.flags, "--system", "redis", "--workload", "register", "--nodes", "3",
            "--store", str(store), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    runs = sorted(p.parent for p in store.glob("*/*/results.json"))
    assert runs, f"no results.json under {store}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    run = runs[-1]
    results = json.loads((run / "results.json").read_text())
    history = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines() if line.strip()]
    return done.returncode, results, history


def checker_results(results: dict[str, Any]) -> dict[str, Any]:
    return results.get("checkers", results)


def fault_windows(history: list[dict[str, Any]], start: str, stop: str) -> list[tuple[float, float]]:
    """(start, stop) seconds of each fault interval the nemesis completed, from the history."""
    windows, opened = [], None
    last = max(op["time"] for op in history) / 1e9
    for o in history:
        if o["process"] != "nemesis" or o["type"] == "invoke":
            continue
        if o["f"] == start and opened is None:
            opened = o["time"] / 1e9
        elif o["f"] == stop and opened is not None:
            windows.append((opened, o["time"] / 1e9))
            opened = None
    if opened is not None:
        windows.append((opened, last))
    return windows


@needs_redis
@pytest.mark.slow
@pytest.mark.root
def test_primary_mode_is_valid_under_partition_and_kill(tmp_path: Path) -> None:
    code, results, history = run_cli(
        tmp_path, "--mode", "primary", "--nemesis", "partition,kill:primary",
        "--nemesis-interval", "3", "--time-limit", "30", "--seed", "3")
    killed = [o for o in history if o["process"] == "nemesis" and o["f"] == "kill" and o["type"] != "invoke"
              and "n1" in (o.get("value") or {}).get("killed", [])]
    assert killed, "the schedule never killed the primary, so this run proves nothing about the AOF"
    assert fault_windows(history, "partition", "heal"), "the schedule never partitioned"
    checkers = checker_results(results)
    assert code == 0, json.dumps(checkers, indent=1)[:4000]
    assert checkers["linearizable"]["valid"] is True
    assert checkers["stale-reads"]["valid"] is True


@needs_redis
@pytest.mark.slow
@pytest.mark.root
def test_replica_reads_are_caught_stale_under_a_primary_partition(tmp_path: Path, runtime: RuntimeUnderTest) -> None:
    """On every runtime: an outside plug-in whose server is a Debian binary (the docker image
    gets it from `node_packages`). With seed 1 and a 3 s mean interval, the schedule cuts the primary off from both
    replicas for several seconds (checked below from the history, so a change to the schedule
    fails here by name, not by luck). Clients keep reaching every node, so writes keep landing
    at n1 while clients bound to n2 and n3 read the replicas' frozen copies: a stale read is
    certain, not likely."""
    code, results, history = run_cli(
        tmp_path, "--mode", "replica-reads", "--nemesis", "partition:primary",
        "--nemesis-interval", "3", "--time-limit", "30", "--seed", "1", runtime=runtime)
    windows = fault_windows(history, "partition", "heal")
    assert any(stop - start >= 2.0 for start, stop in windows), f"no long primary partition: {windows}"
    # Within such a cut: a write acknowledged at n1 and, after it, a read at a replica of the same
    # key with no other write of that key in flight (tests/exposure.py says why that read is
    # stale for certain).
    journal = read_history(sorted(tmp_path.glob("*/*/history.jsonl"))[-1])
    assert exposure.blind_read(journal, exposure.side_of_node("n1")), "no read at a replica that cannot see an acked write"
    checkers = checker_results(results)
    assert code == 1, json.dumps(checkers, indent=1)[:4000]
    assert "stale-read" in checkers["stale-reads"]["anomalies"]
    assert checkers["linearizable"]["valid"] is False
