"""counterd's lifecycle for the harness, and its self-test rows."""

from __future__ import annotations

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from systems_under_test.counterd.client import CounterdClient
from systems_under_test.counterd.server import MODES
from systems_under_test.lifecycle import answers_ping, server_argv

PORT = 7460
ALL_FAULTS = "partition,kill,pause,clock"


class Counterd:
    name = "counterd"
    modes = MODES
    workloads = ("counter",)
    capabilities = frozenset({"kill", "pause", "clock"})
    selftest = (
        SelftestRow("correct", "counter", ALL_FAULTS, 3, True),
        SelftestRow("retry-without-idempotency-key", "counter", "pause", 1, False, ("over-count",),
                    why="a pause outlasts the client's timeout; its retries queue up and all apply on resume"),
        SelftestRow("async-replica-failover", "counter", "kill:primary", 3, False, ("under-count",),
                    why="n1 dies with increments not yet shipped; n2 takes over from its stale copy"),
    )
    description = ("A counter with idempotency keys at a primary (n1); clients retry timed-out adds. "
                   "Buggy modes: retry-without-idempotency-key, async-replica-failover.")

    def __init__(self, mode: str = MODES[0], server_args: tuple[str, ...] = ()):
        if mode not in MODES:
            raise HarnessError(f"counterd has no mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.server_args = tuple(server_args)

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package."""

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn(server_argv("systems_under_test.counterd.server", cluster, node, PORT, self.mode, self.server_args))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return answers_ping(cluster, node, PORT)

    def primary(self, cluster: Cluster) -> str:
        return cluster.nodes[0].name

    def client(self, cluster: Cluster) -> CounterdClient:
        return CounterdClient(PORT)

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
