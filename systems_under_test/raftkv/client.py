"""The raftkv client adaptor: register ops to `client` requests, replies to completions.

Register ops (`value` = `[key, v]`): read `[key, None]` completes ok with `[key, observed]`;
write `[key, v]`; cas `[key, [expected, new]]` completes `fail` when the current value differs.

A node that does not lead answers `not-leader` with the leader it knows; the request did nothing
there, so the client follows the hint (or tries the next node) until a deadline. Outcomes:
- `fail` when the op surely had no effect: the node refused the cas, every node said
  not-leader, the connection could not be opened, or the op was a read (reads change nothing).
- `info` when a write or cas was sent and the answer is unknown: timeout, lost connection, or
  the leader lost its leadership before the entry committed (a later leader may commit it).
"""

from __future__ import annotations

import time

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire

REDIRECT_DEADLINE = 6.0  # seconds spent looking for the leader before giving up with `fail`
NO_LEADER_BACKOFF = 0.05  # between attempts while no node knows a leader (an election runs)


def was_never_sent(error: wire.WireError) -> bool:
    """Only a refused connect proves nothing left; a reset or EOF may come after the send."""
    return isinstance(error.__cause__, ConnectionRefusedError)


class RaftKVClient:
    def __init__(self, port: int, timeout: float = 5.0):
        self.port = port
        self.timeout = timeout  # above the server's CLIENT_WAIT, so the server speaks first
        self.cluster: Cluster | None = None
        self.node: NodeHandle | None = None
        self.conns: dict[str, wire.Connection] = {}

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.cluster, self.node = cluster, node

    def _connection(self, node: NodeHandle) -> wire.Connection:
        if node.name not in self.conns:
            cluster, port = self.cluster, self.port
            assert cluster is not None, "open() the client first"
            self.conns[node.name] = wire.Connection(
                node.address, port, self.timeout, opener=lambda t: cluster.connect(node, port, t)
            )
        return self.conns[node.name]

    def _next_node(self, after: NodeHandle) -> NodeHandle:
        assert self.cluster is not None
        names = [n.name for n in self.cluster.nodes]
        return self.cluster.nodes[(names.index(after.name) + 1) % len(names)]

    def invoke(self, op: Op) -> Op:
        assert self.cluster is not None and self.node is not None, "open() the client first"
        if op.f not in ("read", "write", "cas") or not isinstance(op.value, (list, tuple)) or len(op.value) != 2:
            return op.complete("fail", error=f"raftkv cannot perform {op.f!r} with value {op.value!r}")
        key, argument = op.value
        request = {"type": "client", "f": op.f, "key": key, "value": argument}
        unknown = "fail" if op.f == "read" else "info"
        target = self.node
        deadline = time.monotonic() + REDIRECT_DEADLINE
        last_error = "no attempt"
        while time.monotonic() < deadline:
            try:
                reply = self._connection(target).call(request)
            except wire.WireError as e:
                if not was_never_sent(e):
                    return op.complete(unknown, error=f"{target.name}: {e}")
                last_error = f"{target.name} refused the connection"
                target = self._next_node(target)
                continue
            status = reply.get("status")
            if status == "ok":
                return op.complete("ok", value=[key, reply.get("value")] if op.f == "read" else op.value)
            if status == "fail":
                return op.complete("fail", error=reply.get("error", "cas-mismatch"))
            if status == "bad-request":
                return op.complete("fail", error=reply.get("error"))
            if status != "not-leader":
                return op.complete(unknown, error=f"{target.name}: {reply.get('error', status)}")
            last_error = f"{target.name} is not the leader"
            hint = reply.get("leader")
            if hint and hint != target.name:
                target = self.cluster.node(hint)
            else:
                target = self._next_node(target)
                time.sleep(NO_LEADER_BACKOFF)
        return op.complete("fail", error=f"no leader found within {REDIRECT_DEADLINE}s ({last_error})")

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns.clear()
