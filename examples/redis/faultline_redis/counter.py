"""The seeds' Redis counter: `INCR` behind the seed's generic retry (S2:832-870, S4:713-788).

Counter workload: `add 1` is `INCR c` at the primary, re-issued on any error by the seed's
`RetryHandler` (3 attempts, delay 1 s doubling, jittered); `read` is `GET c`. INCR is atomic but
not idempotent, so an attempt that timed out after Redis ran it and was then retried counts
twice (seed T-f): the counter checker's `over-count`. An add whose every attempt failed is
info if any attempt was sent, fail if none was; a read that fails is fail.
"""

from __future__ import annotations

import random
import time

from harness.history import Op
from faultline_redis.client import NotSent, RedisClient
from faultline_redis.resp import ReplyError

KEY = "c"
MAX_ATTEMPTS = 3  # the seed's RetryConfig defaults
BASE_DELAY = 1.0
EXPONENTIAL_BASE = 2.0


class CounterClient(RedisClient):
    def __init__(self, port: int, timeout: float = 2.0):
        super().__init__("primary", port, timeout)
        self.jitter = random.Random(port)

    def invoke(self, op: Op) -> Op:
        target = self._primary()
        if op.f == "read":
            try:
                reply = self._call(target, ("GET", KEY))
            except (NotSent, ReplyError, OSError, ValueError) as e:
                return op.complete("fail", error=f"{target.name}: {type(e).__name__}: {e}")
            return op.complete("ok", value=0 if reply is None else int(reply))
        if op.f != "add" or op.value != 1:
            return op.complete("fail", error=f"the Redis counter performs `add 1` and `read`, not {op.f!r} {op.value!r}")
        sent = False
        for attempt in range(MAX_ATTEMPTS):
            try:
                self._call(target, ("INCR", KEY))
                return op.complete("ok")
            except NotSent as e:
                error = f"not sent: {e}"
            except (ReplyError, OSError, ValueError) as e:
                sent, error = True, f"{type(e).__name__}: {e}"
            if attempt < MAX_ATTEMPTS - 1:
                time.sleep(BASE_DELAY * EXPONENTIAL_BASE ** attempt * (0.5 + self.jitter.random() * 0.5))
        return op.complete("info" if sent else "fail", error=f"{target.name}: {error}")
