"""queued's lifecycle for the harness, and its self-test rows."""

from __future__ import annotations

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from systems_under_test.lifecycle import answers_ping, server_argv
from systems_under_test.queued.client import QueuedClient
from systems_under_test.queued.server import MODES

PORT = 7450
ALL_FAULTS = "partition,kill,pause,clock"


class Queued:
    name = "queued"
    modes = MODES
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

    def __init__(self, mode: str = MODES[0], server_args: tuple[str, ...] = ()):
        if mode not in MODES:
            raise HarnessError(f"queued has no mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.server_args = tuple(server_args)

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package."""

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn(server_argv("systems_under_test.queued.server", cluster, node, PORT, self.mode, self.server_args))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return answers_ping(cluster, node, PORT)

    def client(self, cluster: Cluster) -> QueuedClient:
        return QueuedClient(PORT)

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
