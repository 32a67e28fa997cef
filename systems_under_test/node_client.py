"""What every single-node client adaptor shares: one wire connection to the node it was opened on.

The socket comes from `cluster.connect`, so it is opened from the cluster's client side (a
namespace the harness made) and never from the root namespace. The connection opens on first use
and reopens after any failure (see `wire.Connection`).
"""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, NodeHandle
from systems_under_test import wire


class NodeClient:
    def __init__(self, port: int, timeout: float):
        self.port = port
        self.timeout = timeout
        self._connection: wire.Connection | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        port = self.port
        self._connection = wire.Connection(node.address, port, self.timeout,
                                           opener=lambda t: cluster.connect(node, port, t))

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one request and read its reply; raises `wire.WireError` when that fails."""
        assert self._connection is not None, "open() the client first"
        return self._connection.call(message)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
