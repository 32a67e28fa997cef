"""The local runtime on real namespaces: reachability, the root-namespace guard, faults at the
process and firewall level, and that nothing is left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.runtime import local, runs
from harness.runtime.local import LocalCluster, LocalRuntime, guard_routes, list_namespaces, live_subnets
from harness.seams import Cluster, HarnessError, NodeHandle

pytestmark = pytest.mark.root

PORT = 7300
ECHO_SERVER = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)\n"
    "while True:\n"
    "    c,_=s.accept(); c.sendall(b'hello from '+sys.argv[1].encode()+b'\\n'); c.close()\n"
)


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def cluster(tmp_path: Path):
    runtime = LocalRuntime()
    prefix = runtime.new_prefix()
    created = runtime.create(tmp_path, ["n1", "n2", "n3"], prefix)
    try:
        yield created
    finally:
        runtime.destroy(created)
    assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
    assert created.subnet not in guard_routes()


def start_echo(node) -> int:
    return node.spawn([sys.executable, "-c", ECHO_SERVER, node.address, str(PORT)], log_name="echo.log")


def greeting(cluster: LocalCluster, node) -> bytes:
    sock = cluster.connect(node, PORT, timeout=5)
    try:
        return sock.makefile("rb").readline()
    finally:
        sock.close()


def reachable(cluster: LocalCluster, node) -> bool:
    try:
        return greeting(cluster, node).startswith(b"hello")
    except OSError:
        return False


def peer_can_connect(source, target, timeout: float = 1.0) -> bool:
    probe = f"import socket; socket.create_connection(('{target.address}', {PORT}), {timeout}).close()"
    return source.exec([sys.executable, "-c", probe], timeout=30).returncode == 0


def test_the_cluster_and_its_nodes_offer_what_the_seams_declare(cluster: LocalCluster) -> None:
    """Nemeses read only declared members: the run's id, and the pid of a node's process as
    commands on the node name it."""
    assert isinstance(cluster, Cluster) and cluster.run_id == cluster.nodes[0].netns.rsplit("-", 1)[0]
    node = cluster.nodes[0]
    assert isinstance(node, NodeHandle) and node.pid is None
    pid = start_echo(node)
    assert node.pid == pid
    # The pid as the node sees it: the node's own namespace lists it (once `ip netns exec` in it
    # has entered the namespace and exec'd the server).
    wait_for(lambda: str(pid) in subprocess.run(["ip", "netns", "pids", node.netns], capture_output=True, text=True).stdout.split(),
             what="the node's namespace to list its process")


def test_clients_reach_every_node_from_the_client_namespace(cluster: LocalCluster) -> None:
    for node in cluster.nodes:
        start_echo(node)
    for node in cluster.nodes:
        wait_for(lambda: reachable(cluster, node), what=f"echo on {node.name}")
        assert greeting(cluster, node) == f"hello from {node.address}\n".encode()


def test_the_root_namespace_cannot_route_to_a_node(cluster: LocalCluster) -> None:
    assert cluster.subnet in guard_routes()
    route = subprocess.run(["ip", "route", "get", cluster.nodes[0].address], capture_output=True, text=True)
    # The blackhole route makes the lookup fail: nothing could leave by the default route.
    assert route.returncode != 0 or "blackhole" in route.stdout


def test_nodes_reach_each_other_until_a_firewall_rule_cuts_them(cluster: LocalCluster) -> None:
    n1, n2, n3 = cluster.nodes
    start_echo(n1)
    wait_for(lambda: reachable(cluster, n1), what="echo on n1")
    assert peer_can_connect(n2, n1)
    cluster.firewall(n1, ["-A", "INPUT", "-s", n2.address, "-j", "DROP"])
    assert not peer_can_connect(n2, n1)
    assert peer_can_connect(n3, n1)
    cluster.firewall(n1, ["-D", "INPUT", "-s", n2.address, "-j", "DROP"])
    assert peer_can_connect(n2, n1)


def test_pause_kill_and_restart_act_on_the_node_process(cluster: LocalCluster) -> None:
    node = cluster.nodes[0]
    pid = start_echo(node)
    wait_for(lambda: reachable(cluster, node), what="echo")

    node.pause()
    wait_for(lambda: _state(pid) == "T", what="the process to stop")
    assert node.is_running()
    node.resume()
    wait_for(lambda: _state(pid) in ("S", "R"), what="the process to run again")
    assert reachable(cluster, node)

    node.kill()
    assert not node.is_running()
    assert not reachable(cluster, node)

    new_pid = node.restart()
    assert new_pid != pid
    wait_for(lambda: reachable(cluster, node), what="the restarted echo")


def test_stop_ends_even_a_paused_process(cluster: LocalCluster) -> None:
    node = cluster.nodes[1]
    start_echo(node)
    wait_for(lambda: reachable(cluster, node), what="echo")
    node.pause()
    node.stop(timeout=10)
    assert not node.is_running()


CRASHING_CONTROLLER = """
import json, os, sys
from pathlib import Path
from harness.runtime.local import LocalRuntime
runtime = LocalRuntime()
prefix = runtime.new_prefix()
cluster = runtime.create(Path(sys.argv[1]), ["n1", "n2"], prefix)
pid = cluster.nodes[0].spawn([sys.executable, "-c", "import time; time.sleep(600)"])
print(json.dumps([prefix, cluster.subnet, pid]), flush=True)
os._exit(1)  # crash: no destroy
"""


def test_cleanup_removes_what_a_crashed_controller_left(tmp_path: Path) -> None:
    crashed = subprocess.run([sys.executable, "-c", CRASHING_CONTROLLER, str(tmp_path)],
                             capture_output=True, text=True, timeout=120, cwd=Path(__file__).parents[1])
    prefix, subnet, pid = json.loads(crashed.stdout)
    try:
        assert [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], "a crash cannot clean up"
        assert runs.read(prefix) is not None
        removed = LocalRuntime().cleanup(prefix)
        assert any(prefix in line for line in removed) and not removed.skipped
        assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
        assert subnet not in guard_routes()
        assert runs.read(prefix) is None
        wait_for(lambda: _state(pid) in (None, "Z"), what="the node process to end")
    finally:
        LocalRuntime().cleanup(prefix, force=True)


def test_plain_cleanup_skips_a_live_run_and_says_why(cluster: LocalCluster) -> None:
    """The controller of `cluster` is this process: alive, so its run is named and left whole."""
    pid = start_echo(cluster.nodes[0])
    wait_for(lambda: reachable(cluster, cluster.nodes[0]), what="echo")
    report = LocalRuntime().cleanup()
    assert f"run {cluster.run_id}: controller pid {os.getpid()} alive" in report.skipped
    assert not [line for line in report if cluster.run_id in line]
    assert LocalRuntime().cleanup(cluster.run_id).skipped == [f"run {cluster.run_id}: controller pid {os.getpid()} alive"]
    assert LocalRuntime().lost(cluster) is None
    assert cluster.subnet in guard_routes() and _state(pid) in ("S", "R")
    assert reachable(cluster, cluster.nodes[0])


def test_a_reused_pid_does_not_keep_a_dead_run_alive(cluster: LocalCluster) -> None:
    """The record names this process's pid with another start time, as when a crashed
    controller's pid was given to a new process: the run counts as gone."""
    record = cluster.record
    assert record is not None and record.alive()
    pid, _, started = record.controller.partition(":")
    stale = json.loads(record.path.read_text())
    stale["controller"] = f"{pid}:{int(started) - 1}"
    record.path.write_text(json.dumps(stale))
    removed = LocalRuntime().cleanup(cluster.run_id)
    assert any(f"network namespace {cluster.hub_netns}" == line for line in removed), removed
    assert not [ns for ns in list_namespaces() if ns.startswith(cluster.run_id + "-")]
    assert cluster.subnet not in guard_routes()
    assert "are gone" in LocalRuntime().lost(cluster)


def test_force_removes_a_named_live_run_and_the_run_can_tell(cluster: LocalCluster) -> None:
    removed = LocalRuntime().cleanup(cluster.run_id, force=True)
    assert [line for line in removed if cluster.hub_netns in line]
    lost = LocalRuntime().lost(cluster)
    assert lost and cluster.hub_netns in lost and "run record" in lost
    assert cluster.subnet not in guard_routes()


@pytest.mark.parametrize("prefix, force, words", [("", False, 'names no run'), (None, True, "give its --prefix"),
                                                  ("  ", True, "names no run")])
def test_cleanup_refuses_to_guess_which_runs_to_remove(prefix, force, words) -> None:
    with pytest.raises(HarnessError, match=words):
        LocalRuntime().cleanup(prefix, force=force)


class Stop(Exception):
    """What this test's SIGTERM handler raises, as the controller's does."""


def _raise_stop(signum, frame):
    raise Stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_creation_interrupted_after_any_step_leaves_nothing(tmp_path: Path, monkeypatch, sig: int) -> None:
    """A signal delivered right after each `ip` command of `create` in turn (deterministic: the
    command itself sends it): every try ends with the run's own exception and nothing of the
    cluster left, not a namespace, a guard route or a record."""
    real_ip = local._ip
    calls = []

    def counting_ip(*args, check=True):
        calls.append(args)
        return real_ip(*args, check=check)

    monkeypatch.setattr(local, "_ip", counting_ip)
    runtime = LocalRuntime()
    whole = runtime.create(tmp_path / "count", ["n1", "n2"], runtime.new_prefix())
    monkeypatch.setattr(local, "_ip", real_ip)
    runtime.destroy(whole)
    steps = len(calls)  # the commands of one whole create
    assert steps > 10
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    expected = Stop if sig == signal.SIGTERM else KeyboardInterrupt
    try:
        for at in range(1, steps + 1):
            calls.clear()

            def interrupting_ip(*args, check=True):
                result = real_ip(*args, check=check)
                calls.append(args)
                if len(calls) == at:
                    os.kill(os.getpid(), sig)
                return result

            monkeypatch.setattr(local, "_ip", interrupting_ip)
            prefix = runtime.new_prefix()
            try:
                with pytest.raises(expected):
                    runtime.create(tmp_path / str(at), ["n1", "n2"], prefix)
            finally:
                monkeypatch.setattr(local, "_ip", real_ip)
            assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], f"left after step {at}"
            assert runs.read(prefix) is None, f"record left after step {at}"
            # Other runs on this machine add and remove guard routes meanwhile. Under the host
            # lock none is added, and a run removes its route before its record, so every route
            # still there after the claims are read was claimed when they were read.
            with runs.host_lock():
                claimed = live_subnets() | {r.parts.get("subnet") for r in runs.all_records()}
                assert set(guard_routes()) <= claimed, f"unclaimed guard route after step {at}"
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_runtime_refuses_clearly_without_root(tmp_path: Path) -> None:
    script = (
        "import os\n"
        "from harness.runtime.local import LocalRuntime\n"
        "from harness.seams import HarnessError\n"
        "os.setuid(65534)\n"
        "try:\n"
        "    LocalRuntime().check_prerequisites()\n"
        "except HarnessError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert "needs root" in out.stdout


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
