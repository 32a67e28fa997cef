"""Seeded, pure schedules of operations, in the spirit of Jepsen's generators.

`core` holds the protocol and the `Context` interpreters share; `combinators` the building
blocks; `simulate` an interpreter on a logical clock for tests and for debugging a schedule.

A whole test, for instance:

    seed = 7
    writes = fn(lambda ctx, rng: {"f": "write", "value": rng.randrange(100)}, seed)
    workload = stagger(0.01, mix([repeat({"f": "read"}), writes], seed), seed)   # ~100 ops/s
    faults = cycle([sleep(5), {"f": "start-partition"}, sleep(5), {"f": "stop-partition"}])
    schedule = phases(
        time_limit(60, any_of(clients(workload), nemesis(faults))),
        nemesis({"f": "stop-partition"}),                                  # heal
        clients(each_thread({"f": "read", "final": True})),                # one final read each
    )
    for op in simulate(schedule, concurrency=5, seed=seed)[:20]:
        print(op.to_dict())

Same seed, same schedule: randomness comes only from seeds given to `mix`, `stagger` and `fn`
(derive several from one with `derive_seed(seed, "purpose")`).
"""

from harness.generator.combinators import (
    EXHAUSTED,
    any_of,
    clients,
    cycle,
    delay,
    each_thread,
    flip_flop,
    fn,
    lift,
    limit,
    mix,
    nemesis,
    on_threads,
    once,
    paced,
    phases,
    repeat,
    sequence,
    sleep,
    stagger,
    synchronize,
    then,
    time_limit,
    until_ok,
)
from harness.generator.core import PENDING, Context, Generator, invocation
from harness.generator.rng import Rng, derive_seed
from harness.generator.simulate import SimulationError, simulate

__all__ = [
    "EXHAUSTED",
    "PENDING",
    "Context",
    "Generator",
    "Rng",
    "SimulationError",
    "any_of",
    "clients",
    "cycle",
    "delay",
    "derive_seed",
    "each_thread",
    "flip_flop",
    "fn",
    "invocation",
    "lift",
    "limit",
    "mix",
    "nemesis",
    "on_threads",
    "once",
    "paced",
    "phases",
    "repeat",
    "sequence",
    "simulate",
    "sleep",
    "stagger",
    "synchronize",
    "then",
    "time_limit",
    "until_ok",
]
