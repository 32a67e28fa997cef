"""The counterd client adaptor: `add d` and `read` to requests, with retries on timeout.

An add carries one idempotency key, its op's process and index, for all its attempts; a timed-out
attempt is retried (up to `RETRIES` more, as the seed's retry handler does, S4:734-754) on a
fresh connection. ok on an ok reply; fail if no attempt surely reached the server; info if one
may have. A read that does not answer fails (a read changes nothing).
"""

from __future__ import annotations

import uuid
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire

RETRIES = 2


class CounterdClient:
    def __init__(self, port: int, timeout: float = 1.5):
        self.port = port
        self.timeout = timeout
        self.cluster: Cluster | None = None
        self.node: NodeHandle | None = None
        self._connection: wire.Connection | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.cluster, self.node = cluster, node

    def invoke(self, op: Op) -> Op:
        if op.f == "read":
            try:
                reply = self.call({"type": "read"})
            except wire.WireError as e:
                return op.complete("fail", error=str(e))
            if reply.get("status") != "ok":
                return op.complete("fail", error=reply.get("error"))
            return op.complete("ok", value=reply["value"])
        if op.f != "add":
            return op.complete("fail", error=f"counterd cannot perform {op.f!r}")
        request = {"type": "add", "delta": op.value, "key": uuid.uuid4().hex}
        maybe = False
        error = ""
        for _ in range(1 + RETRIES):
            try:
                reply = self.call(request)
            except wire.WireError as e:
                maybe, error = maybe or e.sent, str(e)
                continue
            if reply.get("status") == "ok":
                return op.complete("ok")
            maybe, error = maybe or not reply.get("definite"), reply.get("error", "")
        return op.complete("info" if maybe else "fail", error=error)

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._connection is None:
            cluster, node, port = self.cluster, self.node, self.port
            assert cluster is not None and node is not None, "open() the client first"
            self._connection = wire.Connection(node.address, port, self.timeout,
                                               opener=lambda t: cluster.connect(node, port, t))
        return self._connection.call(message)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
