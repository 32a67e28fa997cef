"""queued's lifecycle for the harness, and its self-test rows."""

from __future__ import annotations

from harness.seams import Cluster, SelftestRow
from systems_under_test.lifecycle import ServerPerNode
from systems_under_test.queued.client import QueuedClient
from systems_under_test.queued.server import MODES

PORT = 7450
ALL_FAULTS = "partition,kill,pause,clock"


class Queued(ServerPerNode):
    server_module = "systems_under_test.queued.server"
    name = "queued"
    modes = MODES
    port = PORT
    workloads = ("queue",)
    capabilities = frozenset({"kill", "pause", "clock"})
    # Buggy rows run one node, the broker, so every fault lands on it and the flaw must show.
    selftest = (
        SelftestRow("correct", "queue", ALL_FAULTS, 3, True),
        SelftestRow("pop-without-ack", "queue", "pause", 1, False, ("lost",),
                    why="a pause outlasts the client's timeout; the broker then pops the waiting dequeues into closed sockets"),
        SelftestRow("in-memory", "queue", "kill", 1, False, ("lost",),
                    why="a killed broker restarts empty"),
        SelftestRow("ack-before-flush", "queue", "kill", 1, False, ("lost",),
                    why="a kill loses the enqueues acknowledged since the last flush"),
        SelftestRow("redeliver-no-dedupe", "queue", "kill", 1, False, ("duplicated",),
                    why="a restarted broker redelivers messages already acknowledged"),
    )
    description = ("A durable FIFO broker (first node; the others relay) with a write-ahead log, leased "
                   "dequeue, ack and redelivery; buggy modes pop-without-ack, in-memory, ack-before-flush, "
                   "redeliver-no-dedupe.")

    def client(self, cluster: Cluster) -> QueuedClient:
        return QueuedClient(self.port)
