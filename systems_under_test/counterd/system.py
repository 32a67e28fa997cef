"""counterd's lifecycle for the harness, and its self-test rows."""

from __future__ import annotations

from harness.seams import Cluster, SelftestRow
from systems_under_test.counterd.client import CounterdClient
from systems_under_test.counterd.server import MODES
from systems_under_test.lifecycle import ServerPerNode

PORT = 7460
ALL_FAULTS = "partition,kill,pause,clock"


class Counterd(ServerPerNode):
    server_module = "systems_under_test.counterd.server"
    name = "counterd"
    modes = MODES
    port = PORT
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

    def primary(self, cluster: Cluster) -> str:
        return cluster.nodes[0].name

    def client(self, cluster: Cluster) -> CounterdClient:
        return CounterdClient(self.port)
