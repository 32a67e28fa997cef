"""dynkv's lifecycle on a cluster: start nodes, hand out clients, collect final replica state."""

from __future__ import annotations

import json
import time
from typing import Any

from systems_under_test.lifecycle import ServerPerNode, request
from harness.seams import Cluster, NodeHandle, SelftestRow
from systems_under_test.dynkv.client import DynKVClient
from systems_under_test.dynkv.server import MODES

PORT = 7420
# After the final heal, how long `collect` gives anti-entropy to make every replica agree.
ANTI_ENTROPY_WINDOW = 20.0
ALL_FAULTS = "partition,kill,pause,clock"  # a correct mode must stay valid under all of them together
STALE = ("stale-read", "nonlinearizable")


class DynKV(ServerPerNode):
    server_module = "systems_under_test.dynkv.server"
    name = "dynkv"
    modes = MODES
    workloads = ("register",)
    # `disk`: every byte it keeps goes through systems_under_test.storage (DurableLog, write_state).
    capabilities = frozenset({"kill", "pause", "clock", "disk"})
    durable_files = ("store.log",)  # what the disk fault may truncate or corrupt
    # GUIDE 4.3. No cas: its coordinator-side cas could not be linearizable.
    selftest = (
        SelftestRow("strict", "register", ALL_FAULTS, 5, True),
        SelftestRow("eventual", "register", "partition", 5, False, STALE,
                    why="R = W = 1: a read after a write may miss it (convergence still holds)"),
        SelftestRow("wallclock-lww", "register", "clock", 5, False, STALE,
                    why="last-write-wins on skewed wall clocks drops acknowledged writes"),
        SelftestRow("per-node-version", "register", "partition", 5, False, STALE,
                    why="a busy replica's own counter outranks a newer write's version"),
        SelftestRow("reachable-majority", "register", "partition:one", 5, False, STALE, quick=True,
                    why="an isolated coordinator counts itself a majority and acknowledges alone"),
        SelftestRow("no-read-repair", "register", "partition,kill:majority", 5, False, STALE, rate=0, concurrency=10,
                    why="partial writes stay on some replicas, so reads flip between new and old"),
        SelftestRow("equal-version-no-repair", "register", "partition", 5, False, ("divergent-replicas",),
                    rate=0, concurrency=10,
                    why="anti-entropy skips replicas whose versions are equal, so they never converge"),
    )
    description = (
        "Dynamo-style leaderless KV: consistent-hash ring with virtual nodes, N/R/W quorums, "
        "ABD read repair in strict mode, anti-entropy; no cas (run the register workload without it)."
    )
    port = PORT
    # No compare-and-set (see server.py): the register workload runs reads and writes only.
    workload_params = {"register": {"cas": False}}

    def checkers(self, workload: str) -> dict[str, dict]:
        """Besides the workload's own checks (linearizability, stale reads): replicas converge
        once healed."""
        return {"convergence": {}} if workload == "register" else {}

    def client(self, cluster: Cluster) -> DynKVClient:
        return DynKVClient(self.port)

    def _request(self, cluster: Cluster, node: NodeHandle, message: dict, timeout: float) -> dict:
        return request(cluster, node, self.port, message, timeout)

    def dump_replicas(self, cluster: Cluster) -> dict[str, Any]:
        """Every node's local records (no quorum, no repair), or the error reaching it."""
        dumps: dict[str, Any] = {}
        for node in cluster.nodes:
            try:
                dumps[node.name] = self._request(cluster, node, {"type": "dump"}, timeout=5.0)
            except (OSError, ValueError) as e:
                dumps[node.name] = {"status": "unreachable", "error": str(e)}
        return dumps

    def collect(self, cluster: Cluster, window: float = ANTI_ENTROPY_WINDOW) -> dict[str, Any]:
        """Final per-replica state for the convergence checker, taken once every key's replicas
        agree or the anti-entropy window has passed, whichever comes first."""
        started = time.monotonic()
        while True:
            dumps = self.dump_replicas(cluster)
            settled = replicas_agree(dumps)
            if settled or time.monotonic() - started > window:
                return {"system": self.name, "mode": self.mode, "anti_entropy_window_s": window,
                        "waited_s": round(time.monotonic() - started, 3), "settled": settled, "replicas": dumps}
            time.sleep(0.25)


def replicas_agree(dumps: dict[str, Any]) -> bool:
    """Whether every node answered and every key has one value and version on all its replicas."""
    if any(d.get("status") != "ok" for d in dumps.values()):
        return False
    owners: dict[str, list[str]] = {}
    for d in dumps.values():
        owners.update(d["replicas"])
    for key, replicas in owners.items():
        held = {json.dumps(dumps[name]["records"].get(key), sort_keys=True) for name in replicas if name in dumps}
        if len(held) > 1:
            return False
    return True
