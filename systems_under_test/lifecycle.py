"""How the shipped systems start a node and talk to it from the harness side: one place for the
server command line, a request on a fresh client-side connection, the readiness probe, and the
lifecycle they all share (`ServerPerNode`). The harness does the waiting (`harness.startup`), so
`start` only spawns."""

from __future__ import annotations

import sys
from typing import Any, Sequence

from harness.seams import Cluster, HarnessError, NodeHandle
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


class ServerPerNode:
    """The lifecycle of a shipped system: every node runs `python -m SERVER_MODULE` (see
    `server_argv`) on `port`, is ready when it answers a ping, and is stopped at teardown.
    A subclass names `name`, `modes` (the first is the default), `server_module` and `port`,
    and adds its client, self-test rows and whatever hooks it offers."""

    name: str
    modes: tuple[str, ...]
    server_module: str
    port: int

    def __init__(self, mode: str | None = None, server_args: tuple[str, ...] = ()):
        mode = self.modes[0] if mode is None else mode
        if mode not in self.modes:
            raise HarnessError(f"{self.name} has no mode {mode!r}; choose one of {', '.join(self.modes)}")
        self.mode = mode
        self.server_args = tuple(server_args)  # extra server flags, from `faultline test --server-arg`

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package, run by the harness's own Python."""

    def argv(self, cluster: Cluster, node: NodeHandle) -> list[str]:
        return server_argv(self.server_module, cluster, node, self.port, self.mode, self.server_args)

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn(self.argv(cluster, node))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return answers_ping(cluster, node, self.port)

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
