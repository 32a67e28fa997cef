"""A whole `faultline test` run as a user sees it: ended by Ctrl-C, SIGTERM, or a SIGKILL of the
controller followed by `faultline cleanup`, it leaves no namespace, guard route, process, run
record or libfaketime file, and the history recorded so far stays readable. A plain `faultline
cleanup` while it runs leaves it alone; `cleanup --prefix X --force` ends it as a harness error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from controller import kill_controller, run_specs
from harness.history_reader import read_history
from harness.runtime import runs
from harness.runtime.local import guard_routes, list_namespaces, live_subnets
from nemeses.clock import SHM_PATTERNS, remove_orphaned_files

pytestmark = [pytest.mark.slow, pytest.mark.root]

FAULTLINE = str(Path(sys.executable).parent / "faultline")


def start_run(store: Path, nemesis: str = "kill,partition", time_limit: float = 120) -> subprocess.Popen:
    return subprocess.Popen(
        [FAULTLINE, "test", "--system", "seedkv", "--mode", "fixed", "--workload", "set",
         "--nemesis", nemesis, "--nemesis-interval", "1", "--time-limit", str(time_limit),
         "--seed", "3", "--store", str(store)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def run_prefix(store: Path, proc: subprocess.Popen | None = None, timeout: float = 120) -> str:
    """The run's prefix, from its test.json (written before the cluster is made)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for test_json in run_specs(store):
            try:
                return json.loads(test_json.read_text())["prefix"]
            except (ValueError, KeyError):
                pass  # being written
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the run ended before writing test.json: {proc.stdout.read()}")
        time.sleep(0.005)
    raise AssertionError("no test.json appeared")


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


def leftovers(prefix: str, pids: list[int], since: float = 0.0) -> list[str]:
    """What of the run with this prefix is still on the machine (node processes get 30 s to go).
    libfaketime files count when named by one of the run's node pids, that pid is gone, and
    they were made after `since` (wall time before the run started): pids are reused, and the
    machine is shared with other runs."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [f"namespace {ns}" for ns in list_namespaces() if ns.startswith(prefix + "-")]
    # Under the host lock no run adds a route, and a run removes its route before its record:
    # every route still there after the claims are read was claimed when they were read.
    with runs.host_lock():
        claimed = live_subnets() | {r.parts.get("subnet") for r in runs.all_records()}
        left += [f"guard route {subnet}" for subnet in guard_routes() if subnet not in claimed]
    left += [f"process {p}" for p in pids if _alive(p)]
    left += [f"run record {runs.RUNS_DIR / prefix}.json"] if runs.read(prefix) is not None else []
    left += [f"cgroup {g}" for root in ("/sys/fs/cgroup", "/sys/fs/cgroup/cpu") if os.path.isdir(root)
             for g in os.listdir(root) if g.startswith(f"faultline-{prefix}-")]
    left += [path for pid in pids if not _alive(pid) for path in shm_files(pid) if _mtime(path) >= since]
    return left


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: counted as made now, so the check stays strict


def assert_nothing_left(prefix: str, pids: list[int]) -> None:
    assert not leftovers(prefix, pids)


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
            kill_controller(proc, tmp_path)
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
            kill_controller(proc, tmp_path)
    assert [ns for ns in list_namespaces() if ns.startswith(prefix + "-")], "SIGKILL cannot clean up"
    # Only this run's prefix: other runs may share the machine (plain `faultline cleanup` removes all).
    cleaned = subprocess.run([FAULTLINE, "cleanup", "--prefix", prefix], capture_output=True, text=True, timeout=120)
    assert cleaned.returncode == 0, cleaned.stderr
    assert prefix in cleaned.stdout
    assert_nothing_left(prefix, pids)
    # Every op the controller had recorded is still there and readable.
    assert len(read_history(run_dir / "history.jsonl")) >= recorded


def test_plain_cleanup_during_a_run_leaves_it_alone(tmp_path: Path) -> None:
    """`faultline cleanup` with no prefix, from another process while a run is in its main
    phase: the run is named as skipped, nothing of it is removed, and it ends with its verdict."""
    proc = start_run(tmp_path, time_limit=6)
    try:
        run_dir = wait_until_running(tmp_path, proc, ops=20)
        prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
        pids = node_pids(prefix)
        before = sorted(ns for ns in list_namespaces() if ns.startswith(prefix + "-"))
        cleaned = subprocess.run([FAULTLINE, "cleanup"], capture_output=True, text=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"skipped run {prefix}: controller pid {proc.pid} alive" in cleaned.stdout, cleaned.stdout
        assert prefix not in cleaned.stdout.replace(f"skipped run {prefix}", "")
        assert sorted(ns for ns in list_namespaces() if ns.startswith(prefix + "-")) == before
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            kill_controller(proc, tmp_path)
    results = json.loads((run_dir / "results.json").read_text())
    assert proc.returncode == (0 if results["valid"] is True else 1), output
    assert "harness_error" not in results, results["reason"]
    assert_nothing_left(prefix, pids)


def test_forced_cleanup_of_a_live_run_ends_it_as_a_harness_error(tmp_path: Path) -> None:
    proc = start_run(tmp_path, time_limit=6)
    try:
        run_dir = wait_until_running(tmp_path, proc, ops=20)
        prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
        pids = node_pids(prefix)
        cleaned = subprocess.run([FAULTLINE, "cleanup", "--prefix", prefix, "--force"],
                                 capture_output=True, text=True, timeout=120)
        assert cleaned.returncode == 0, cleaned.stderr
        assert f"removed network namespace {prefix}-hub" in cleaned.stdout, cleaned.stdout
        output, _ = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            kill_controller(proc, tmp_path)
    assert proc.returncode == 3, output
    results = json.loads((run_dir / "results.json").read_text())
    assert results["harness_error"] is True and "vanished" in results["reason"], results["reason"]
    assert f"{prefix}-hub" in results["reason"]
    assert_nothing_left(prefix, pids)


def test_sigterm_during_cluster_creation_leaves_nothing(tmp_path: Path) -> None:
    """SIGTERM at spread moments after the run wrote its test.json (the cluster is made right
    after): whatever step it cuts, nothing with the run's prefix is left."""
    found = {}
    for i, delay in enumerate([0.0, 0.01, 0.02, 0.04, 0.06, 0.09, 0.12, 0.16, 0.22, 0.3]):
        store = tmp_path / str(i)
        proc = start_run(store)
        try:
            prefix = run_prefix(store, proc)
            time.sleep(delay)  # where the signal lands; nothing is asserted about time
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=180)
        finally:
            if proc.poll() is None:
                kill_controller(proc, tmp_path)
        assert proc.returncode in (4, -signal.SIGTERM), output
        left = leftovers(prefix, [])
        if left:
            found[delay] = left
    assert not found, found


def test_the_clock_fault_leaves_no_libfaketime_files(tmp_path: Path) -> None:
    """Each node's process makes /dev/shm/faketime_shm_<pid> and sem.faketime_sem_<pid>; after
    the run none of its nodes' files is left (with kill in the mix, so nodes get new pids)."""
    since = time.time() - 1
    proc = start_run(tmp_path, nemesis="clock,kill", time_limit=5)
    pids: set[int] = set()
    with_files: set[int] = set()
    try:
        prefix = run_prefix(tmp_path, proc)
        while proc.poll() is None:  # every node pid the run has, as kills and restarts go
            for pid in node_pids(prefix):
                pids.add(pid)
                if [f for f in shm_files(pid) if _mtime(f) >= since]:
                    with_files.add(pid)
            time.sleep(0.05)
        output = proc.stdout.read()
    finally:
        if proc.poll() is None:
            kill_controller(proc, tmp_path)
    assert proc.returncode in (0, 1), output
    assert with_files, "the nodes should have made libfaketime files while they ran"
    assert not leftovers(prefix, sorted(pids), since)


def shm_files(pid: int) -> list[str]:
    return [f"/dev/shm/{start}{pid}" for start in SHM_PATTERNS if os.path.exists(f"/dev/shm/{start}{pid}")]


def test_cleanup_removes_libfaketime_files_only_of_processes_that_are_gone(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone, alive = int(dead.stdout), os.getpid()
    for pid in (gone, alive):
        for start in SHM_PATTERNS:
            (tmp_path / f"{start}{pid}").write_text("x")
    (tmp_path / "faketime_shm_notapid").write_text("x")
    removed = remove_orphaned_files(tmp_path)
    assert removed == [f"libfaketime files faketime_shm_{gone}, sem.faketime_sem_{gone} in {tmp_path} (pid {gone} is gone)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"faketime_shm_{alive}", f"sem.faketime_sem_{alive}", "faketime_shm_notapid"])


def test_the_files_of_a_zombie_are_removed_as_those_of_a_process_that_is_gone(tmp_path: Path) -> None:
    # A stopped server on an ssh host is an orphan its init may reap late: dead, still in /proc.
    from harness.runtime.faketime_files import REMOVE_DEAD

    zombie = subprocess.Popen(["true"])
    deadline = time.monotonic() + 60
    while Path(f"/proc/{zombie.pid}/stat").read_text().split(") ")[1][0] != "Z":
        assert time.monotonic() < deadline, "the child never exited"
        time.sleep(0.01)
    try:
        (tmp_path / f"faketime_shm_{zombie.pid}").write_text("x")
        assert remove_orphaned_files(tmp_path) and not list(tmp_path.iterdir())
        made = Path(f"/dev/shm/faketime_shm_{zombie.pid}")
        made.write_text("x")
        subprocess.run(["sh", "-c", REMOVE_DEAD, "sh", str(int(time.time()) - 5)], check=True, timeout=60)
        assert not made.exists()
    finally:
        Path(f"/dev/shm/faketime_shm_{zombie.pid}").unlink(missing_ok=True)
        zombie.wait()
