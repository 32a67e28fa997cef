"""The `kill` fault: SIGKILL a random node's process group, and restart it on the next op.

The restart goes through the system's own `start`, which returns once the node serves clients.
"""

from __future__ import annotations

from typing import Any

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from nemeses.schedule import start_stop


class KillNemesis:
    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "kill":
            killed = []
            for name in op.value:
                node = cluster.node(name)
                if node.is_running():
                    node.kill()
                    killed.append(name)
            return op.complete(INFO, value={"killed": killed})
        if op.f == "start":
            return op.complete(INFO, value={"started": self._start_dead(cluster, system)})
        raise HarnessError(f"kill nemesis cannot do f={op.f!r}")

    def _start_dead(self, cluster: Cluster, system: System) -> list[str]:
        started = []
        for node in cluster.nodes:
            if not node.is_running():
                system.start(cluster, node)
                started.append(node.name)
        return started

    def teardown(self, cluster: Cluster, system: System) -> None:
        self._start_dead(cluster, system)


def package(options: NemesisOptions) -> NemesisPackage:
    if "kill" not in options.capabilities:
        raise HarnessError("--nemesis kill: this system does not support being killed")
    nodes = list(options.nodes)

    def kill_one(rng: Any) -> dict[str, Any]:
        return {"f": "kill", "value": [rng.choice(nodes)]}

    return NemesisPackage(
        name="kill",
        nemesis=KillNemesis(),
        fs=frozenset({"kill", "start"}),
        generator=start_stop("kill", options.seed, options.interval, kill_one, {"f": "start"}),
        final_generator={"f": "start"},
        draw={"kill": {"start": "kill", "stop": "start", "color": "#e8a0a0"}},
        options={"interval": options.interval, "targets": "one random node"},
    )
