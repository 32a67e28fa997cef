"""Seeded, pure schedules of operations, in the spirit of Jepsen's generators.

`core` holds the protocol and the `Context` interpreters share; `combinators` the building
blocks; `simulate` an interpreter on a logical clock for tests and for debugging a schedule.
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
