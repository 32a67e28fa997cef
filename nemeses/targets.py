"""Which nodes a fault hits: one, a minority, a majority, all, or the primary. Shared by the
process, clock, network, disk and slow-node faults, so each picks its targets the same way.

Choices are made with the seeded rng the schedule hands over, from the sorted node list, so a seed
gives the same targets on every run. `primary` is resolved when the fault runs, because only the
live system knows its leader: the op carries the marker and the nemesis asks the system
(`ReportsPrimary`, through `harness.hooks.primary`).
"""

from __future__ import annotations

from typing import Any, Sequence

from harness.hooks import primary
from harness.seams import Cluster, HarnessError, System

TARGETS = ("one", "minority", "majority", "all", "primary")
PRIMARY = ":primary"  # stands for the system's current primary in an op's node list


def shuffled(nodes: Sequence[str], rng: Any) -> list[str]:
    out = sorted(nodes)
    for i in range(len(out) - 1, 0, -1):
        j = rng.randrange(i + 1)
        out[i], out[j] = out[j], out[i]
    return out


def choose(target: str, nodes: Sequence[str], rng: Any) -> list[str]:
    """The node names for one fault."""
    order = shuffled(nodes, rng)
    if target == "one":
        return order[:1]
    if target == "minority":
        return sorted(order[: max(1, (len(order) - 1) // 2)])
    if target == "majority":
        return sorted(order[: len(order) // 2 + 1])
    if target == "all":
        return sorted(order)
    if target == "primary":
        return [PRIMARY]
    raise HarnessError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")


def resolve(names: Sequence[str], cluster: Cluster, system: System) -> list[str]:
    """Op node names with the primary marker replaced by the actual node."""
    return [primary(system, cluster) if n == PRIMARY else n for n in names]
