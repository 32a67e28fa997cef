"""The dynkv client adaptor: register ops (read/write per key) over the JSON-lines protocol.

Keys travel as their JSON text, so the history's key (an int or a string) maps to one stored
key and back without ambiguity; checkers use `key_text` to match them.
"""

from __future__ import annotations

import json
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire

CLIENT_TIMEOUT = 5.0  # seconds; above the two quorum phases a coordinator may run (2 x 1.5 s)


def key_text(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


class DynKVClient:
    def __init__(self, port: int, timeout: float = CLIENT_TIMEOUT):
        self.port = port
        self.timeout = timeout
        self._conn: wire.Connection | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        port = self.port
        self._conn = wire.Connection(node.address, port, self.timeout, opener=lambda t: cluster.connect(node, port, t))

    def invoke(self, op: Op) -> Op:
        key, argument = op.value
        if op.f == "cas":
            return op.complete("fail", error="dynkv does not offer compare-and-set (no linearizable cas)")
        if op.f == "read":
            message = {"type": "read", "key": key_text(key)}
        elif op.f == "write":
            message = {"type": "write", "key": key_text(key), "value": argument}
        else:
            raise ValueError(f"dynkv does not know the op {op.f!r}")
        assert self._conn is not None, "open() the client first"
        try:
            reply = self._conn.call(message)
        except wire.WireError as e:
            if not e.sent:
                return op.complete("fail", error=str(e))  # nothing was sent
            # A read changes nothing the history can see; a write may have been applied.
            return op.complete("fail" if op.f == "read" else "info", error=f"no reply: {e}")
        if reply.get("status") == "ok":
            return op.complete("ok", value=[key, reply["value"]] if op.f == "read" else op.value)
        if op.f == "write" and reply.get("maybe_applied", True):
            return op.complete("info", error=reply.get("error", reply))
        return op.complete("fail", error=reply.get("error", reply))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
