"""Partitions with Jepsen's shapes, cut with iptables in each node's namespace, then healed.

A partition is a *grudge*: node -> the nodes it must not hear from. Each node drops packets from
the nodes it holds a grudge against, in a chain of its own package (`FL-P-<shape>`, jumped to from
INPUT), so healing flushes exactly what that package added and nothing else, and several
partition packages can run in one test. A grudge need not be symmetric: `one-way` cuts only one
direction. Only traffic between nodes is cut; clients still reach every node, as in Jepsen.

Shapes (the variants of the `partition` entry point, e.g. `--nemesis partition:ring`):

- `halves` (the default, `--nemesis partition`): random halves; the larger side is a majority.
- `one`: one random node cut off from all others.
- `majority`: a random minority cut off from the majority (`halves` with an odd node count).
- `ring`: majorities ring; every node sees a majority, but no two see the same one.
- `bridge`: two halves with one node in both, which hears everyone.
- `primary`: the system's current primary cut off from all others.
- `one-way`: a random majority stops hearing a random minority; the minority still hears all.
- `mixed`: each partition picks one of the shapes above at random.

`grudge_from_groups` turns explicit groups (as given on the command line, "n1,n2|n3,n4,n5") into
a grudge for `PartitionNemesis`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from harness.history import INFO, Op
from harness.hooks import primary
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from nemeses.schedule import start_stop
from nemeses.targets import PRIMARY, shuffled
from nemeses.variants import Family, schedule_key

Grudge = dict[str, list[str]]


def _complete(groups: Sequence[Sequence[str]]) -> Grudge:
    """Each node holds a grudge against every node outside its own group."""
    everyone = sorted({n for g in groups for n in g})
    grudge = {}
    for group in groups:
        for node in group:
            grudge[node] = sorted(n for n in everyone if n not in group)
    return dict(sorted(grudge.items()))


def random_halves(nodes: Sequence[str], rng: Any) -> Grudge:
    order = shuffled(nodes, rng)
    cut = len(order) // 2
    return _complete([order[:cut], order[cut:]])


def isolate_one(nodes: Sequence[str], rng: Any) -> Grudge:
    order = shuffled(nodes, rng)
    return _complete([order[:1], order[1:]])


def minority_majority(nodes: Sequence[str], rng: Any) -> Grudge:
    order = shuffled(nodes, rng)
    cut = max(1, (len(order) - 1) // 2)
    return _complete([order[:cut], order[cut:]])


def majorities_ring(nodes: Sequence[str], rng: Any) -> Grudge:
    """Node i hears the majority centred on it around a shuffled ring, and no one else."""
    order = shuffled(nodes, rng)
    n = len(order)
    size = n // 2 + 1
    low = -((size - 1) // 2)
    grudge = {}
    for i, node in enumerate(order):
        friends = {order[(i + d) % n] for d in range(low, low + size)}
        grudge[node] = sorted(set(order) - friends)
    return dict(sorted(grudge.items()))


def bridge(nodes: Sequence[str], rng: Any) -> Grudge:
    """Two halves that share one node: it hears everyone, and everyone hears it."""
    order = shuffled(nodes, rng)
    middle = len(order) // 2
    left, centre, right = order[:middle], order[middle], order[middle + 1 :]
    grudge = {centre: []}
    for node in left:
        grudge[node] = sorted(right)
    for node in right:
        grudge[node] = sorted(left)
    return dict(sorted(grudge.items()))


def one_way(nodes: Sequence[str], rng: Any) -> Grudge:
    """A majority stops hearing a minority; the minority still hears the majority."""
    order = shuffled(nodes, rng)
    cut = max(1, (len(order) - 1) // 2)
    minority, majority = order[:cut], order[cut:]
    return {node: sorted(minority) for node in sorted(majority)}


def grudge_from_groups(spec: str | Sequence[Sequence[str]]) -> Grudge:
    """Explicit groups: "n1,n2|n3,n4,n5" or [["n1","n2"],["n3","n4","n5"]]; nodes of different
    groups cannot hear each other."""
    groups = [g.split(",") for g in spec.split("|")] if isinstance(spec, str) else [list(g) for g in spec]
    groups = [[n.strip() for n in g if n.strip()] for g in groups]
    seen = [n for g in groups for n in g]
    if len(groups) < 2 or any(not g for g in groups) or len(seen) != len(set(seen)):
        raise HarnessError(f"partition groups {spec!r}: give two or more disjoint, non-empty groups like n1,n2|n3")
    return _complete(groups)


SHAPES: dict[str, Callable[[Sequence[str], Any], Grudge]] = {
    "halves": random_halves,
    "one": isolate_one,
    "majority": minority_majority,
    "ring": majorities_ring,
    "bridge": bridge,
    "one-way": one_way,
}


class PartitionNemesis:
    """Applies grudges. `partition` ops carry a grudge; a grudge holding the primary marker
    (`{":primary": [":others"]}`) is resolved against the live system first."""

    def __init__(self, chain: str = "FL-PARTITION"):
        self.chain = chain

    def setup(self, cluster: Cluster, system: System) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-N", self.chain])
            cluster.firewall(node, ["-I", "INPUT", "-j", self.chain])

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "partition":
            grudge = self._resolve(cluster, system, op.value)
            self._heal(cluster)
            self._cut(cluster, grudge)
            return op.complete(INFO, value={"grudge": grudge})
        if op.f == "heal":
            self._heal(cluster)
            return op.complete(INFO, value="healed")
        raise HarnessError(f"partition nemesis cannot do f={op.f!r}")

    def _resolve(self, cluster: Cluster, system: System, grudge: Mapping[str, Sequence[str]]) -> Grudge:
        if PRIMARY not in grudge:
            return {k: list(v) for k, v in grudge.items()}
        leader = primary(system, cluster)
        others = sorted(n.name for n in cluster.nodes if n.name != leader)
        return _complete([[leader], others])

    def _cut(self, cluster: Cluster, grudge: Mapping[str, Sequence[str]]) -> None:
        for name, enemies in grudge.items():
            node = cluster.node(name)
            for enemy in enemies:
                cluster.firewall(node, ["-A", self.chain, "-s", cluster.node(enemy).address, "-j", "DROP"])

    def _heal(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-F", self.chain])

    def teardown(self, cluster: Cluster, system: System) -> None:
        for node in cluster.nodes:
            for argv in (["-F", self.chain], ["-D", "INPUT", "-j", self.chain], ["-X", self.chain]):
                try:
                    cluster.firewall(node, argv)
                except HarnessError:
                    pass  # already gone (a second teardown, or setup cut short)


def _build(shape: str, name: str, options: NemesisOptions) -> NemesisPackage:
    nodes = list(options.nodes)
    if len(nodes) < 2:
        raise HarnessError(f"--nemesis {name} needs at least 2 nodes")
    if shape == "primary":
        def make(rng: Any) -> Grudge:
            return {PRIMARY: [":others"]}
    elif shape == "mixed":
        names = sorted(SHAPES)

        def make(rng: Any) -> Grudge:
            return SHAPES[names[rng.randrange(len(names))]](nodes, rng)
    else:
        make = lambda rng, shape_fn=SHAPES[shape]: shape_fn(nodes, rng)  # noqa: E731
    return NemesisPackage(
        name=name,
        nemesis=PartitionNemesis("FL-PARTITION" if shape == "halves" else f"FL-P-{shape.upper()}"),
        fs=frozenset({"partition", "heal"}),
        generator=start_stop(schedule_key(name), options.seed, options.interval,
                             lambda rng: {"f": "partition", "value": make(rng)}, {"f": "heal"}),
        final_generator={"f": "heal"},
        draw={"partition": {"start": "partition", "stop": "heal", "color": "#a0c0e8"}},
        options={"interval": options.interval, "shape": shape},
    )


VARIANTS = ("halves", "one", "majority", "ring", "bridge", "primary", "one-way", "mixed")
partition = Family("partition", VARIANTS, _build)
