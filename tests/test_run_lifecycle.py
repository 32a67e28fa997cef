"""A whole `faultline test` run as a user sees it: ended by Ctrl-C, SIGTERM, or a SIGKILL of the
controller followed by `faultline cleanup`, it leaves no namespace, guard route or process, and
the history recorded so far stays readable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.history import read_history
from harness.runtime.local import guard_routes, list_namespaces, live_subnets

pytestmark = [pytest.mark.slow, pytest.mark.root]

FAULTLINE = str(Path(sys.executable).parent / "faultline")


def start_run(store: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [FAULTLINE, "test", "--system", "seedkv", "--mode", "fixed", "--workload", "set",
         "--nemesis", "kill,partition", "--nemesis-interval", "1", "--time-limit", "120",
         "--seed", "3", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_until_running(store: Path, proc: subprocess.Popen, ops: int = 40, timeout: float = 120) -> Path:
    """The run directory, once its history holds `ops` lines."""
    deadline = time.monotonic() + timeout
    history = store / "latest" / "history.jsonl"
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if history.exists() and history.read_bytes().count(b"\n") >= ops:
            return (store / "latest").resolve()
        time.sleep(0.1)
    raise AssertionError("the run did not start recording ops in time")


def node_pids(prefix: str) -> list[int]:
    pids = []
    for ns in list_namespaces():
        if ns.startswith(prefix + "-"):
            out = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
            pids += [int(p) for p in out.split()]
    return pids


def assert_nothing_left(prefix: str, pids: list[int]) -> None:
    assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], "namespaces left"
    assert set(guard_routes()) <= live_subnets(), "a guard route outlived its run"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    assert not [p for p in pids if _alive(p)], "node processes left"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("sig, words", [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_an_interrupted_run_tears_down_and_keeps_its_history(tmp_path: Path, sig: int, words: str) -> None:
    proc = start_run(tmp_path)
    try:
        run_dir = wait_until_running(tmp_path, proc)
        prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
        pids = node_pids(prefix)
        assert pids, "the nodes should be running"
        proc.send_signal(sig)
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 4, output  # interrupted: its own exit code, not "unknown"
    results = json.loads((run_dir / "results.json").read_text())
    assert results["valid"] == "unknown" and results["interrupted"] is True
    assert words in results["reason"]
    assert len(read_history(run_dir / "history.jsonl")) >= 40
    assert_nothing_left(prefix, pids)


def test_cleanup_after_the_controller_is_killed(tmp_path: Path) -> None:
    proc = start_run(tmp_path)
    try:
        run_dir = wait_until_running(tmp_path, proc)
        prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
        pids = node_pids(prefix)
        recorded = (run_dir / "history.jsonl").read_bytes().count(b"\n")
        proc.kill()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], "SIGKILL cannot clean up"
    # Only this run's prefix: other runs may share the machine (plain `faultline cleanup` removes all).
    cleaned = subprocess.run([FAULTLINE, "cleanup", "--prefix", prefix], capture_output=True, text=True, timeout=120)
    assert cleaned.returncode == 0, cleaned.stderr
    assert prefix in cleaned.stdout
    assert_nothing_left(prefix, pids)
    # Every op the controller had recorded is still there and readable.
    assert len(read_history(run_dir / "history.jsonl")) >= recorded
