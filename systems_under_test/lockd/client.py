"""The lockd client adaptor for the `lock` workload.

Each client process is one would-be holder of the workload's lock. It keeps what it holds, so
the workload's ops need no arguments:
- `acquire {name, ttl}`: asks n1 for the lock with a fresh owner id; ok with `{name, ttl, token,
  owner}`, fail when it is held by another.
- `write`: writes `(owner, token, seq)` to the fenced store on the last node with the token it
  holds (or last held: a client paused past its lease still believes it holds); ok with
  `{token, owner, seq}`, fail when the store refuses the token or the client never held one.
- `extend {name, ttl}`: owner-checked renewal of what it holds, a fresh `ttl` from when n1
  handles it; ok with `{name, ttl, token, owner}`, fail when the lease had already gone.
- `release`: owner-checked release of what it holds; the client forgets its token either way.

Every request goes on a fresh connection, so a node that is down refuses the connection and
the op fails (nothing was sent); a timeout or a reset after sending is `info`.
"""

from __future__ import annotations

import itertools
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from systems_under_test import wire
from systems_under_test.lifecycle import request


class LockdClient:
    _owners = itertools.count(1)  # owner ids unique within the controller, across processes

    def __init__(self, port: int, timeout: float = 2.0):
        self.port, self.timeout = port, timeout
        self.cluster: Cluster | None = None
        self.held: dict[str, Any] | None = None
        self.seq = 0

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.cluster = cluster

    def call(self, node: NodeHandle, message: dict[str, Any]) -> dict[str, Any]:
        assert self.cluster is not None, "open() the client first"
        return request(self.cluster, node, self.port, message, self.timeout)

    def invoke(self, op: Op) -> Op:
        assert self.cluster is not None, "open() the client first"
        locks, store = self.cluster.nodes[0], self.cluster.nodes[-1]
        try:
            if op.f == "acquire":
                name, ttl = op.value["name"], float(op.value["ttl"])
                owner = f"p{op.process}-{next(self._owners)}"
                reply = self.call(locks, {"type": "acquire", "name": name, "owner": owner, "ttl": ttl})
                if reply.get("status") != "ok":
                    return op.complete("fail", error=reply.get("status"))
                self.held = {"name": name, "ttl": ttl, "token": reply["token"], "owner": owner}
                return op.complete("ok", value=dict(self.held))
            if op.f == "write":
                if self.held is None:
                    return op.complete("fail", error="holds no token; nothing sent")
                self.seq += 1
                value = {"token": self.held["token"], "owner": self.held["owner"], "seq": self.seq}
                reply = self.call(store, {"type": "write", **value})
                if reply.get("status") != "ok":
                    return op.complete("fail", value=value, error=reply.get("status"))
                return op.complete("ok", value=value)
            if op.f == "extend":
                if self.held is None:
                    return op.complete("fail", error="holds nothing; nothing sent")
                ttl = float(op.value["ttl"])
                reply = self.call(locks, {"type": "extend", "name": self.held["name"], "owner": self.held["owner"], "ttl": ttl})
                if reply.get("status") != "ok":
                    return op.complete("fail", error=reply.get("status"))
                return op.complete("ok", value={**self.held, "ttl": ttl})
            if op.f == "release":
                held, self.held = self.held, None
                if held is None:
                    return op.complete("fail", error="holds nothing; nothing sent")
                reply = self.call(locks, {"type": "release", "name": held["name"], "owner": held["owner"]})
                value = {"token": held["token"], "owner": held["owner"]}
                return op.complete("ok" if reply.get("status") == "ok" else "fail", value=value, error=reply.get("status"))
        except wire.WireError as e:
            return op.complete("info" if e.sent else "fail", error=str(e))
        return op.complete("fail", error=f"lockd cannot perform {op.f!r}")

    def close(self) -> None:
        pass
