"""seedkv's lifecycle for the harness: how to start a node, wait for it, and build clients."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from harness.seams import Cluster, HarnessError, NodeHandle
from systems_under_test import wire
from systems_under_test.seedkv.client import SET_PREFIX, NotSent, SeedKVClient
from systems_under_test.seedkv.server import MODES

PORT = 7100
START_TIMEOUT = 30.0  # a node's Python start-up plus log replay, on a loaded 2-core machine


class SeedKV:
    name = "seedkv"
    modes = MODES
    workloads = ("set",)
    capabilities = frozenset({"kill", "pause"})
    description = (
        "The seed's hands-on key-value store (md5 placement, forward to owner, replicate to all). "
        "seed: best-effort replication acknowledged anyway, memory only, non-owners answer reads "
        "from their own copy. fixed: fsynced log, synchronous replication, owner reads, log replay."
    )

    def __init__(self, mode: str = MODES[0]):
        if mode not in MODES:
            raise HarnessError(f"seedkv has no mode {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.port = PORT

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package, run by the harness's own Python."""

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        argv = [sys.executable, "-m", "systems_under_test.seedkv.server", "--id", node.name]
        argv += ["--listen", f"{node.address}:{self.port}", "--mode", self.mode, "--data-dir", str(node.data_dir)]
        for peer in cluster.nodes:
            if peer.name != node.name:
                argv += ["--peer", f"{peer.name}={peer.address}:{self.port}"]
        return argv

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn(self.argv(cluster, node))
        deadline = time.monotonic() + START_TIMEOUT
        last_error = "no attempt yet"
        while time.monotonic() < deadline:
            if not node.is_running():
                raise HarnessError(f"seedkv on {node.name} exited during start-up; see {node.log_dir}/server.log")
            try:
                if self.ping(cluster, node):
                    return
                last_error = "unexpected reply to ping"
            except (OSError, ValueError) as e:
                last_error = str(e)
            time.sleep(0.05)
        raise HarnessError(
            f"seedkv on {node.name} did not answer a ping on port {self.port} within {START_TIMEOUT:.0f}s "
            f"(last error: {last_error}); see {node.log_dir}/server.log"
        )

    def ping(self, cluster: Cluster, node: NodeHandle) -> bool:
        sock = cluster.connect(node, self.port, 1.0)
        try:
            sock.settimeout(1.0)
            sock.sendall(wire.encode({"type": "ping"}))
            with sock.makefile("rb") as reader:
                line = reader.readline()
            return bool(line) and json.loads(line).get("id") == node.name
        finally:
            sock.close()

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
            except (OSError, NotSent) as e:
                replicas[node.name] = {"error": str(e)}
            finally:
                client.close()
        return {"mode": self.mode, "replicas": replicas}

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
