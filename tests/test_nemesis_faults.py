"""Every fault on a real local cluster: its effect, measured from inside the nodes, and its heal;
and after each test, that nothing of the fault is left (rules, qdiscs, shims, faketime files,
cgroups, processes). One three-node cluster serves the module; the last check is that destroying
it leaves no namespace behind."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.history import Op
from harness.runtime.local import LocalRuntime, guard_routes, list_namespaces
from harness.seams import HarnessError
from harness.startup import start_cluster
from nemeses.clock import CONTROL_FILE, ClockNemesis
from nemeses.disk import DiskNemesis
from nemeses.kill import KillNemesis, PauseNemesis
from nemeses.network import NetworkNemesis
from nemeses.partition import PartitionNemesis, grudge_from_groups
from nemeses.slow import SlowNemesis

pytestmark = pytest.mark.root

PROBE = str(Path(__file__).with_name("nemesis_probe.py"))
TCP_PORT = 7300


def wait_for(condition, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class ProbeSystem:
    """A stand-in system: each node runs the probe server."""

    name = "probe"
    capabilities = frozenset({"kill", "pause", "clock", "disk"})
    durable_files = ("probe.log",)

    def __init__(self, primary: str | None = None):
        self._primary = primary

    def primary(self, cluster) -> str | None:
        return self._primary

    def start(self, cluster, node) -> None:
        node.spawn([sys.executable, PROBE, "serve", node.address, str(node.data_dir)], log_name="probe.log")

    def ready(self, cluster, node) -> bool:
        return _try_ask(cluster, node, "time", timeout=1.0) is not None

    def teardown(self, cluster) -> None:
        for node in cluster.nodes:
            node.stop()


def _try_ask(cluster, node, line: str, timeout: float = 10.0):
    try:
        return ask(cluster, node, line, timeout)
    except OSError:
        return None


def ask(cluster, node, line: str, timeout: float = 10.0) -> dict:
    sock = cluster.connect(node, TCP_PORT, timeout)
    try:
        sock.settimeout(timeout)
        sock.sendall(line.encode() + b"\n")
        return json.loads(sock.makefile("rb").readline())
    finally:
        sock.close()


def run_probe(node, *args: str, timeout: float = 60.0) -> str:
    result = node.exec([sys.executable, PROBE, *args], timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


def reach(src, dst) -> bool:
    return run_probe(src, "reach", dst.address).strip() == "ok"


def nemesis_op(f: str, value=None) -> Op:
    return Op(type="invoke", f=f, value=value, process="nemesis")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    runtime = LocalRuntime()
    prefix = runtime.new_prefix()
    created = runtime.create(tmp_path_factory.mktemp("nemesis"), ["n1", "n2", "n3"], prefix)
    system = ProbeSystem()
    try:
        start_cluster(created, system)
        yield created
    finally:
        system.teardown(created)
        runtime.destroy(created)
    assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
    assert created.subnet not in guard_routes()


@pytest.fixture
def system(cluster):
    system = ProbeSystem()
    yield system
    # Every node serves again and nothing of any fault is left on it.
    start_cluster(cluster, system, [node for node in cluster.nodes if not node.is_running()])
    for node in cluster.nodes:
        rules = node.exec(["iptables-save"]).stdout + node.exec(["iptables-save", "-t", "mangle"]).stdout
        assert "FL-" not in rules, rules
        assert "tbf" not in node.exec(["tc", "qdisc", "show", "dev", "eth0"]).stdout
        assert not (node.log_dir / CONTROL_FILE).exists()
        assert not any(k.startswith(("FAKETIME", "LD_PRELOAD", "DONT_FAKE")) for k in node.spawn_env)
        wait_for(lambda: _netns_pids(node) == [node.pid], what=f"{node.name} to run its server alone")
    assert not [g for g in _cgroups() if cluster.run_id in g]


def _netns_pids(node) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", node.netns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def _cgroup_of(pid: int) -> str:
    """The process's cpu cgroup path (v1 `cpu` line, or the v2 unified line)."""
    for line in open(f"/proc/{pid}/cgroup"):
        _, controllers, path = line.rstrip("\n").split(":", 2)
        if "cpu" in controllers.split(",") or controllers == "":
            return path
    return ""


def _cgroups() -> list[str]:
    found = []
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/cpu"):
        if os.path.isdir(root):
            found += [e for e in os.listdir(root) if e.startswith("faultline-")]
    return found


# --- partitions -----------------------------------------------------------------------------


def test_partition_cuts_a_node_off_and_heal_restores_it(cluster, system):
    n1, n2, n3 = cluster.nodes
    nemesis = PartitionNemesis("FL-P-TEST")
    nemesis.setup(cluster, system)
    try:
        done = nemesis.invoke(cluster, system, nemesis_op("partition", grudge_from_groups("n1|n2,n3")))
        assert done.value["grudge"] == {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}
        assert not reach(n2, n1) and not reach(n1, n3)
        assert reach(n2, n3)
        assert _try_ask(cluster, n1, "time"), "clients still reach a partitioned node"
        nemesis.invoke(cluster, system, nemesis_op("heal"))
        assert reach(n2, n1) and reach(n1, n3)
    finally:
        nemesis.teardown(cluster, system)


def test_one_way_partition_cuts_one_direction(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = PartitionNemesis("FL-P-TEST")
    nemesis.setup(cluster, system)
    try:
        nemesis.invoke(cluster, system, nemesis_op("partition", {"n1": ["n2"]}))
        for node in (n1, n2):
            ask(cluster, node, "udp reset")
        run_probe(n2, "udp", n1.address, "200")
        run_probe(n1, "udp", n2.address, "200")
        assert wait_for(lambda: ask(cluster, n2, "udp")["received"], what="datagrams at n2") > 0
        assert ask(cluster, n1, "udp")["received"] == 0
    finally:
        nemesis.teardown(cluster, system)
    run_probe(n2, "udp", n1.address, "50")
    assert wait_for(lambda: ask(cluster, n1, "udp")["received"], what="datagrams after the heal") > 0


def test_primary_partition_isolates_what_the_system_reports(cluster):
    system = ProbeSystem(primary="n3")
    nemesis = PartitionNemesis("FL-P-TEST")
    nemesis.setup(cluster, system)
    try:
        done = nemesis.invoke(cluster, system, nemesis_op("partition", {":primary": [":others"]}))
        assert done.value["grudge"]["n3"] == ["n1", "n2"]
        assert not reach(cluster.nodes[0], cluster.nodes[2])
    finally:
        nemesis.teardown(cluster, system)
    assert reach(cluster.nodes[0], cluster.nodes[2])


# --- processes ------------------------------------------------------------------------------


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_kill_ends_the_process_and_start_brings_it_back(cluster, system):
    n1 = cluster.nodes[0]
    old_pid = n1.pid
    nemesis = KillNemesis()
    done = nemesis.invoke(cluster, system, nemesis_op("kill", ["n1"]))
    assert done.value == {"killed": ["n1"]}
    assert not n1.is_running() and not os.path.exists(f"/proc/{old_pid}")
    assert _try_ask(cluster, n1, "time") is None
    done = nemesis.invoke(cluster, system, nemesis_op("start"))
    assert done.value == {"started": ["n1"]}  # every dead node started, then all were ready
    assert n1.pid != old_pid and ask(cluster, n1, "time")


def test_kill_primary_kills_the_reported_node(cluster):
    system = ProbeSystem(primary="n2")
    nemesis = KillNemesis()
    assert nemesis.invoke(cluster, system, nemesis_op("kill", [":primary"])).value == {"killed": ["n2"]}
    nemesis.teardown(cluster, system)
    assert cluster.nodes[1].is_running()


def test_pause_stops_the_process_and_resume_wakes_it(cluster, system):
    n2 = cluster.nodes[1]
    nemesis = PauseNemesis()
    try:
        assert nemesis.invoke(cluster, system, nemesis_op("pause", ["n2"])).value == {"paused": ["n2"]}
        assert wait_for(lambda: _state(n2.pid) == "T", what="n2 stopped")
        with pytest.raises(OSError):
            ask(cluster, n2, "time", timeout=0.5)
    finally:
        nemesis.invoke(cluster, system, nemesis_op("resume"))
    assert _state(n2.pid) != "T"
    assert ask(cluster, n2, "time")


# --- clocks ---------------------------------------------------------------------------------


def _skew(cluster, node) -> tuple[float, float]:
    """(wall clock offset, monotonic offset) of the node's process against this one's."""
    before_wall, before_mono = time.time(), time.monotonic()
    reply = ask(cluster, node, "time")
    after_wall, after_mono = time.time(), time.monotonic()
    return reply["time"] - (before_wall + after_wall) / 2, reply["monotonic"] - (before_mono + after_mono) / 2


def test_clock_bump_drift_strobe_and_reset(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = ClockNemesis()
    origin = time.time()
    nemesis.setup(cluster, system)  # restarts the nodes with libfaketime loaded
    try:
        done = nemesis.invoke(cluster, system, nemesis_op("bump", {"nodes": ["n1"], "delta": 30.0}))
        assert done.value["offsets"] == {"n1": pytest.approx(30.0, abs=0.01)}
        wall, mono = _skew(cluster, n1)
        assert wall == pytest.approx(30.0, abs=0.5) and mono == pytest.approx(0.0, abs=0.5)
        assert _skew(cluster, n2)[0] == pytest.approx(0.0, abs=0.5)

        nemesis.invoke(cluster, system, nemesis_op("drift", {"nodes": ["n2"], "rate": 2.0}))
        first = ask(cluster, n2, "time")
        later = wait_for(lambda: (r := ask(cluster, n2, "time"))["monotonic"] - first["monotonic"] > 1.0 and r, what="a second")
        rate = (later["time"] - first["time"]) / (later["monotonic"] - first["monotonic"])
        assert rate == pytest.approx(2.0, rel=0.1)

        seen: set[int] = set()
        strobe = threading.Thread(target=nemesis.invoke, args=(cluster, system, nemesis_op(
            "strobe", {"nodes": ["n1"], "delta": -20.0, "period": 1, "duration": 3})))
        strobe.start()
        while strobe.is_alive():
            seen.add(round(_skew(cluster, n1)[0] / 10))
        strobe.join()
        assert {3, 1} <= seen, f"strobe offsets seen (tens of seconds): {seen}"
        assert _skew(cluster, n1)[0] == pytest.approx(30.0, abs=0.5)

        nemesis.invoke(cluster, system, nemesis_op("reset-clock"))
        for node in (n1, n2):
            assert _skew(cluster, node)[0] == pytest.approx(0.0, abs=0.5)
    finally:
        nemesis.teardown(cluster, system)
    # The results hook has every node's line; n1's steps to +30 s at the bump.
    clock = nemesis.results(origin)["clock"]
    assert set(clock) == {"n1", "n2", "n3"}
    assert [value for _, value in clock["n1"]][:3] == [0.0, 0.0, pytest.approx(30.0, abs=0.01)]
    assert clock["n1"][-1][1] == 0.0 and clock["n2"][-1][1] == 0.0
    assert not list(cluster.run_dir.glob("clock.json")), "the offsets go to results, not to a file"
    # Teardown stopped the nodes; their next start is a plain one again.
    assert not any(node.is_running() for node in cluster.nodes)
    start_cluster(cluster, system)
    for node in cluster.nodes:
        assert "LD_PRELOAD" not in open(f"/proc/{node.pid}/environ").read()


# --- network --------------------------------------------------------------------------------


def _delivery(cluster, src, dst, count: int = 2000) -> dict:
    """Datagrams that arrived, once the count has stopped changing (none are acknowledged)."""
    ask(cluster, dst, "udp reset")
    run_probe(src, "udp", dst.address, str(count))
    last: list[dict] = [{}]

    def settled():
        now = ask(cluster, dst, "udp")
        done = now == last[0] and now["received"] > 0
        last[0] = now
        return done and now

    return wait_for(settled, what="datagrams to stop arriving")


def test_loss_and_duplication_are_near_what_was_asked(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = NetworkNemesis("FL-NET-TEST", "heal-net")
    nemesis.setup(cluster, system)
    try:
        nemesis.invoke(cluster, system, nemesis_op("loss", {"nodes": ["n1"], "p": 0.3}))
        got = _delivery(cluster, n2, n1)
        assert got["received"] / 2000 == pytest.approx(0.7, abs=0.06)
        nemesis.invoke(cluster, system, nemesis_op("duplicate", {"nodes": ["n2"], "p": 0.3}))
        got = _delivery(cluster, n2, n1)
        assert got["distinct"] == 2000
        assert got["received"] / 2000 == pytest.approx(1.3, abs=0.06)
        nemesis.invoke(cluster, system, nemesis_op("heal-net"))
        assert _delivery(cluster, n2, n1)["received"] == 2000
    finally:
        nemesis.teardown(cluster, system)


def test_bandwidth_is_near_what_was_asked(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = NetworkNemesis("FL-NET-TEST", "heal-net")
    nemesis.setup(cluster, system)
    try:
        nemesis.invoke(cluster, system, nemesis_op("bandwidth", {"nodes": ["n2"], "kbit": 2000}))
        rate = float(run_probe(n2, "send", n1.address, str(300_000)))
        assert rate * 8 / 1000 == pytest.approx(2000, rel=0.25)
        nemesis.invoke(cluster, system, nemesis_op("heal-net"))
        assert float(run_probe(n2, "send", n1.address, str(300_000))) * 8 / 1000 > 10_000
    finally:
        nemesis.teardown(cluster, system)


def test_latency_and_jitter_are_near_what_was_asked(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = NetworkNemesis("FL-NET-TEST", "heal-net", seed=3)
    nemesis.setup(cluster, system)
    try:
        nemesis.invoke(cluster, system, nemesis_op("latency", {"nodes": ["n1"], "delay_ms": 60, "jitter_ms": 20}))
        rtts = [float(x) for x in run_probe(n2, "rtt", n1.address, "40").split()]
        assert statistics.median(rtts) == pytest.approx(60, abs=12)
        assert max(rtts) - min(rtts) > 10, f"no jitter in {rtts}"
        assert min(rtts) > 35
        nemesis.invoke(cluster, system, nemesis_op("heal-net"))
        assert statistics.median(float(x) for x in run_probe(n2, "rtt", n1.address, "20").split()) < 20
    finally:
        nemesis.teardown(cluster, system)


def test_reset_aborts_connections_between_nodes_and_new_ones_work(cluster, system):
    n1, n2, _ = cluster.nodes
    nemesis = NetworkNemesis("FL-NET-TEST", "heal-net")
    nemesis.setup(cluster, system)
    try:
        ask(cluster, n2, f"hold {n1.address}")
        assert ask(cluster, n2, "held")["alive"]
        done = nemesis.invoke(cluster, system, nemesis_op("reset", {"nodes": ["n1"]}))
        assert done.value["reset"]["n1"] >= 1
        assert not ask(cluster, n2, "held")["alive"]
        assert reach(n2, n1)
    finally:
        nemesis.teardown(cluster, system)


# --- disk -----------------------------------------------------------------------------------


def test_lose_unsynced_keeps_what_was_synced_and_drops_the_rest(cluster, system):
    n3 = cluster.nodes[2]
    synced = ask(cluster, n3, "log synced 50")["records"]
    total = ask(cluster, n3, "log unsynced 400")["records"]
    done = DiskNemesis().invoke(cluster, system, nemesis_op("disk", {"nodes": ["n3"], "damage": "lose-unsynced"}))
    assert done.value["files"]["n3"]["probe.log"]["kept"] < done.value["files"]["n3"]["probe.log"]["size"]
    assert done.value["started"] == ["n3"] and "not_ready" not in done.value
    after = ask(cluster, n3, "log count")["records"]  # the restarted probe replayed its log
    assert synced <= after < total


@pytest.mark.parametrize("damage", ["truncate", "corrupt"])
def test_truncated_or_corrupt_tail_is_cut_on_replay(cluster, system, damage):
    n3 = cluster.nodes[2]
    before = ask(cluster, n3, "log synced 20")["records"]
    done = DiskNemesis().invoke(cluster, system, nemesis_op("disk", {"nodes": ["n3"], "damage": damage, "seed": 5}))
    assert "probe.log" in done.value["files"]["n3"]
    after = ask(cluster, n3, "log count")["records"]
    assert 0 < after < before


# --- slow node ------------------------------------------------------------------------------


def test_slow_node_gets_a_fraction_of_a_cpu_until_healed(cluster, system):
    n1 = cluster.nodes[0]
    nemesis = SlowNemesis()
    try:
        done = nemesis.invoke(cluster, system, nemesis_op("slow", {"nodes": ["n1"], "cpu": 0.05}))
        assert n1.pid in done.value["pids"]["n1"]
        assert cluster.run_id in _cgroup_of(n1.pid)
        # CPU time, not loop counts: the quota caps it however loaded the machine is, while
        # other work on a shared machine can only lower it.
        slowed = ask(cluster, n1, "spin 2", timeout=60)["cpu_seconds"]
        assert slowed < 2 * 0.05 * 3, slowed  # 5% of 2 s, with room for scheduler granularity
        nemesis.invoke(cluster, system, nemesis_op("heal-slow"))
        assert cluster.run_id not in _cgroup_of(n1.pid)
        assert not [g for g in _cgroups() if cluster.run_id in g]
    finally:
        nemesis.teardown(cluster, system)


def test_a_missing_primary_is_an_error_a_person_can_act_on(cluster, system):
    with pytest.raises(HarnessError, match="no primary"):
        KillNemesis().invoke(cluster, system, nemesis_op("kill", [":primary"]))


def test_runtime_cleanup_removes_the_groups_of_a_crashed_run_only(cluster, system, tmp_path):
    """A run that crashed with a node slowed leaves its cgroup behind; `cleanup` with that run's
    prefix ends its processes and removes the group, and leaves another live run's alone."""
    runtime = LocalRuntime()
    prefix = runtime.new_prefix()
    crashed = runtime.create(tmp_path, ["n1"], prefix)
    ours = SlowNemesis()
    try:
        start_cluster(crashed, system)
        SlowNemesis().invoke(crashed, system, nemesis_op("slow", {"nodes": ["n1"], "cpu": 0.5}))  # never healed
        ours.invoke(cluster, system, nemesis_op("slow", {"nodes": ["n1"], "cpu": 0.5}))
        assert [g for g in _cgroups() if prefix in g] and [g for g in _cgroups() if cluster.run_id in g]
        # Forget `crashed` as a crashed controller would; its controller is this test, still
        # alive, so only a forced cleanup of that one run may remove it.
        removed = runtime.cleanup(prefix, force=True)
        assert [line for line in removed if line.startswith("cgroup ") and prefix in line], removed
        assert not [g for g in _cgroups() if prefix in g]
        assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
        assert [g for g in _cgroups() if cluster.run_id in g], "another run's group was removed"
        assert cluster.run_id in _cgroup_of(cluster.nodes[0].pid)
    finally:
        ours.teardown(cluster, system)
        runtime.destroy(crashed)
