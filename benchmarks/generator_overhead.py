"""Generator cost per operation, for a limit(mix(...)) stack with 10 client threads.

Prints microseconds of CPU per op (process time, so other load on the machine counts less):

- "generator only": op() + update(invocation) + update(completion), with the Context
  bookkeeping (busy, free) a runner does, each op completing at once;
- "through simulate": the same stack run by `simulate`, whose fake client, heap and latency
  draws add their own cost;
- the runner's main-phase shape, both ways: clients(time_limit(stagger(mix))) alongside
  nemesis(cycle(sleep, start, sleep, stop)).

The runner needs 20,000 ops/s with 10 processes: the generator's share must stay well under
50 us per op.

    .venv/bin/python benchmarks/generator_overhead.py [ops]
"""

from __future__ import annotations

import os
import sys
import time

from harness.generator import (
    Context,
    any_of,
    clients,
    cycle,
    fn,
    limit,
    mix,
    nemesis,
    repeat,
    simulate,
    sleep,
    stagger,
    time_limit,
)


def workload(seed: int):
    def write(ctx, rng):
        return {"f": "write", "value": rng.randrange(1_000_000)}

    return mix([repeat({"f": "read"}), fn(write, seed), repeat({"f": "cas", "value": [1, 2]})], seed)


def generator_only(gen, ops: int, concurrency: int = 10) -> float:
    ctx = Context.initial(concurrency)
    started = time.process_time()
    for _ in range(ops):
        op, gen = gen.op(ctx)
        if op.time > ctx.time:  # take it at its time (a runner would wait until then)
            ctx = ctx.with_time(op.time)
        thread = ctx.thread_of(op.process)
        ctx = ctx.busy(thread)
        gen = gen.update(ctx, op)
        ctx = ctx.free_thread(thread)
        gen = gen.update(ctx, op.complete("ok"))
    return (time.process_time() - started) * 1e6 / ops


def through_simulate(gen, ops: int) -> float:
    started = time.process_time()
    history = simulate(gen, 10, latency_ns=100_000, nemesis=True, max_ops=ops)
    elapsed = time.process_time() - started
    return elapsed * 1e6 / sum(1 for op in history if op.type == "invoke")


def whole_test(ops: int):
    """The runner's main-phase shape: staggered clients alongside a start/stop fault cycle."""
    return limit(
        ops,
        any_of(
            clients(time_limit(3600, stagger(1e-6, workload(2), seed=2))),
            nemesis(cycle([sleep(0.01), {"f": "start"}, sleep(0.01), {"f": "stop"}])),
        ),
    )


def main() -> None:
    ops = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(f"{ops} ops each; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    rows = [
        ("limit(mix(...)), generator only", generator_only(limit(ops, workload(1)), ops)),
        ("limit(mix(...)), through simulate", through_simulate(limit(ops, workload(1)), ops)),
        ("clients(stagger(mix)) + nemesis(cycle), generator only", generator_only(whole_test(ops), ops)),
        ("clients(stagger(mix)) + nemesis(cycle), through simulate", through_simulate(whole_test(ops), ops)),
    ]
    for name, us in rows:
        print(f"{name:<58} {us:7.2f} us/op  ({1e6 / us:,.0f} ops/s)")


if __name__ == "__main__":
    main()
