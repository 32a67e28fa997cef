"""The txkv client adaptor: `txn` ops to `txn` requests, replies to completions.

An op is `f` "txn" with `value` a list of micro-ops `[f, key, value]` (the transaction format
the list-append and rw-register checkers read). `extra["abort"]` asks the server to roll
the transaction back instead of committing it (the workloads' deliberate aborts).

Outcomes: `ok` with the reads filled in; `fail` when the transaction surely had no effect (the
server rolled it back, a front end could not reach the primary, the connection could not be
opened, or it only read); `info` when it was sent and its answer is unknown (timeout, lost
connection, a front end that lost the primary after forwarding).
"""

from __future__ import annotations

from harness.history import Op
from systems_under_test import wire
from systems_under_test.node_client import NodeClient


class TxKVClient(NodeClient):
    def __init__(self, port: int, timeout: float = 10.0):
        # The timeout is above the front end's FORWARD_TIMEOUT, so the server speaks first.
        super().__init__(port, timeout)

    def invoke(self, op: Op) -> Op:
        if op.f != "txn" or not isinstance(op.value, list):
            return op.complete("fail", error=f"txkv cannot perform {op.f!r} with value {op.value!r}")
        writes = any(micro[0] != "r" for micro in op.value if isinstance(micro, list) and micro)
        unknown = "info" if writes else "fail"
        request = {"type": "txn", "ops": op.value, "abort": bool(op.extra.get("abort"))}
        try:
            reply = self.call(request)
        except wire.WireError as e:
            return op.complete(unknown if e.sent else "fail", error=str(e))
        status = reply.get("status")
        if status == "ok":
            return op.complete("ok", value=reply["ops"])
        if status in ("aborted", "unavailable", "bad-request"):
            return op.complete("fail", error=f"{status}: {reply.get('error')}")
        return op.complete(unknown, error=f"{status}: {reply.get('error')}")
