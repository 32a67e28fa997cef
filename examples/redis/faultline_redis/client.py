"""The Redis client adaptor: register ops to Redis commands, replies to completions.

Register workload (values `[key, v]`, keys stored as `r<key>`, values as decimal strings):
`read` is `GET` and completes `[key, observed]` (None when never written); `write` is `SET`;
`cas` `[key, [expected, new]]` is one Lua script run atomically on the primary: ok when the
value was `expected` (None: the key did not exist) and is now `new`, fail when it was not.

Where ops go depends on the mode:
- `primary`: every op to the primary (n1), whatever node the client is bound to.
- `replica-reads`: writes and cas to the primary, reads to the bound node, so the replicas
  answer reads from their own, possibly stale, copy.

Outcomes: nothing sent (no connection) -> fail. Sent, then a timeout or a lost connection ->
info for a write or cas (it may have happened), fail for a read (a read changes nothing). An
error reply to a read -> fail; to a write or cas -> fail when Redis refuses the command before
running it (`NOT_RUN`), else info.
"""

from __future__ import annotations

from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from faultline_redis.resp import Connection, ReplyError

KEY_PREFIX = "r"

# Compare-and-set in one step: Redis runs a script without interleaving other commands. An
# empty expected value stands for "never written" (values are integers, never empty).
CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1])
local matches
if ARGV[1] == '' then matches = (current == false) else matches = (current == ARGV[1]) end
if matches then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# Error replies that mean Redis refused the command without running it.
NOT_RUN = frozenset({"LOADING", "READONLY", "MASTERDOWN", "MISCONF", "NOREPLICAS", "OOM", "BUSY", "NOSCRIPT", "WRONGTYPE"})


class NotSent(Exception):
    """The command never left: the connection could not be opened."""


class RedisClient:
    def __init__(self, mode: str, port: int, timeout: float = 2.0):
        self.mode = mode
        self.port = port
        self.timeout = timeout
        self.cluster: Cluster | None = None
        self.bound: NodeHandle | None = None
        self._connections: dict[str, Connection] = {}

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        """Remember the cluster and the bound node; connections open lazily per target node."""
        self.cluster, self.bound = cluster, node

    def invoke(self, op: Op) -> Op:
        value = op.value
        if op.f not in ("read", "write", "cas") or not isinstance(value, (list, tuple)) or len(value) != 2:
            return op.complete("fail", error=f"redis cannot perform {op.f!r} with value {value!r}")
        try:
            target, command = self._command(op.f, value)
        except ValueError as e:
            return op.complete("fail", error=str(e))
        unknown = "fail" if op.f == "read" else "info"
        try:
            reply = self._call(target, command)
        except NotSent as e:
            return op.complete("fail", error=f"not sent to {target.name}: {e}")
        except ReplyError as e:
            outcome = "fail" if op.f == "read" or e.code in NOT_RUN else "info"
            return op.complete(outcome, error=f"{target.name}: {e}")
        except (OSError, ValueError) as e:  # timeout, reset, or a reply out of step
            return op.complete(unknown, error=f"{target.name}: {type(e).__name__}: {e}")
        if op.f == "read":
            return op.complete("ok", value=[value[0], None if reply is None else int(reply)])
        if op.f == "cas" and reply != 1:
            return op.complete("fail", error="cas-mismatch")
        return op.complete("ok")

    def _command(self, f: str, value: Any) -> tuple[NodeHandle, tuple[Any, ...]]:
        """The node to ask and the command to send; ValueError for values Redis cannot take."""
        key = f"{KEY_PREFIX}{value[0]}"
        if f == "read":
            target = self.bound if self.mode == "replica-reads" else self._primary()
            assert target is not None, "open() the client first"
            return target, ("GET", key)
        if f == "write":
            return self._primary(), ("SET", key, _encode(value[1]))
        if not isinstance(value[1], (list, tuple)) or len(value[1]) != 2:
            raise ValueError(f"cas needs [expected, new], got {value[1]!r}")
        expected, new = value[1]
        return self._primary(), ("EVAL", CAS_SCRIPT, 1, key, "" if expected is None else _encode(expected), _encode(new))

    def _primary(self) -> NodeHandle:
        assert self.cluster is not None, "open() the client first"
        return self.cluster.nodes[0]

    def _call(self, node: NodeHandle, command: tuple[Any, ...]) -> Any:
        """One command on this client's connection to `node`. A connection whose server has
        gone is replaced before sending; any error after sending drops it (an error reply
        leaves it in step, so it stays)."""
        conn = self._connections.get(node.name)
        if conn is not None and conn.peer_closed():
            conn.close()
            conn = None
        if conn is None:
            assert self.cluster is not None
            try:
                conn = Connection(self.cluster.connect(node, self.port, self.timeout))
            except Exception as e:
                raise NotSent(f"{type(e).__name__}: {e}") from e
            self._connections[node.name] = conn
        try:
            return conn.call(*command)
        except ReplyError:
            raise
        except BaseException:
            conn.close()
            del self._connections[node.name]
            raise

    def close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _encode(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"register values must be integers, got {v!r}")
    return str(v)
