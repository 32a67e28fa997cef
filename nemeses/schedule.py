"""The schedule most faults share: wait, start a fault, wait, stop it, and again, for as long as
the main phase lasts. Gaps are random with the given mean (Jepsen's stagger), from the test's seed.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from harness.generator.combinators import fn, flip_flop, repeat, sequence, sleep, stagger
from harness.generator.rng import Rng, derive_seed


def start_stop(
    name: str,
    seed: int,
    interval: float,
    start: Callable[[Rng], Mapping[str, Any]],
    stop: Mapping[str, Any],
) -> Any:
    """`start(rng)` makes each fault-starting op (choosing its targets with the seeded rng);
    `stop` is the op that ends the fault."""
    starts = fn(lambda ctx, rng: dict(start(rng)), seed=derive_seed(seed, name))
    return sequence(
        sleep(interval),
        stagger(interval, flip_flop(starts, repeat(stop)), seed=derive_seed(seed, name, "gaps")),
    )


def repeated(name: str, seed: int, interval: float, make: Callable[[Rng], Mapping[str, Any]]) -> Any:
    """For faults that undo themselves within one op (kill, damage, restart): one op every
    `interval` seconds on average."""
    ops = fn(lambda ctx, rng: dict(make(rng)), seed=derive_seed(seed, name))
    return sequence(sleep(interval), stagger(interval, ops, seed=derive_seed(seed, name, "gaps")))
