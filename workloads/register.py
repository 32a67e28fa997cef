"""The register workload: read, write and compare-and-set over independent keys.

Values are Jepsen's independent-key tuples, `[key, v]`: a read invokes `[key, None]` and completes
`[key, observed]`; a write `[key, v]`; a cas `[key, [expected, new]]`. Every written value is
unique (a counter over the whole test), so each read names the one write it saw, which lets the
linearizability checker take its reads-from fast path. Keys are worked a few at a time and then
retired for fresh ones, so every key's sub-history stays small enough to search exhaustively. A
window moves on only after enough of its ops completed `ok`: ops that fail fast during a fault do
not count. Nor does it move while a key's last write or cas of unknown outcome (`info`: it may
sit on some replicas only) has been followed by fewer than AFTER_DOUBT `ok` ops on that key, so
a write left partial by an outage is read, by several quorums, once the nodes come back; the
count alone moved on when the other keys of the window had stayed available, and retired the
one key that held the partial write unread (dynkv no-read-repair under `all`). A key that stays
unavailable holds its window up to CAP times the count, no longer.

Parameters (from the system, `System.workload_params["register"]`): `cas` (default True; a
system without compare-and-set turns it off), `keys` (keys in play at once, default 5),
`ops_per_key` (default 200).
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.generator.rng import initial_state, next_random
from harness.seams import WorkloadOptions


AFTER_DOUBT = 20  # ok ops on a key after its last write of unknown outcome, before it retires
CAP = 4  # a window moves on after this many times its count of ok ops, whatever its keys


class RegisterOps(Generator):
    """Random reads, writes and cas on a sliding window of keys; pure, like every generator."""

    __slots__ = ("rng", "next_value", "base", "done_in_window", "last", "keys", "ops_per_key", "cas", "since_doubt")

    def __init__(self, rng: int, next_value: int, base: int, done_in_window: int,
                 last: tuple, keys: int, ops_per_key: int, cas: bool, since_doubt: tuple = ()):
        self.rng, self.next_value, self.base, self.done_in_window = rng, next_value, base, done_in_window
        self.last, self.keys, self.ops_per_key, self.cas = last, keys, ops_per_key, cas
        # per slot: ok ops since the key's last info write or cas (AFTER_DOUBT when there was none)
        self.since_doubt = since_doubt or (AFTER_DOUBT,) * keys

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        z, rng = next_random(self.rng)
        slot = z % self.keys
        key = self.base + slot
        roll = (z >> 20) % 10
        last, next_value = self.last, self.next_value
        if roll < 5:
            f, value = "read", [key, None]
        elif roll < 8 or not self.cas:
            f, value = "write", [key, next_value]
            last = _replaced(last, slot, next_value)
            next_value += 1
        else:
            # Expect the last value written to the key, so a fair share of cas can succeed.
            f, value = "cas", [key, [last[slot], next_value]]
            next_value += 1
        op = invocation(f, value, ctx.workers[thread], ctx.time)
        return op, RegisterOps(rng, next_value, self.base, self.done_in_window, last, self.keys, self.ops_per_key,
                               self.cas, self.since_doubt)

    def update(self, ctx: Context, event: Any) -> "RegisterOps":
        if event.type not in ("ok", "info") or not event.value or not self.base <= event.value[0] < self.base + self.keys:
            return self
        slot = event.value[0] - self.base
        if event.type == "info":
            if event.f == "read":
                return self
            since = _replaced(self.since_doubt, slot, 0)
            return RegisterOps(self.rng, self.next_value, self.base, self.done_in_window, self.last, self.keys,
                               self.ops_per_key, self.cas, since)
        done, base, last = self.done_in_window + 1, self.base, self.last
        since = _replaced(self.since_doubt, slot, self.since_doubt[slot] + 1)
        count = self.keys * self.ops_per_key
        if (done >= count and min(since) >= AFTER_DOUBT) or done >= CAP * count:
            done, base, last, since = 0, base + self.keys, (None,) * self.keys, ()
        return RegisterOps(self.rng, self.next_value, base, done, last, self.keys, self.ops_per_key, self.cas, since)


def _replaced(values: tuple, slot: int, value: Any) -> tuple:
    return values[:slot] + (value,) + values[slot + 1:]


class RegisterWorkload:
    name = "register"
    description = "read/write/cas on independent keys with unique values; checked for linearizability per key"

    def generator(self, options: WorkloadOptions) -> Any:
        params = options.params
        keys = int(params.get("keys", 5))
        return RegisterOps(
            rng=initial_state(f"{options.seed}:register"),
            next_value=1,
            base=0,
            done_in_window=0,
            last=(None,) * keys,
            keys=keys,
            ops_per_key=int(params.get("ops_per_key", 200)),
            cas=bool(params.get("cas", True)),
        )

    def final_generator(self, options: WorkloadOptions) -> Any:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        # stale-reads is implied by linearizable, but it names the anomaly and is cheap.
        return {"linearizable": {"model": "cas-register", "keyed": True}, "stale-reads": {}}
