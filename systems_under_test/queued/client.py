"""The queued client adaptor: the queue workload's ops to broker requests.

`enqueue v`: ok on the broker's ok; fail when the request surely never reached the broker (no
connection, or a reply marked `definite`); info otherwise. `dequeue`: a dequeue request then an
ack under its lease; ok with the message once acked, ok nil when empty, info with the message
when the ack's outcome is unknown, fail when the ack was refused (the lease had run out: the
message goes back for redelivery), info nil when the dequeue's own reply was lost. `drain`:
dequeue and ack until the broker is empty with no message still leased (bounded in time).
"""

from __future__ import annotations

import time
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire

DRAIN_SECONDS = 30.0


class Unsure(Exception):
    """A request whose outcome the client cannot know."""


class Refused(Exception):
    """A request that surely did not take effect."""


class QueuedClient:
    def __init__(self, port: int, timeout: float = 3.0):
        self.port = port
        self.timeout = timeout
        self.cluster: Cluster | None = None
        self.node: NodeHandle | None = None
        self._connection: wire.Connection | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.cluster, self.node = cluster, node

    def invoke(self, op: Op) -> Op:
        if op.f == "enqueue":
            try:
                self.call({"type": "enqueue", "value": op.value})
                return op.complete("ok")
            except Refused as e:
                return op.complete("fail", error=str(e))
            except Unsure as e:
                return op.complete("info", error=str(e))
        if op.f == "dequeue":
            return self.dequeue(op)
        if op.f == "drain":
            return self.drain(op)
        return op.complete("fail", error=f"queued cannot perform {op.f!r}")

    def dequeue(self, op: Op) -> Op:
        try:
            reply = self.call({"type": "dequeue"})
        except Refused as e:
            return op.complete("fail", value=None, error=str(e))
        except Unsure as e:
            return op.complete("info", value=None, error=str(e))
        if reply["status"] == "empty":
            return op.complete("ok", value=None)
        message = reply["value"]
        try:
            self.call({"type": "ack", "value": message, "token": reply["token"]})
            return op.complete("ok", value=message)
        except Refused as e:
            return op.complete("fail", value=message, error=str(e))
        except Unsure as e:
            return op.complete("info", value=message, error=str(e))

    def drain(self, op: Op) -> Op:
        taken: list = []
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                reply = self.call({"type": "dequeue"})
            except (Refused, Unsure) as e:
                return op.complete("info", value=taken, error=str(e))
            if reply["status"] == "empty":
                if reply.get("leased", 0) == 0:
                    return op.complete("ok", value=taken)
                time.sleep(0.2)  # leases still running: their messages may come back
                continue
            try:
                self.call({"type": "ack", "value": reply["value"], "token": reply["token"]})
            except Refused:
                continue  # the lease ran out; the message will come back
            except Unsure as e:
                return op.complete("info", value=taken + [reply["value"]], error=str(e))
            taken.append(reply["value"])
        return op.complete("info", value=taken, error="drain did not finish in time")

    def call(self, message: dict[str, Any]) -> dict[str, Any]:
        if self._connection is None:
            cluster, node, port = self.cluster, self.node, self.port
            assert cluster is not None and node is not None, "open() the client first"
            self._connection = wire.Connection(node.address, port, self.timeout,
                                               opener=lambda t: cluster.connect(node, port, t))
        try:
            reply = self._connection.call(message)
        except wire.WireError as e:
            raise (Unsure if e.sent else Refused)(str(e)) from e
        if reply.get("status") in ("ok", "empty"):
            return reply
        raise (Refused if reply.get("definite") else Unsure)(reply.get("error", "no error given"))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
