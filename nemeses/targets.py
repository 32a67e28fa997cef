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
    if target in ("minority", "majority", "all"):
        return sorted(order[: size(target, len(order))])
    if target == "primary":
        return [PRIMARY]
    raise HarnessError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")


def size(target: str, count: int) -> int:
    """How many of `count` nodes `target` (one, minority, majority, all) names."""
    return {"one": 1, "minority": max(1, (count - 1) // 2), "majority": count // 2 + 1, "all": count}[target]


def spread(nodes: Sequence[str], rng: Any) -> list[str]:
    """One node, a minority or every node, each distinct size as likely as the others: on 2 or 3
    nodes one and a minority are the same single node, and drawing among the three names would
    leave the rest of the cluster alone two times in three (a lease keeper's clock on lockd's 2
    nodes, say)."""
    by_size: dict[int, str] = {}
    for target in ("one", "minority", "all"):
        by_size.setdefault(size(target, len(nodes)), target)
    names = list(by_size.values())
    return choose(names[rng.randrange(len(names))], nodes, rng)


def resolve(names: Sequence[str], cluster: Cluster, system: System) -> list[str]:
    """Op node names with the primary marker replaced by the actual node."""
    return [primary(system, cluster) if n == PRIMARY else n for n in names]
