"""The dynkv client adaptor: register ops (read/write per key) over the JSON-lines protocol.

Keys travel as their JSON text, so the history's key (an int or a string) maps to one stored
key and back without ambiguity; checkers use `key_text` to match them.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test.wire import encode

CLIENT_TIMEOUT = 5.0  # seconds; above the two quorum phases a coordinator may run (2 x 1.5 s)


def key_text(key: Any) -> str:
    return json.dumps(key, sort_keys=True)


class DynKVClient:
    def __init__(self, port: int, timeout: float = CLIENT_TIMEOUT):
        self.port = port
        self.timeout = timeout
        self._cluster: Cluster | None = None
        self._node: NodeHandle | None = None
        self._sock: socket.socket | None = None
        self._reader: Any = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self._cluster, self._node = cluster, node

    def _connect(self) -> None:
        assert self._cluster is not None and self._node is not None, "open() the client first"
        self._sock = self._cluster.connect(self._node, self.port, self.timeout)
        self._sock.settimeout(self.timeout)
        self._reader = self._sock.makefile("rb")

    def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._sock is not None
        self._sock.sendall(encode(message))
        line = self._reader.readline()
        if not line:
            raise ConnectionError("the node closed the connection")
        return json.loads(line)

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
        try:
            if self._sock is None:
                self._connect()
        except OSError as e:
            self.close()
            return op.complete("fail", error=f"cannot connect: {e}")  # nothing was sent
        try:
            reply = self._exchange(message)
        except (OSError, ValueError) as e:
            self.close()
            # A read changes nothing the history can see; a write may have been applied.
            return op.complete("fail" if op.f == "read" else "info", error=f"no reply: {e}")
        if reply.get("status") == "ok":
            return op.complete("ok", value=[key, reply["value"]] if op.f == "read" else op.value)
        if op.f == "write" and reply.get("maybe_applied", True):
            return op.complete("info", error=reply.get("error", reply))
        return op.complete("fail", error=reply.get("error", reply))

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._reader.close()
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = None
