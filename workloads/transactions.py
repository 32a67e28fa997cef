"""Elle-style transaction generators, shared by the list-append and rw-register workloads.

Each op is `f` "txn" with 1 to `max_length` micro-ops `[f, key, value]` on a small set of hot
keys: half reads (`["r", k, None]`), half writes (`["append", k, v]` or `["w", k, v]`, `v` unique
over the whole test). A key is retired for a fresh one once `writes_per_key` writes to it
completed `ok`, so list reads stay short and each key's version order stays small, while ops that
fail fast during an outage do not burn through keys: the keys in play before a crash are still
read after it, which is what shows a crash's lost commits. With
`abort_fraction` > 0 that share of transactions carries `extra["abort"]`: the client asks the
system to roll it back instead of committing, so its writes must never be seen (G1a if they are).

Parameters (`System.workload_params[<workload>]`): `keys` (hot keys at once, default 5),
`max_length` (default 4), `writes_per_key` (default 32), `abort_fraction` (default 0).
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.generator.rng import initial_state, next_random, unit
from harness.seams import WorkloadOptions


class TxnOps(Generator):
    """Pure: every field is immutable, and asking twice for an op gives the same op."""

    __slots__ = ("write_f", "rng", "active", "writes", "next_key", "next_value", "max_length",
                 "writes_per_key", "abort_fraction")

    def __init__(self, write_f: str, rng: int, active: tuple, writes: tuple, next_key: int, next_value: int,
                 max_length: int, writes_per_key: int, abort_fraction: float):
        self.write_f, self.rng, self.active, self.writes = write_f, rng, active, writes
        self.next_key, self.next_value = next_key, next_value
        self.max_length, self.writes_per_key, self.abort_fraction = max_length, writes_per_key, abort_fraction

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        z, rng = next_random(self.rng)
        length = 1 + z % self.max_length
        active, next_value = self.active, self.next_value
        micro_ops = []
        for _ in range(length):
            z, rng = next_random(rng)
            slot = z % len(active)
            if (z >> 32) & 1:
                micro_ops.append(["r", active[slot], None])
                continue
            micro_ops.append([self.write_f, active[slot], next_value])
            next_value += 1
        z, rng = next_random(rng)
        extra = {"abort": True} if unit(z) < self.abort_fraction else None
        op = invocation("txn", micro_ops, ctx.workers[thread], ctx.time, extra)
        return op, TxnOps(self.write_f, rng, self.active, self.writes, self.next_key, next_value,
                          self.max_length, self.writes_per_key, self.abort_fraction)

    def update(self, ctx: Context, event: Any) -> "TxnOps":
        if event.type != "ok" or event.f != "txn" or not isinstance(event.value, list):
            return self
        active, writes, next_key = list(self.active), list(self.writes), self.next_key
        for micro in event.value:
            if micro[0] == self.write_f and micro[1] in active:
                slot = active.index(micro[1])
                writes[slot] += 1
                if writes[slot] >= self.writes_per_key:
                    active[slot], writes[slot], next_key = next_key, 0, next_key + 1
        return TxnOps(self.write_f, self.rng, tuple(active), tuple(writes), next_key, self.next_value,
                      self.max_length, self.writes_per_key, self.abort_fraction)


def txn_generator(write_f: str, options: WorkloadOptions) -> TxnOps:
    params: Mapping[str, Any] = options.params
    keys = int(params.get("keys", 5))
    if keys < 1 or int(params.get("max_length", 4)) < 1 or int(params.get("writes_per_key", 32)) < 1:
        raise ValueError("keys, max_length and writes_per_key must be at least 1")
    return TxnOps(
        write_f=write_f,
        rng=initial_state(f"{options.seed}:{write_f}-txn"),
        active=tuple(range(keys)),
        writes=(0,) * keys,
        next_key=keys,
        next_value=1,
        max_length=int(params.get("max_length", 4)),
        writes_per_key=int(params.get("writes_per_key", 32)),
        abort_fraction=float(params.get("abort_fraction", 0.0)),
    )
