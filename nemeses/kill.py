"""Process faults: kill -9 or pause (SIGSTOP) the node processes of one node, a minority, a
majority, all, or the primary, and bring them back after a while (restart, or SIGCONT).

Everything goes through the node handle (`kill`, `pause`, `resume`), so the faults work on every
runtime. Kill and pause act on the whole process group of the node's process. Dead nodes come
back through `harness.startup.restart_nodes`: every one is started first and only then waited
for, within a bound, so even `kill:all` of a system that needs a quorum to boot heals, and a node
that does not get ready in time is reported in the op's value instead of hanging the nemesis.

Entry points: `kill` and `pause`, each with the variants one (the default), minority, majority,
all and primary: `--nemesis kill:minority`, `--nemesis pause:primary`.
"""

from __future__ import annotations

from typing import Any

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from harness.startup import restart_nodes
from nemeses.schedule import start_stop
from nemeses.targets import TARGETS, choose, resolve
from nemeses.variants import Family, schedule_key


class KillNemesis:
    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "kill":
            killed = []
            for name in resolve(op.value, cluster, system):
                node = cluster.node(name)
                if node.is_running():
                    node.kill()
                    killed.append(name)
            return op.complete(INFO, value={"killed": killed})
        if op.f == "start":
            return op.complete(INFO, value=self._start_dead(cluster, system))
        raise HarnessError(f"kill nemesis cannot do f={op.f!r}")

    def _start_dead(self, cluster: Cluster, system: System) -> dict[str, object]:
        dead = [node for node in cluster.nodes if not node.is_running()]
        return restart_nodes(cluster, system, dead).describe()

    def teardown(self, cluster: Cluster, system: System) -> None:
        self._start_dead(cluster, system)


class PauseNemesis:
    """SIGSTOP and SIGCONT. `resume` wakes every node, so a resume also heals what another pause
    package (or an earlier interrupted op) left stopped."""

    def setup(self, cluster: Cluster, system: System) -> None:
        pass

    def invoke(self, cluster: Cluster, system: System, op: Op) -> Op:
        if op.f == "pause":
            paused = []
            for name in resolve(op.value, cluster, system):
                node = cluster.node(name)
                if node.is_running():
                    node.pause()
                    paused.append(name)
            return op.complete(INFO, value={"paused": paused})
        if op.f == "resume":
            return op.complete(INFO, value={"resumed": self._resume_all(cluster)})
        raise HarnessError(f"pause nemesis cannot do f={op.f!r}")

    def _resume_all(self, cluster: Cluster) -> list[str]:
        resumed = []
        for node in cluster.nodes:
            if node.is_running():
                node.resume()
                resumed.append(node.name)
        return resumed

    def teardown(self, cluster: Cluster, system: System) -> None:
        self._resume_all(cluster)


def _build(fault: str, target: str, name: str, options: NemesisOptions) -> NemesisPackage:
    if fault not in options.capabilities:
        raise HarnessError(f"--nemesis {name}: this system does not support being {'killed' if fault == 'kill' else 'paused'}")
    nodes = list(options.nodes)
    stop = "start" if fault == "kill" else "resume"

    def begin(rng: Any) -> dict[str, Any]:
        return {"f": fault, "value": choose(target, nodes, rng)}

    return NemesisPackage(
        name=name,
        nemesis=KillNemesis() if fault == "kill" else PauseNemesis(),
        fs=frozenset({fault, stop}),
        generator=start_stop(schedule_key(name), options.seed, options.interval, begin, {"f": stop}),
        final_generator={"f": stop},
        draw={fault: {"start": fault, "stop": stop, "color": "#e8a0a0" if fault == "kill" else "#e8d0a0"}},
        options={"interval": options.interval, "targets": target, "back after": f"{stop}, one interval later"},
    )


kill = Family("kill", TARGETS, lambda target, name, options: _build("kill", target, name, options))
pause = Family("pause", TARGETS, lambda target, name, options: _build("pause", target, name, options))
