"""seedkv's lifecycle for the harness: how to start a node, wait for it, and build clients."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, SelftestRow
from systems_under_test.lifecycle import ServerPerNode
from systems_under_test.seedkv.client import SET_PREFIX, SeedKVClient
from systems_under_test.seedkv.server import MODES

PORT = 7100
ALL_FAULTS = "partition,kill,pause,clock"  # a correct mode must stay valid under all of them together


class SeedKV(ServerPerNode):
    server_module = "systems_under_test.seedkv.server"
    name = "seedkv"
    modes = MODES
    port = PORT
    workloads = ("set",)
    # `disk`: fixed mode keeps its log through systems_under_test.storage. Seed mode keeps nothing
    # on disk, so there a disk fault is a crash and restart that finds an empty data directory;
    # that is still the truth about seed mode, so both modes declare it rather than split the
    # capabilities by mode. `clock`: the node starts through `node.spawn`, which carries the
    # clock nemesis's preload. seedkv never reads the wall clock (its socket timeouts run on the
    # monotonic clock, which the preload leaves real), so clock faults must change no verdict.
    capabilities = frozenset({"kill", "pause", "clock", "disk"})
    durable_files = ("seedkv.log",)  # what the disk fault may truncate or corrupt
    # The seed's claims (GUIDE 4.2 C-a..C-c) against its fixed mode.
    selftest = (
        SelftestRow("seed", "set", "kill,partition", 3, False, ("lost",), quick=True,
                    why="acknowledged adds live in memory or on one node; a kill or a cut loses them"),
        SelftestRow("fixed", "set", ALL_FAULTS, 3, True, quick=True),
    )
    description = (
        "The seed's hands-on key-value store (md5 placement, forward to owner, replicate to all). "
        "seed: best-effort replication acknowledged anyway, memory only, non-owners answer reads "
        "from their own copy. fixed: fsynced log, synchronous replication, owner reads, log replay."
    )

    def client(self, cluster: Cluster) -> SeedKVClient:
        return SeedKVClient(self.port)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        """What each node holds locally at the end, owned or replicated. In seed mode this shows
        where acknowledged writes went missing; in fixed mode, which replicas lag behind."""
        replicas: dict[str, Any] = {}
        for node in cluster.nodes:
            client = self.client(cluster)
            client.open(cluster, node)
            try:
                reply = client.call({"type": "dump"})
                if reply.get("status") != "ok":
                    raise OSError(reply.get("error"))
                items = reply["items"]
                elements = sorted(v for k, v in items.items() if k.startswith(SET_PREFIX))
                replicas[node.name] = {"keys": len(items), "set_elements": elements}
            except OSError as e:
                replicas[node.name] = {"error": str(e)}
            finally:
                client.close()
        return {"mode": self.mode, "replicas": replicas}
