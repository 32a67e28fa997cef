"""Redis 7 as a faultline system: one primary (n1) and asynchronous replicas (n2, n3, ...).

Each node runs Debian's `redis-server` through `NodeHandle.spawn`, configured on its command
line: bound to the node's address, data in the node's data directory, no RDB snapshots. The
primary keeps an append-only file fsynced before every reply (`appendfsync always`), so a
primary killed and restarted still holds every write it acknowledged. Replicas follow it with
`--replicaof` and, as Redis does by default, keep answering reads while cut off from it
(`replica-serve-stale-data yes`).

Modes (see `faultline_redis.client`): `primary` sends every op to n1, a single copy, so it is
linearizable under partitions, kills and pauses. `replica-reads` reads from the node a client
is bound to: a replica cut off from the primary serves values the primary has since
overwritten, which the stale-reads and linearizability checkers catch. `counter-retry` is the
seeds' counter (`faultline_redis.counter`): INCR behind a blind retry, which over-counts.
"""

from __future__ import annotations

import shutil
from typing import Any

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from faultline_redis.client import RedisClient
from faultline_redis.counter import CounterClient
from faultline_redis.lock import RedisLockClient
from faultline_redis.resp import Connection, ReplyError, parse_info

PORT = 6379
# counter-retry: faultline_redis.counter; the lock modes: faultline_redis.lock
MODES = ("primary", "replica-reads", "counter-retry", "lock", "fenced-lock")
PROBE_TIMEOUT = 1.0


def find_server() -> str:
    """The redis-server binary, or the one line that says how to get it."""
    path = shutil.which("redis-server")
    if path is None:
        raise HarnessError("redis-server is not installed: `apt-get install redis-server` "
                           "(or `bash scripts/setup.sh --test`)")
    return path


class Redis:
    name = "redis"
    modes = MODES
    workloads = ("register", "counter", "lock")  # counter: mode counter-retry; lock: the lock modes
    # `kill`: the primary's append-only file is fsynced before each reply, and a restarted
    # replica resynchronises from the primary. `pause`: SIGSTOP stops the whole server. Not
    # `clock`: nothing here checks that redis-server honours the libfaketime preload.
    capabilities = frozenset({"kill", "pause"})
    node_packages = ("redis-server",)  # built into the docker runtime's node image
    # Seconds for every node to get ready. redis-server starts in milliseconds and a full sync of
    # a test's few keys takes as long, so 15 s is generous even on a loaded machine; it also
    # bounds how long a nemesis restarting a replica that is cut off from the primary (which
    # cannot be ready before the heal) holds the nemesis thread.
    start_timeout = 15.0
    # Rows of `faultline selftest`. The primary is what both modes' faults aim at: killing it
    # tests the fsynced append-only file, cutting it off leaves the replicas serving old values.
    selftest = (
        SelftestRow("primary", "register", "partition,kill:primary,pause:primary", 3, True, nemesis_interval=3.0,
                    why="one copy at the primary, fsynced before each reply"),
        SelftestRow("replica-reads", "register", "partition:primary", 3, False, ("stale-read",),
                    nemesis_interval=3.0, why="a replica cut off from the primary answers reads from old data"),
        SelftestRow("counter-retry", "counter", "pause:primary", 3, False, ("over-count",),
                    why="INCRs sent to a paused primary time out and are retried; on resume Redis runs them all"),
        SelftestRow("lock", "lock", "pause-client", 3, False, ("stale-token-accepted",), concurrency=2, rate=20.0,
                    nemesis_interval=4.0, why="a holder paused past its TTL wakes and writes after the next holder"),
        SelftestRow("fenced-lock", "lock", "pause-client,partition,kill:primary,pause:primary", 3, True,
                    concurrency=3, rate=20.0, why="the store script refuses a token below the highest seen"),
    )
    description = (
        "Redis 7 (Debian's redis-server): n1 is the primary, the other nodes asynchronous "
        "replicas. primary: every op at the primary (one copy, fsynced AOF). replica-reads: "
        "reads at the client's own node, so replicas answer stale while cut off."
    )

    def __init__(self, mode: str = MODES[0], server_args: tuple[str, ...] = ()):
        if mode not in MODES:
            raise HarnessError(f"redis has no mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.server_args = tuple(server_args)  # appended to every node's redis-server command line
        self.port = PORT
        self.binary: str | None = None

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the binary comes from Debian's package, on this machine, in the
        docker image (`node_packages`) or on the ssh hosts; only make sure it is there."""
        self.binary = find_server()

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        """The node's whole configuration, on the command line."""
        argv = [
            self.binary or find_server(),
            "--bind", node.address,
            "--port", str(self.port),
            "--dir", str(node.data_dir),
            "--protected-mode", "no",
            "--daemonize", "no",
            "--supervised", "no",
            "--logfile", "",  # stdout, which the node handle writes to its server.log
            "--save", "",  # no RDB snapshots: the primary's durability is its AOF alone
        ]
        primary = cluster.nodes[0]
        if node.name == primary.name:
            # No wait before streaming a full sync to a (re)started replica: Redis's default
            # 5 s delay batches replicas, which here only slows start-up and recovery.
            argv += ["--appendonly", "yes", "--appendfsync", "always", "--repl-diskless-sync-delay", "0"]
        else:
            argv += ["--appendonly", "no", "--replicaof", primary.address, str(self.port),
                     "--replica-serve-stale-data", "yes", "--replica-read-only", "yes"]
        return argv + list(self.server_args)

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        """Spawn only: a replica cannot be ready before the primary runs, so readiness is asked
        later, of every node, by `ready`."""
        node.spawn(self.argv(cluster, node))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        """The primary: it answers as master and has loaded its AOF. A replica: its link to the
        primary is up and the initial sync is done."""
        info = self.info(cluster, node)
        if info.get("loading") != "0":
            return False
        if node.name == cluster.nodes[0].name:
            return info.get("role") == "master"
        return info.get("role") == "slave" and info.get("master_link_status") == "up" \
            and info.get("master_sync_in_progress") == "0"

    def info(self, cluster: Cluster, node: NodeHandle) -> dict[str, str]:
        """`INFO replication persistence keyspace` of one node, on a fresh connection."""
        conn = Connection(cluster.connect(node, self.port, PROBE_TIMEOUT))
        try:
            return parse_info(conn.call("INFO", "replication", "persistence", "keyspace"))
        finally:
            conn.close()

    def primary(self, cluster: Cluster) -> str:
        """Fixed: n1 is the primary for the whole test (no failover here)."""
        return cluster.nodes[0].name

    def client(self, cluster: Cluster) -> RedisClient | CounterClient | RedisLockClient:
        if self.mode == "counter-retry":
            return CounterClient(self.port)
        if self.mode in ("lock", "fenced-lock"):
            return RedisLockClient(self.mode, self.port)
        return RedisClient(self.mode, self.port)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        """Each node's replication state at the end: how far each replica got, and whether its
        link is up, beside the keys it holds."""
        keep = ("role", "master_link_status", "master_repl_offset", "slave_repl_offset", "db0", "aof_enabled")
        nodes: dict[str, Any] = {}
        for node in cluster.nodes:
            try:
                info = self.info(cluster, node)
                nodes[node.name] = {k: info[k] for k in keep if k in info}
            except (OSError, ValueError, ReplyError) as e:
                nodes[node.name] = {"error": f"{type(e).__name__}: {e}"}
        return {"mode": self.mode, "nodes": nodes}

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
