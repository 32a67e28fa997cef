"""Seeded, pure schedules of operations, in the spirit of Jepsen's generators.

`core` holds the protocol and the `Context` interpreters share; `combinators` the building
blocks; `simulate` an interpreter on a logical clock for tests and for debugging a schedule.
"""

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.generator.rng import Rng, derive_seed

__all__ = ["PENDING", "Context", "Generator", "Rng", "derive_seed", "invocation"]
