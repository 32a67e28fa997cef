"""The catalogue through `faultline test`: packages combine by name, every fault op says what it
did, and a run that ends or is interrupted with faults in force leaves nothing of them behind
(namespaces, cgroups, faketime files, delay shims, processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller import kill_controller
from remote_runtimes import RuntimeUnderTest, docker_engine, leftovers, runtime, ssh_hosts  # noqa: F401  (runtime: local, docker, ssh)
from harness.history_reader import read_history
from harness.runtime.local import list_namespaces

pytestmark = [pytest.mark.slow, pytest.mark.root]

FAULTLINE = str(Path(sys.executable).parent / "faultline")


def faultline_test(store: Path, nemeses: str, time_limit: float, seed: int,
                   runtime: RuntimeUnderTest = RuntimeUnderTest("local")) -> subprocess.Popen:
    return subprocess.Popen(
        [FAULTLINE, "test", *runtime.flags, "--system", "raftkv", "--workload", "register", "--nemesis", nemeses,
         "--nemesis-interval", "0.7", "--time-limit", str(time_limit), "--seed", str(seed),
         "--rate", "20", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


FAULT_OF = {"latency": "latency", "heal-latency": None, "slow": "slow", "heal-slow": None,
            "bump": "clock", "strobe": "clock", "drift": "clock", "reset-clock": None}


def faults_in_force(run_dir: Path) -> set[str]:
    """Which of latency, slow and clock the last completed nemesis ops left in force."""
    history = run_dir / "history.jsonl"
    active: dict[str, bool] = {}
    if history.exists():
        for op in read_history(history, allow_empty=True):  # a live journal may not have its first op yet
            if op.process == "nemesis" and op.type == "info" and op.f in FAULT_OF:
                package = FAULT_OF[op.f] or op.f.removeprefix("heal-").removeprefix("reset-")
                active[package] = FAULT_OF[op.f] is not None and not op.error
    return {p for p, on in active.items() if on}


def assert_nothing_left(run_dir: Path, runtime: RuntimeUnderTest = RuntimeUnderTest("local")) -> None:
    prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
    assert leftovers(runtime, prefix) == []
    assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], "namespaces left"
    for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/cpu"):
        if os.path.isdir(root):
            assert not [g for g in os.listdir(root) if prefix in g], "cgroups left"
    assert not list(run_dir.rglob("faketime.rc*")), "faketime control files left"
    assert not list(run_dir.rglob("delay-shim.pid")), "delay shim pid files left"
    shims = subprocess.run(["pgrep", "-f", f"nemeses.delay_shim .*{run_dir}"], capture_output=True, text=True).stdout
    assert not shims.split(), f"delay shims still running: {shims}"


def test_combined_packages_run_record_and_heal(tmp_path: Path, runtime: RuntimeUnderTest) -> None:
    proc = faultline_test(tmp_path, "partition:mixed,kill:minority,pause,clock,network,slow", 10, seed=11, runtime=runtime)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1, 2), out
    run_dir = (tmp_path / "latest").resolve()
    history = read_history(run_dir / "history.jsonl")
    faults = [op for op in history if op.process == "nemesis" and op.type == "info"]
    fs = {op.f for op in faults}
    assert {"partition", "kill", "pause", "heal", "start", "resume", "reset-clock", "heal-network", "heal-slow"} <= fs
    assert fs & {"bump", "strobe", "drift"} and fs & {"loss", "duplicate", "bandwidth", "latency", "reset"}
    for op in faults:
        assert op.value is not None and not op.error, op
        if op.f == "partition":
            assert set(op.value["grudge"]) <= {"n1", "n2", "n3"}
        if op.f in ("bump", "drift", "strobe"):
            assert set(op.value["offsets"]) == set(op.value["nodes"])
    assert json.loads((run_dir / "test.json").read_text())["seed"] == 11
    assert set(json.loads((run_dir / "results.json").read_text())["clock"]) == {"n1", "n2", "n3"}
    assert_nothing_left(run_dir, runtime)


def test_disk_faults_and_client_pauses_run_and_heal(tmp_path: Path, runtime: RuntimeUnderTest) -> None:
    # The two families the combined run above does not hold: the disk fault works on the node's
    # data directory through its handle, the client pause on the controller's side.
    proc = faultline_test(tmp_path, "disk,pause-client", 12, seed=5, runtime=runtime)
    out, _ = proc.communicate(timeout=400)
    assert proc.returncode in (0, 1, 2), out
    run_dir = (tmp_path / "latest").resolve()
    faults = [op for op in read_history(run_dir / "history.jsonl") if op.process == "nemesis" and op.type == "info"]
    assert {"disk", "pause-client", "resume-client"} <= {op.f for op in faults}
    for op in faults:
        assert op.value is not None and not op.error, op
    damaged = [op for op in faults if op.f == "disk"]
    assert all(set(op.value["nodes"]) <= {"n1", "n2", "n3"} for op in damaged), damaged
    assert_nothing_left(run_dir, runtime)


def test_ctrl_c_with_faults_in_force_leaves_nothing(tmp_path: Path, runtime: RuntimeUnderTest) -> None:
    proc = faultline_test(tmp_path, "network:latency,slow,clock", 300, seed=4, runtime=runtime)
    try:
        deadline = time.monotonic() + 180
        run_dir = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            if (tmp_path / "latest").exists():
                run_dir = (tmp_path / "latest").resolve()
                if faults_in_force(run_dir) == {"latency", "slow", "clock"}:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("latency, slow and clock were never in force at once")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            kill_controller(proc, tmp_path)
    assert proc.returncode == 4, out  # interrupted
    assert "Ctrl-C" in json.loads((run_dir / "results.json").read_text())["reason"]
    assert_nothing_left(run_dir, runtime)
