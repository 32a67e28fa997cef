"""The electd client adaptor for the `leader` workload.

- `status {node}`: asks that node what it believes right now; ok with `{node, leader, epoch}`.
- `resign {node}`: asks that node to step down if it leads; ok with `{node, resigned}`.

Every request goes on a fresh connection, so a node that is down refuses the connection and the
op fails (nothing was sent); a timeout or a reset after sending is `info`.
"""

from __future__ import annotations


from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire
from systems_under_test.lifecycle import request


class ElectdClient:
    def __init__(self, port: int, timeout: float = 1.0):
        self.port, self.timeout = port, timeout
        self.cluster: Cluster | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.cluster = cluster

    def invoke(self, op: Op) -> Op:
        assert self.cluster is not None, "open() the client first"
        name = op.value["node"]
        node = next((n for n in self.cluster.nodes if n.name == name), None)
        if node is None:
            return op.complete("fail", error=f"no node {name!r}")
        try:
            reply = request(self.cluster, node, self.port, {"type": op.f}, self.timeout)
        except wire.WireError as e:
            return op.complete("info" if e.sent else "fail", error=str(e))
        if op.f == "status" and reply.get("status") == "ok":
            return op.complete("ok", value={"node": name, "leader": bool(reply["leader"]), "epoch": reply.get("epoch")})
        if op.f == "resign":
            return op.complete("ok", value={"node": name, "resigned": reply.get("status") == "ok"})
        return op.complete("fail", error=reply.get("error") or reply.get("status"))

    def close(self) -> None:
        pass
