"""Bringing nodes up: start every node first, then wait until all of them are ready.

Starting one node and waiting for it before the next works only for systems whose nodes can
serve alone. A Raft group, an etcd cluster or a primary with replicas gets ready only once
enough of its members run, so the harness launches every node (`System.start`) and only then
polls each one's readiness (`ReportsReadiness.ready`), within one bound for the lot.

The runner waits as long as the system allows (`start_timeout`) and fails the run when a node
never gets ready. A nemesis restarting nodes waits at most `NEMESIS_BOUND` and reports the
nodes still booting instead of failing, so a heal never hangs on a node that needs a quorum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from harness.hooks import node_ready, start_timeout
from harness.seams import Cluster, HarnessError, NodeHandle, System

NEMESIS_BOUND = 30.0  # seconds a fault's restart may hold the nemesis thread
POLL = 0.05


@dataclass
class StartReport:
    ready: list[str] = field(default_factory=list)
    not_ready: dict[str, str] = field(default_factory=dict)  # node -> why (still booting, exited)

    def describe(self) -> dict[str, object]:
        """For a nemesis op's value: which nodes came back, and which did not yet."""
        out: dict[str, object] = {"started": self.ready}
        if self.not_ready:
            out["not_ready"] = self.not_ready
        return out


def start_nodes(cluster: Cluster, system: System, nodes: Sequence[NodeHandle],
                timeout: float | None = None) -> StartReport:
    """Start each node, then wait up to `timeout` (default: the system's start timeout) for all
    of them to be ready. Never raises for a node that is slow or dies: the report says so."""
    bound = start_timeout(system) if timeout is None else timeout
    report = StartReport()
    waiting: list[NodeHandle] = []
    for node in nodes:
        try:
            system.start(cluster, node)
            waiting.append(node)
        except HarnessError as e:
            report.not_ready[node.name] = str(e)
    deadline = time.monotonic() + bound
    last_error: dict[str, str] = {}
    while waiting:
        for node in list(waiting):
            if not node.is_running():
                report.not_ready[node.name] = f"exited during start-up; see {_logs(node)}"
                waiting.remove(node)
                continue
            try:
                if node_ready(system, cluster, node):
                    report.ready.append(node.name)
                    waiting.remove(node)
                else:
                    last_error.pop(node.name, None)  # the probe ran: an older error is no longer why
            except Exception as e:  # a readiness probe that throws is "not yet", with a reason
                last_error[node.name] = f"{type(e).__name__}: {e}"
        if not waiting or time.monotonic() > deadline:
            break
        time.sleep(POLL)
    for node in waiting:
        why = last_error.get(node.name, "its readiness probe never said ready")
        report.not_ready[node.name] = f"not ready after {bound:g}s ({why}); see {_logs(node)}"
    report.ready.sort()
    return report


def _logs(node: NodeHandle) -> str:
    """The node's log files, for a message a person acts on (the directory if none is there yet)."""
    try:
        found = sorted(str(p) for p in Path(node.log_dir).glob("*.log"))
    except OSError:
        found = []
    return ", ".join(found) or str(node.log_dir)


def start_cluster(cluster: Cluster, system: System, nodes: Sequence[NodeHandle] | None = None) -> None:
    """Start-up at the beginning of a run, or in a test: every node must get ready."""
    report = start_nodes(cluster, system, list(cluster.nodes if nodes is None else nodes))
    if report.not_ready:
        raise HarnessError(f"{system.name} did not start: " +
                           "; ".join(f"{name} {why}" for name, why in sorted(report.not_ready.items())))


def restart_nodes(cluster: Cluster, system: System, nodes: Sequence[NodeHandle]) -> StartReport:
    """For nemeses: bring these nodes back, holding the nemesis thread at most NEMESIS_BOUND."""
    return start_nodes(cluster, system, nodes, min(start_timeout(system), NEMESIS_BOUND))
