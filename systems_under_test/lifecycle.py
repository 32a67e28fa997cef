"""How the shipped systems start a node and talk to it from the harness side: one place for the
server command line, a request on a fresh client-side connection, and the readiness probe.
The harness does the waiting (`harness.startup`), so `start` only spawns."""

from __future__ import annotations

import sys
from typing import Any, Sequence

from harness.seams import Cluster, NodeHandle
from systems_under_test import wire


def server_argv(module: str, cluster: Cluster, node: NodeHandle, port: int, mode: str, extra: Sequence[str] = ()) -> list[str]:
    """`python -m MODULE --id N --listen ADDR:PORT --mode M --data-dir D --peer NAME=ADDR:PORT...`"""
    argv = [sys.executable, "-u", "-m", module, "--id", node.name, "--listen", f"{node.address}:{port}",
            "--mode", mode, "--data-dir", str(node.data_dir)]
    for peer in cluster.nodes:
        if peer.name != node.name:
            argv += ["--peer", f"{peer.name}={peer.address}:{port}"]
    return argv + list(extra)


def request(cluster: Cluster, node: NodeHandle, port: int, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request to a node on a fresh connection opened from the client side."""
    conn = wire.Connection(node.address, port, timeout, opener=lambda t: cluster.connect(node, port, t))
    try:
        return conn.call(message)
    finally:
        conn.close()


def answers_ping(cluster: Cluster, node: NodeHandle, port: int) -> bool:
    """The shipped systems' readiness probe: the node answers a ping naming itself. Each node
    of theirs can serve (or refuse) alone, so this asks nothing of its peers."""
    try:
        reply = request(cluster, node, port, {"type": "ping"}, 1.0)
    except (OSError, ValueError):
        return False
    return node.name in (reply.get("id"), reply.get("node"))
