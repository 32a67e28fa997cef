"""seedkv's lifecycle for the harness: how to start a node, wait for it, and build clients."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from systems_under_test.lifecycle import answers_ping, server_argv
from systems_under_test.seedkv.client import SET_PREFIX, SeedKVClient
from systems_under_test.seedkv.server import MODES

PORT = 7100
ALL_FAULTS = "partition,kill,pause,clock"  # a correct mode must stay valid under all of them together


class SeedKV:
    name = "seedkv"
    modes = MODES
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

    def __init__(self, mode: str = MODES[0], server_args: tuple[str, ...] = ()):
        if mode not in MODES:
            raise HarnessError(f"seedkv has no mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.server_args = tuple(server_args)  # extra server flags, from `faultline test --server-arg`
        self.port = PORT

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package, run by the harness's own Python."""

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        return server_argv("systems_under_test.seedkv.server", cluster, node, self.port, self.mode, self.server_args)

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn(self.argv(cluster, node))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return answers_ping(cluster, node, self.port)

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

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
