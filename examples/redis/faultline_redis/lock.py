"""The seeds' Redis lock (S4:403-495) for the `lock` workload: `SET NX` with a expiry to
acquire, a Lua compare-and-delete to release, a compare-and-PEXPIRE to extend, all on the
primary (n1).

To give fencing something to fence with, a grant also takes a token from `INCR` in the same
script, and writes go to a list on the primary:
- mode `lock` (the seed): writes are a plain `RPUSH`, so a holder paused past its TTL wakes
  and writes with its old token after the next holder's writes (`stale-token-accepted`);
- mode `fenced-lock`: writes go through a script that refuses a token below the highest seen.

Ops and values as `systems_under_test.lockd.client` (the `lock` workload's contract). Nothing
sent -> fail; an error reply Redis gives without running the command -> fail; a timeout or a
lost connection after sending -> info.
"""

from __future__ import annotations

import itertools
from typing import Any

from harness.history import Op
from harness.seams import Cluster, NodeHandle
from faultline_redis.client import NOT_RUN, NotSent, RedisClient
from faultline_redis.resp import ReplyError

ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
"""
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""
EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
FENCED_WRITE = """
local highest = tonumber(redis.call('GET', KEYS[1]) or '0')
local token = tonumber(ARGV[1])
if token < highest then return 0 end
redis.call('SET', KEYS[1], token)
redis.call('RPUSH', KEYS[2], ARGV[2])
return 1
"""
TOKENS, HIGHEST, WRITES = "lock:tokens", "store:highest", "store:writes"


class RedisLockClient:
    _owners = itertools.count(1)

    def __init__(self, mode: str, port: int, timeout: float = 2.0):
        self.fenced = mode == "fenced-lock"
        self.redis = RedisClient("primary", port, timeout)  # its connection handling, nothing else
        self.held: dict[str, Any] | None = None
        self.seq = 0

    def open(self, cluster: Cluster, node: NodeHandle) -> None:
        self.redis.open(cluster, node)

    def invoke(self, op: Op) -> Op:
        primary = self.redis._primary()
        try:
            if op.f == "acquire":
                name, ttl = op.value["name"], float(op.value["ttl"])
                owner = f"p{op.process}-{next(self._owners)}"
                token = self.redis._call(primary, ("EVAL", ACQUIRE, 2, f"lock:{name}", TOKENS, owner, int(ttl * 1000)))
                if not token:
                    return op.complete("fail", error="held")
                self.held = {"name": name, "ttl": ttl, "token": int(token), "owner": owner}
                return op.complete("ok", value=dict(self.held))
            if op.f == "write":
                if self.held is None:
                    return op.complete("fail", error="holds no token; nothing sent")
                self.seq += 1
                value = {"token": self.held["token"], "owner": self.held["owner"], "seq": self.seq}
                entry = f"{value['token']}:{value['owner']}:{value['seq']}"
                if self.fenced:
                    accepted = self.redis._call(primary, ("EVAL", FENCED_WRITE, 2, HIGHEST, WRITES, value["token"], entry))
                else:
                    accepted = self.redis._call(primary, ("RPUSH", WRITES, entry))
                return op.complete("ok", value=value) if accepted else op.complete("fail", value=value, error="stale token")
            if op.f == "extend":  # the seed's owner-checked extend (S4:454-469)
                if self.held is None:
                    return op.complete("fail", error="holds nothing; nothing sent")
                ttl = float(op.value["ttl"])
                done = self.redis._call(primary, ("EVAL", EXTEND, 1, f"lock:{self.held['name']}", self.held["owner"], int(ttl * 1000)))
                return op.complete("ok", value={**self.held, "ttl": ttl}) if done else op.complete("fail", error="not-owner")
            if op.f == "release":
                held, self.held = self.held, None
                if held is None:
                    return op.complete("fail", error="holds nothing; nothing sent")
                done = self.redis._call(primary, ("EVAL", RELEASE, 1, f"lock:{held['name']}", held["owner"]))
                value = {"token": held["token"], "owner": held["owner"]}
                return op.complete("ok", value=value) if done else op.complete("fail", value=value, error="not-owner")
        except NotSent as e:
            return op.complete("fail", error=f"not sent: {e}")
        except ReplyError as e:
            return op.complete("fail" if e.code in NOT_RUN else "info", error=str(e))
        except (OSError, ValueError) as e:
            return op.complete("info", error=f"{type(e).__name__}: {e}")
        return op.complete("fail", error=f"the redis lock cannot perform {op.f!r}")

    def close(self) -> None:
        self.redis.close()
