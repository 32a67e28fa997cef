"""Seeded randomness carried as a plain integer, so generators stay immutable values.

splitmix64 (Steele, Lea and Flood, 2014): one 64-bit state word, advanced by a constant and
scrambled on output. A generator keeps the state; asking it twice for an op draws the same
numbers, and no global `random` is ever touched.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def next_random(state: int) -> tuple[int, int]:
    """(a uniform 64-bit number, the next state)."""
    state = (state + _GOLDEN) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31), state


def unit(z: int) -> float:
    """A 64-bit number as a float in [0, 1)."""
    return (z >> 11) * (1.0 / (1 << 53))


def derive_seed(seed: int | str, *labels: Any) -> int:
    """An independent 64-bit seed per purpose, all from one test seed: derive_seed(s, "mix")."""
    text = ":".join(str(part) for part in (seed, *labels)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def initial_state(seed: int | str) -> int:
    """The state a seed starts from (strings and big ints are hashed down to 64 bits)."""
    if isinstance(seed, int) and 0 <= seed <= _MASK:
        return seed
    return derive_seed(seed)


class Rng:
    """A small random source handed to op functions (`lift(f)` calls `f(ctx, rng)`).

    It advances while the function draws from it; the function generator then keeps its final
    `state`, so the next op draws new numbers and a repeated ask draws the same ones.
    """

    __slots__ = ("state",)

    def __init__(self, state: int):
        self.state = state

    def bits(self) -> int:
        z, self.state = next_random(self.state)
        return z

    def random(self) -> float:
        """A float in [0, 1)."""
        return unit(self.bits())

    def randrange(self, n: int) -> int:
        """An int in [0, n)."""
        if n <= 0:
            raise ValueError(f"randrange needs n > 0, got {n}")
        return self.bits() % n

    def randint(self, a: int, b: int) -> int:
        """An int in [a, b], both included."""
        return a + self.randrange(b - a + 1)

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.random()

    def choice(self, items: Sequence[Any]) -> Any:
        if not items:
            raise IndexError("choice from an empty sequence")
        return items[self.randrange(len(items))]

    def sample(self, items: Sequence[Any], k: int) -> list[Any]:
        """k distinct items, in random order."""
        pool = list(items)
        if not 0 <= k <= len(pool):
            raise ValueError(f"sample of {k} from {len(pool)} items")
        for i in range(k):
            j = i + self.randrange(len(pool) - i)
            pool[i], pool[j] = pool[j], pool[i]
        return pool[:k]
