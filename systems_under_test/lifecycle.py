"""How the shipped systems start a node and talk to it from the harness side: one place for the
server command line, a request on a fresh client-side connection, and the start-up wait."""

from __future__ import annotations

import sys
import time
from typing import Any, Sequence

from harness.seams import Cluster, HarnessError, NodeHandle
from systems_under_test import wire

START_TIMEOUT = 30.0  # a node's Python start-up plus log replay, on a loaded 2-core machine


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


def start_server(system: str, cluster: Cluster, node: NodeHandle, argv: Sequence[str], port: int,
                 timeout: float = START_TIMEOUT) -> None:
    """Spawn the node's server and return once it answers a ping naming itself."""
    node.spawn(argv)
    deadline = time.monotonic() + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if not node.is_running():
            raise HarnessError(f"{system} on {node.name} exited during start-up; see {node.log_dir}/server.log")
        try:
            reply = request(cluster, node, port, {"type": "ping"}, 1.0)
            if node.name in (reply.get("id"), reply.get("node")):
                return
            last_error = f"unexpected reply to ping: {reply}"
        except (OSError, ValueError) as e:
            last_error = str(e)
        time.sleep(0.05)
    raise HarnessError(
        f"{system} on {node.name} did not answer a ping on port {port} within {timeout:.0f}s "
        f"(last error: {last_error}); see {node.log_dir}/server.log"
    )
