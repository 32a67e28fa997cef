"""The docker and ssh runtimes end to end: raftkv's correct mode passes every fault family that
matters for it there, its local-reads bug is caught under partitions, and a controller killed
with SIGKILL leaves nothing that `faultline cleanup` does not remove."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from controller import run_specs
from remote_runtimes import FAULTLINE, RuntimeUnderTest, docker_engine, leftovers, runtime, ssh_hosts  # noqa: F401

pytestmark = [pytest.mark.slow, pytest.mark.root]


def raftkv(store: Path, runtime: RuntimeUnderTest, *args: str) -> subprocess.Popen:
    return subprocess.Popen([FAULTLINE, "test", *runtime.flags, "--system", "raftkv", "--workload", "register",
                             "--nodes", "5", "--store", str(store), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def prefix_of(store: Path) -> str:
    return json.loads(run_specs(store)[0].read_text())["prefix"]


@pytest.mark.timeout(1500)  # two runs one after the other; the suite's 600 s cut the ssh pair under load
@pytest.mark.parametrize("runtime", ["docker", "ssh"], indirect=True)
def test_raftkv_correct_passes_and_local_reads_is_caught(runtime: RuntimeUnderTest, tmp_path: Path) -> None:
    # One after the other: an SSH host runs one test at a time (the lab has 5 hosts).
    # The pair, as a user types it: 5 nodes, four fault families, 60 s.
    good = raftkv(tmp_path / "good", runtime, "--nemesis", "partition,kill,pause,clock", "--time-limit", "60",
                  "--seed", "1")
    good_out, _ = good.communicate(timeout=600)
    assert good.returncode == 0, good_out
    # The self-test row for local-reads: 5 nodes, partitions, 60 s.
    bad = raftkv(tmp_path / "bad", runtime, "--mode", "local-reads", "--nemesis", "partition", "--time-limit", "60",
                 "--seed", "1")
    bad_out, _ = bad.communicate(timeout=600)
    assert bad.returncode == 1 and "stale-read" in bad_out, bad_out
    for store in (tmp_path / "good", tmp_path / "bad"):
        assert leftovers(runtime, prefix_of(store)) == []


@pytest.mark.parametrize("runtime", ["docker", "ssh"], indirect=True)
def test_sigkill_then_cleanup_leaves_nothing(runtime: RuntimeUnderTest, tmp_path: Path) -> None:
    proc = raftkv(tmp_path, runtime, "--nemesis", "partition,clock,slow", "--time-limit", "300", "--nemesis-interval", "1")
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            history = [p.parent / "history.jsonl" for p in run_specs(tmp_path)]
            if history and history[0].exists() and '"partition"' in history[0].read_text():
                break
            time.sleep(0.2)
        else:
            raise AssertionError("no partition within 240 s")
    finally:
        proc.kill()
        proc.wait()
    prefix = prefix_of(tmp_path)
    assert leftovers(runtime, prefix) != []  # the kill really left a cluster behind
    out = subprocess.run([FAULTLINE, "cleanup", "--runtime", runtime.name], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert leftovers(runtime, prefix) == [], out.stdout
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if ns.startswith(prefix + "-")]


def test_ssh_lab_down_leaves_no_sshd_namespace_or_file() -> None:
    up = subprocess.run([FAULTLINE, "ssh-lab", "up", "2"], capture_output=True, text=True, timeout=300)
    assert up.returncode == 0, up.stderr
    lab = Path(up.stdout.strip().splitlines()[-1]).parent
    prefix = lab.name
    try:
        assert len(subprocess.run(["pgrep", "-f", f"{lab}/sshd_"], capture_output=True, text=True).stdout.split()) == 2
    finally:
        down = subprocess.run([FAULTLINE, "ssh-lab", "down", "--prefix", prefix], capture_output=True, text=True, timeout=300)
    assert down.returncode == 0, down.stderr
    assert subprocess.run(["pgrep", "-f", f"{lab}/sshd_"], capture_output=True, text=True).stdout.split() == []
    assert not [ns for ns in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if ns.startswith(prefix + "-")]
    assert not lab.exists() and not Path(f"/run/faultline/{prefix}.json").exists()
