"""The seedkv client adaptor: harness operations to seedkv requests, replies to completions.

Set workload: `add e` puts key `e<e>` with value e; `read` (value None) scans the node it is
connected to and completes with the sorted elements found. Register ops (`[key, v]` values):
`read` gets key `r<key>`, `write` puts it; seedkv has no compare-and-set, so `cas` fails
without being sent.

Outcomes: a request that was never sent (the connection could not be opened) fails. A write
that was sent and then timed out, lost its connection or got an error reply is `info`: the
owner may already hold it. A read in the same situation fails, since a read changes nothing.
"""

from __future__ import annotations

from typing import Any

from harness.history import Op
from systems_under_test import wire
from systems_under_test.node_client import NodeClient

SET_PREFIX = "e"
REGISTER_PREFIX = "r"


class SeedKVClient(NodeClient):
    def __init__(self, port: int, timeout: float = 5.0):
        super().__init__(port, timeout)

    def invoke(self, op: Op) -> Op:
        try:
            request = self.request_for(op)
        except ValueError as e:
            return op.complete("fail", error=str(e))
        unknown = "fail" if request["type"] in ("get", "scan") else "info"
        try:
            reply = self.call(request)
        except wire.WireError as e:
            # Nothing left when the connection could not be opened: the op surely did not happen.
            return op.complete(unknown if e.sent else "fail", error=str(e))
        if reply.get("status") != "ok":
            return op.complete(unknown, error=reply.get("error", "no error given"))
        if op.f == "read" and op.value is None:
            items = reply["items"]
            return op.complete("ok", value=sorted(v for k, v in items.items() if k.startswith(SET_PREFIX)))
        if op.f == "read":
            return op.complete("ok", value=[op.value[0], reply["value"]])
        return op.complete("ok")

    @staticmethod
    def request_for(op: Op) -> dict[str, Any]:
        """The seedkv request for an op; ValueError for an op seedkv cannot perform."""
        if op.f == "add":
            return {"type": "put", "key": f"{SET_PREFIX}{op.value}", "value": op.value}
        if op.f == "read" and op.value is None:
            return {"type": "scan"}
        if op.f in ("read", "write", "cas") and isinstance(op.value, (list, tuple)) and len(op.value) == 2:
            key = f"{REGISTER_PREFIX}{op.value[0]}"
            if op.f == "read":
                return {"type": "get", "key": key}
            if op.f == "write":
                return {"type": "put", "key": key, "value": op.value[1]}
            raise ValueError("seedkv has no compare-and-set; the cas was not sent")
        raise ValueError(f"seedkv cannot perform {op.f!r} with value {op.value!r}")
