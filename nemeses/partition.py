"""The `partition` fault: split the nodes into random halves with iptables in each node's
namespace, then heal.

Rules go into a chain of our own (`FL-PARTITION`, jumped to from INPUT), so healing flushes exactly
what a partition added and nothing else. Only traffic between nodes is cut; clients still reach
every node, as in Jepsen.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from nemeses.schedule import start_stop

CHAIN = "FL-PARTITION"


def random_halves(nodes: Sequence[str], rng: Any) -> dict[str, list[str]]:
    """A grudge (node -> the nodes it must not hear from) splitting a shuffled list in two."""
    shuffled = list(nodes)
    for i in range(len(shuffled) - 1, 0, -1):
        j = rng.randrange(i + 1)
        shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
    cut = len(shuffled) // 2
    halves = [sorted(shuffled[:cut]), sorted(shuffled[cut:])]
    grudge = {}
    for mine, other in (halves, halves[::-1]):
        for node in mine:
            grudge[node] = other
    return dict(sorted(grudge.items()))


class PartitionNemesis:
    def setup(self, cluster: Cluster, system: System) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-N", CHAIN])
            cluster.firewall(node, ["-I", "INPUT", "-j", CHAIN])

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "partition":
            self._heal(cluster)
            self._cut(cluster, op.value)
            return op.complete(INFO, value={"grudge": op.value})
        if op.f == "heal":
            self._heal(cluster)
            return op.complete(INFO, value="healed")
        raise HarnessError(f"partition nemesis cannot do f={op.f!r}")

    def _cut(self, cluster: Cluster, grudge: Mapping[str, Sequence[str]]) -> None:
        for name, enemies in grudge.items():
            node = cluster.node(name)
            for enemy in enemies:
                cluster.firewall(node, ["-A", CHAIN, "-s", cluster.node(enemy).address, "-j", "DROP"])

    def _heal(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-F", CHAIN])

    def teardown(self, cluster: Cluster, system: System) -> None:
        for node in cluster.nodes:
            cluster.firewall(node, ["-F", CHAIN])
            cluster.firewall(node, ["-D", "INPUT", "-j", CHAIN])
            cluster.firewall(node, ["-X", CHAIN])


def package(options: NemesisOptions) -> NemesisPackage:
    nodes = list(options.nodes)
    if len(nodes) < 2:
        raise HarnessError("--nemesis partition needs at least 2 nodes")
    return NemesisPackage(
        name="partition",
        nemesis=PartitionNemesis(),
        fs=frozenset({"partition", "heal"}),
        generator=start_stop(
            "partition", options.seed, options.interval,
            lambda rng: {"f": "partition", "value": random_halves(nodes, rng)}, {"f": "heal"},
        ),
        final_generator={"f": "heal"},
        draw={"partition": {"start": "partition", "stop": "heal", "color": "#a0c0e8"}},
        options={"interval": options.interval, "shape": "random halves"},
    )
