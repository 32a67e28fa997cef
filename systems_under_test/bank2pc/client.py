"""The bank2pc client adaptor. `transfer {from, to, amount}` goes to the node the client is bound
to, which coordinates it; the completion's value adds the transaction id (`txn`) so the checker
can match it with the coordinators' decision logs. `read` (value None) completes with the list of
every account's balance.

Outcomes: `aborted` is a certain `fail`; a transfer whose request was sent and then lost or timed
out is `info` (it may have committed). With `fail_on_commit_error` (the seed's client bug T-b,
S2:157-164) that case is reported as `fail` instead: the history then lies, and the bank checker
says so.
"""

from __future__ import annotations

import uuid

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire


class Bank2PCClient:
    def __init__(self, port: int, fail_on_commit_error: bool = False, timeout: float = 5.0):
        self.port, self.timeout = port, timeout
        self.fail_on_commit_error = fail_on_commit_error
        self._connection: wire.Connection | None = None

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        port = self.port
        self._connection = wire.Connection(node.address, port, self.timeout,
                                           opener=lambda t: cluster.connect(node, port, t))

    def invoke(self, op: Op) -> Op:
        assert self._connection is not None, "open() the client first"
        txn = uuid.uuid4().hex[:16]
        if op.f == "read":
            request = {"type": "read", "txn": txn}
        elif op.f == "transfer" and isinstance(op.value, dict):
            request = {"type": "transfer", "txn": txn, **op.value}
        else:
            return op.complete("fail", error=f"bank2pc cannot perform {op.f!r} with value {op.value!r}")
        value = op.value if op.f == "read" else {**op.value, "txn": txn}
        try:
            reply = self._connection.call(request)
        except wire.WireError as e:
            unknown = "info" if op.f == "transfer" and e.sent and not self.fail_on_commit_error else "fail"
            return op.complete(unknown, value=value, error=str(e))
        if reply.get("status") == "ok":
            return op.complete("ok", value=reply["balances"] if op.f == "read" else value)
        if reply.get("status") == "aborted" or op.f == "read":
            return op.complete("fail", value=value, error=reply.get("error"))
        # The coordinator said error without a decision: the transfer may be half done (non-atomic mode).
        return op.complete("fail" if self.fail_on_commit_error else "info", value=value, error=reply.get("error"))

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None
