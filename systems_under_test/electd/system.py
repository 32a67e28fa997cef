"""electd for the harness: every node campaigns; the last node also serves the lease store."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, NodeHandle, SelftestRow
from systems_under_test import wire
from systems_under_test.electd.client import ElectdClient
from systems_under_test.electd.server import MODES
from systems_under_test.lifecycle import ServerPerNode, request, server_argv

PORT = 7500
ALL_FAULTS = "pause-client,partition,kill,pause,clock"


class Electd(ServerPerNode):
    server_module = "systems_under_test.electd.server"
    port = PORT
    name = "electd"
    modes = MODES
    workloads = ("leader",)
    # `clock`: the nodes time leases on the monotonic clock, which the clock nemesis leaves real;
    # the faked wall clock must not matter.
    capabilities = frozenset({"kill", "pause", "clock"})
    selftest = (
        SelftestRow("correct", "leader", ALL_FAULTS, 3, True, concurrency=3, rate=30.0,
                    why="owner-checked renewal, monotonic deadlines inside the lease, compare-and-delete resign"),
        SelftestRow("renew-without-owner-check", "leader", "pause:primary", 3, False, ("two-leaders",), concurrency=3,
                    rate=30.0, nemesis_interval=5.0,
                    why="the leader paused past its TTL wakes with its flag set and renews the next leader's lease"),
        SelftestRow("stop-toctou", "leader", "pause-client", 3, False, ("two-leaders",), concurrency=3, rate=30.0,
                    nemesis_interval=5.0,
                    why="a resigning leader's GET-then-DELETE deletes the next leader's key; a third node is elected "
                        "beside it (the workload resigns leaders; client pauses only delay polls)"),
        SelftestRow("bully-no-quorum", "leader", "partition", 3, False, ("two-leaders",), concurrency=3, rate=30.0,
                    nemesis_interval=5.0, why="each side of a partition hears no higher node and elects itself"),
    )
    description = (
        "Lease-based leader election (S4:497-603): candidates campaign at a lease store on the last node, a "
        "leader renews and appends fenced (node, epoch) heartbeats. correct; renew-without-owner-check (L-d), "
        "stop-toctou (L-e), bully-no-quorum (L-f): the seeds' election flaws."
    )

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        store = cluster.nodes[-1]
        extra = ("--store", f"{store.address}:{self.port}", *self.server_args)
        return server_argv(self.server_module, cluster, node, self.port, self.mode, extra)

    def primary(self, cluster: Cluster) -> str | None:
        """The node that says it leads in the highest epoch (`pause:primary` aims there), or None."""
        best: tuple[int, str] | None = None
        for node in cluster.nodes:
            if not node.is_running():
                continue
            try:
                status = request(cluster, node, self.port, {"type": "status"}, 1.0)
            except (wire.WireError, ValueError):
                continue
            epoch = status.get("epoch") if isinstance(status.get("epoch"), int) else 0  # bully's terms are names
            if status.get("leader") and (best is None or epoch > best[0]):
                best = (epoch, node.name)
        return best[1] if best else None

    def client(self, cluster: Cluster) -> ElectdClient:
        return ElectdClient(self.port)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        try:
            dump = request(cluster, cluster.nodes[-1], self.port, {"type": "dump"}, 5.0)
            return {"mode": self.mode, "store": {k: dump.get(k) for k in ("counter", "highest", "holder", "heartbeats")}}
        except (OSError, ValueError) as e:
            return {"mode": self.mode, "store": {"error": str(e)}}
