"""Start-up that fits real clusters: every node is started before any is asked whether it is
ready, so a system whose nodes get ready only together (a quorum, a primary with replicas)
comes up; a nemesis's restart is bounded and reports the nodes still booting."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest

from harness.runtime.loopback import LoopbackCluster, LoopbackRuntime
from harness.seams import Cluster, HarnessError, NodeHandle
from harness.startup import restart_nodes, start_cluster, start_nodes

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


class QuorumSystem:
    """A node is ready only once a majority of the cluster runs: like Raft or etcd, it cannot
    get ready one node at a time."""

    name = "quorum"
    start_timeout = 30.0

    def __init__(self) -> None:
        self.started: list[str] = []

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        self.started.append(node.name)
        node.spawn(SLEEPER)

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        running = sum(1 for n in cluster.nodes if n.is_running())
        return running > len(cluster.nodes) // 2


class NeverReady(QuorumSystem):
    start_timeout = 1.0

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return False


class DiesAtStart(QuorumSystem):
    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        node.spawn([sys.executable, "-c", "raise SystemExit(1)"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LoopbackCluster]:
    runtime = LoopbackRuntime()
    created = runtime.create(tmp_path, ["n1", "n2", "n3"], runtime.new_prefix())
    try:
        yield created
    finally:
        runtime.destroy(created)


def test_a_quorum_system_comes_up_because_all_nodes_start_before_any_wait(cluster: LoopbackCluster) -> None:
    system = QuorumSystem()
    start_cluster(cluster, system)  # would time out if it waited for n1 before starting n2
    assert system.started == ["n1", "n2", "n3"]
    assert all(node.is_running() for node in cluster.nodes)


def test_a_node_that_never_gets_ready_fails_the_start_naming_it(cluster: LoopbackCluster) -> None:
    with pytest.raises(HarnessError, match=r"quorum did not start: n1 not ready after 1s"):
        start_cluster(cluster, NeverReady())


def test_a_node_that_exits_during_start_up_is_reported(cluster: LoopbackCluster) -> None:
    report = start_nodes(cluster, DiesAtStart(), cluster.nodes[:1])
    assert report.ready == [] and "exited during start-up" in report.not_ready["n1"]


def test_a_nemesis_restart_returns_within_its_bound_and_says_who_is_not_ready(cluster: LoopbackCluster) -> None:
    system = NeverReady()
    report = restart_nodes(cluster, system, cluster.nodes)
    assert report.ready == []
    assert sorted(report.not_ready) == ["n1", "n2", "n3"]
    assert report.describe() == {"started": [], "not_ready": report.not_ready}
    assert all(node.is_running() for node in cluster.nodes), "a slow node keeps booting after the bound"
