"""Process faults: kill -9 or pause (SIGSTOP) the node processes of one node, a minority, a
majority, all, or the primary, and bring them back after a while (restart, or SIGCONT).

Everything goes through the node handle (`kill`, `pause`, `resume`) and the system's own `start`,
which returns once the node serves clients again, so the faults work on every runtime. Kill and
pause act on the whole process group of the node's process.

Entry points: `kill` (one random node), `kill-minority`, `kill-majority`, `kill-all`,
`kill-primary`, and `pause`, `pause-minority`, `pause-majority`, `pause-all`, `pause-primary`.
"""

from __future__ import annotations

from typing import Any

from harness.history import INFO, Op
from harness.seams import Cluster, HarnessError, NemesisOptions, NemesisPackage, System
from nemeses.schedule import start_stop
from nemeses.targets import choose, resolve


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


def _package(fault: str, target: str, options: NemesisOptions) -> NemesisPackage:
    if fault not in options.capabilities:
        raise HarnessError(f"--nemesis {fault}: this system does not support being {'killed' if fault == 'kill' else 'paused'}")
    nodes = list(options.nodes)
    name = fault if target == "one" else f"{fault}-{target}"
    stop = "start" if fault == "kill" else "resume"

    def begin(rng: Any) -> dict[str, Any]:
        return {"f": fault, "value": choose(target, nodes, rng)}

    return NemesisPackage(
        name=name,
        nemesis=KillNemesis() if fault == "kill" else PauseNemesis(),
        fs=frozenset({fault, stop}),
        generator=start_stop(name, options.seed, options.interval, begin, {"f": stop}),
        final_generator={"f": stop},
        draw={fault: {"start": fault, "stop": stop, "color": "#e8a0a0" if fault == "kill" else "#e8d0a0"}},
        options={"interval": options.interval, "targets": target, "back after": f"{stop}, one interval later"},
    )


def package(options: NemesisOptions) -> NemesisPackage:
    return _package("kill", "one", options)


def kill_minority(options: NemesisOptions) -> NemesisPackage:
    return _package("kill", "minority", options)


def kill_majority(options: NemesisOptions) -> NemesisPackage:
    return _package("kill", "majority", options)


def kill_all(options: NemesisOptions) -> NemesisPackage:
    return _package("kill", "all", options)


def kill_primary(options: NemesisOptions) -> NemesisPackage:
    return _package("kill", "primary", options)


def pause(options: NemesisOptions) -> NemesisPackage:
    return _package("pause", "one", options)


def pause_minority(options: NemesisOptions) -> NemesisPackage:
    return _package("pause", "minority", options)


def pause_majority(options: NemesisOptions) -> NemesisPackage:
    return _package("pause", "majority", options)


def pause_all(options: NemesisOptions) -> NemesisPackage:
    return _package("pause", "all", options)


def pause_primary(options: NemesisOptions) -> NemesisPackage:
    return _package("pause", "primary", options)
