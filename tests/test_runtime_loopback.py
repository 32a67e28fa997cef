"""The loopback runtime: node handles over real local processes, an address per node in a
127.A.B.0/24 of the run's own, no firewall, and a cleanup that ends only crashed runs' nodes."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from harness import plugins
from harness.runtime.loopback import CONTROLLER_VAR, LoopbackRuntime
from harness.seams import Cluster, HarnessError, NodeHandle

SLEEPER = [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(600)"]


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def state(pid: int) -> str | None:
    """The process's state letter (R, S, T, Z, ...), or None when it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def gone(pid: int) -> bool:
    return state(pid) in (None, "Z")


@pytest.fixture
def runtime_cluster(tmp_path: Path):
    runtime = LoopbackRuntime()
    cluster = runtime.create(tmp_path / "run", ["n1", "n2", "n3"], runtime.new_prefix())
    try:
        yield runtime, cluster
    finally:
        runtime.destroy(cluster)


def test_is_a_registered_runtime_that_needs_no_root() -> None:
    runtime = plugins.load("runtime", "loopback")()
    assert runtime.name == "loopback"
    runtime.check_prerequisites()
    assert runtime.new_prefix() != runtime.new_prefix()


def test_nodes_get_addresses_of_their_own_and_share_one_port(runtime_cluster) -> None:
    runtime, cluster = runtime_cluster
    assert isinstance(cluster, Cluster) and all(isinstance(n, NodeHandle) for n in cluster.nodes)
    addresses = [ipaddress.ip_address(n.address) for n in cluster.nodes]
    block = ipaddress.ip_network(f"{addresses[0]}/24", strict=False)
    assert [str(a) for a in addresses] == [str(block.network_address + 10 + i) for i in (1, 2, 3)]
    assert block.subnet_of(ipaddress.ip_network("127.0.0.0/8")) and not str(block).startswith("127.0.")
    assert cluster.run_id and cluster.node("n2") is cluster.nodes[1]
    with pytest.raises(HarnessError, match="no node named"):
        cluster.node("n9")
    listeners = [socket.create_server((str(addresses[0]), 0))]
    port = listeners[0].getsockname()[1]
    try:
        listeners += [socket.create_server((str(a), port)) for a in addresses[1:]]
        for node, listener in zip(cluster.nodes, listeners):
            with cluster.connect(node, port, 5.0) as conn:
                accepted, peer = listener.accept()
                accepted.close()
    finally:
        for listener in listeners:
            listener.close()
    with pytest.raises(HarnessError, match="no firewall"):
        cluster.firewall(cluster.nodes[0], ["-A", "INPUT", "-j", "DROP"])
    for tool in (["tc", "qdisc", "show"], ["/usr/sbin/ip", "link"], ["ss", "-K", "dst", "127.0.0.1"]):
        with pytest.raises(HarnessError, match="no firewall"):  # it would act on the host's network
            cluster.nodes[0].exec(tool)


def test_a_node_spawns_signals_restarts_and_moves_files(runtime_cluster, tmp_path: Path) -> None:
    runtime, cluster = runtime_cluster
    node = cluster.node("n1")
    assert node.pid is None and not node.is_running()
    with pytest.raises(HarnessError, match="never started"):
        node.restart()
    node.spawn_env.update({"FROM_NEMESIS": "yes", "CLASH": "nemesis"})
    script = "import json, os, time; print(json.dumps([os.getcwd(), os.environ['FROM_NEMESIS'], os.environ['CLASH']]), flush=True); time.sleep(600)"
    pid = node.spawn([sys.executable, "-c", script], env={"CLASH": "system"}, log_name="x.log")
    assert node.pid == pid and node.is_running() and os.getpgid(pid) == pid
    log = node.log_dir / "x.log"
    wait_for(lambda: log.exists() and log.read_text().strip(), "the node's first output")
    assert json.loads(log.read_text()) == [str(node.data_dir), "yes", "system"]
    with pytest.raises(HarnessError, match="already runs"):
        node.spawn(SLEEPER)

    node.pause()
    wait_for(lambda: state(pid) == "T", "the node to stop")
    assert node.is_running()
    node.resume()
    wait_for(lambda: state(pid) != "T", "the node to run again")

    new_pid = node.restart()
    assert new_pid != pid and gone(pid) and node.is_running()
    node.pause()
    node.stop(timeout=10)  # a paused node still ends on stop
    assert not node.is_running() and gone(new_pid)

    source = tmp_path / "source.txt"
    source.write_text("payload")
    node.put_file(source, str(node.data_dir / "deep" / "copy.txt"))
    node.get_file(str(node.data_dir / "deep" / "copy.txt"), tmp_path / "back.txt")
    assert (tmp_path / "back.txt").read_text() == "payload"
    assert node.exec(["cat", str(node.data_dir / "deep" / "copy.txt")]).stdout == "payload"


def test_destroy_ends_every_node_and_can_run_twice(tmp_path: Path) -> None:
    runtime = LoopbackRuntime()
    cluster = runtime.create(tmp_path, ["n1", "n2"], runtime.new_prefix())
    pids = [node.spawn(SLEEPER) for node in cluster.nodes]
    cluster.nodes[1].pause()
    runtime.destroy(cluster)
    runtime.destroy(cluster)
    assert all(gone(pid) for pid in pids)


CRASHING_CONTROLLER = """
import json, os, sys
from pathlib import Path
from harness.runtime.loopback import CONTROLLER_VAR, LoopbackRuntime
runtime = LoopbackRuntime()
prefix = runtime.new_prefix()
cluster = runtime.create(Path(sys.argv[1]), ["n1"], prefix)
pid = cluster.nodes[0].spawn([sys.executable, "-c", "import time; time.sleep(600)"])
print(json.dumps([prefix, pid]), flush=True)
os._exit(1)  # crash: no destroy
"""


def test_cleanup_ends_a_crashed_runs_nodes_and_leaves_live_runs_alone(runtime_cluster, tmp_path: Path) -> None:
    runtime, live = runtime_cluster
    live_pid = live.nodes[0].spawn(SLEEPER)
    crashed = subprocess.run([sys.executable, "-c", CRASHING_CONTROLLER, str(tmp_path / "crashed")],
                             capture_output=True, text=True, timeout=60)
    prefix, orphan = json.loads(crashed.stdout)
    try:
        assert not gone(orphan)
        assert runtime.cleanup(live.run_id) == []  # its controller (this process) is alive
        removed = runtime.cleanup(prefix)
        assert removed == [f"process group {orphan} of node n1 of run {prefix}"]
        assert gone(orphan) and live.nodes[0].is_running() and not gone(live_pid)
        assert runtime.cleanup(prefix) == []
    finally:
        if not gone(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_plain_cleanup_names_a_live_run_it_leaves_alone(runtime_cluster) -> None:
    runtime, live = runtime_cluster
    pid = live.nodes[0].spawn(SLEEPER)
    report = runtime.cleanup()
    assert f"run {live.run_id}: controller pid {os.getpid()} alive" in report.skipped
    assert not [line for line in report if live.run_id in line]
    assert not gone(pid)


def test_a_reused_controller_pid_does_not_keep_a_crashed_run_alive(tmp_path: Path) -> None:
    """The marker names this process's pid with another start time, as when a crashed
    controller's pid went to a new process: its nodes count as orphans."""
    runtime = LoopbackRuntime()
    cluster = runtime.create(tmp_path, ["n1"], runtime.new_prefix())
    node = cluster.nodes[0]
    pid_text, _, started = node.marker[CONTROLLER_VAR].partition(":")
    node.marker[CONTROLLER_VAR] = f"{pid_text}:{int(started) - 1}"
    pid = node.spawn(SLEEPER)
    try:
        removed = runtime.cleanup(cluster.run_id)
        assert removed == [f"process group {pid} of node n1 of run {cluster.run_id}"] and not removed.skipped
        assert gone(pid)
    finally:
        runtime.destroy(cluster)


def test_force_ends_a_named_live_run_only(runtime_cluster, tmp_path: Path) -> None:
    runtime, live = runtime_cluster
    other = runtime.create(tmp_path / "other", ["n1"], runtime.new_prefix())
    try:
        victim, bystander = live.nodes[0].spawn(SLEEPER), other.nodes[0].spawn(SLEEPER)
        removed = runtime.cleanup(live.run_id, force=True)
        assert removed == [f"process group {victim} of node n1 of run {live.run_id}"]
        assert gone(victim) and not gone(bystander)
    finally:
        runtime.destroy(other)


@pytest.mark.parametrize("prefix, force, words", [("", False, "names no run"), (None, True, "give its --prefix")])
def test_cleanup_refuses_an_empty_prefix_and_force_without_one(prefix, force, words) -> None:
    with pytest.raises(HarnessError, match=words):
        LoopbackRuntime().cleanup(prefix, force=force)
