"""Reliability suite, runs: interrupts at seeded random moments of a run's life, and concurrent
runs with a plain `faultline cleanup` between them.

Each interrupt (SIGINT or SIGTERM) lands in one of the five parts of a run: creation of the
cluster, start-up of the nodes, the main phase, the final phase, or teardown (a second signal
shortly after a first, as a user pressing Ctrl-C twice). After each, nothing with the run's
prefix may be left (namespace, guard route, node process, run record, cgroup, libfaketime file)
and the history, if the run got that far, must read. Prints the figures:
`interrupts tried: N, leftovers found: M` and `concurrent runs: N, touched by cleanup: M`.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from controller import kill_controller, run_specs
from harness.history_reader import read_history
from harness.runtime.local import list_namespaces
from test_run_lifecycle import FAULTLINE, leftovers, node_pids, run_prefix, start_run, wait_until_running

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.root]

PHASES = ("creation", "start-up", "main", "final", "teardown")
TRIES = 12
TIME_LIMIT = 3.0
NEMESES = "kill,partition,clock"


class Watch:
    """One run seen from outside: its files, and every node pid it had (for the leftovers)."""

    def __init__(self, store: Path, proc: subprocess.Popen, prefix: str):
        self.store, self.proc, self.prefix = store, proc, prefix
        self.pids: set[int] = set()
        self.first_op: float | None = None  # monotonic time the history got its first line

    def run_dir(self) -> Path | None:
        found = [p.parent for p in run_specs(self.store)]
        return found[0] if found else None

    def lines(self, name: str) -> bytes:
        run_dir = self.run_dir()
        try:
            return (run_dir / name).read_bytes() if run_dir else b""
        except OSError:
            return b""

    def poll(self) -> bool:
        """Note what is new; False once the run has ended."""
        self.pids.update(node_pids(self.prefix))
        if self.first_op is None and self.lines("history.jsonl").count(b"\n"):
            self.first_op = time.monotonic()
        return self.proc.poll() is None

    def until(self, condition, timeout: float = 120) -> bool:
        """Poll until `condition()` holds; False if the run ended first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.poll():
                return False
            if condition():
                return True
            time.sleep(0.01)
        raise AssertionError(f"run {self.prefix}: timed out waiting")

    def pause(self, seconds: float) -> None:
        """Wait, still noting node pids: where the signal lands; nothing is asserted about time."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.poll():
            time.sleep(0.01)


def interrupt_at(watch: Watch, phase: str, sig: int, rng: random.Random) -> None:
    if phase == "creation":
        watch.pause(rng.uniform(0.0, 0.25))
    elif phase == "start-up":
        if not watch.until(lambda: b"cluster up" in watch.lines("harness.log")):
            return
        watch.pause(rng.uniform(0.0, 0.4))
    elif phase == "main":
        if not watch.until(lambda: watch.lines("history.jsonl").count(b"\n") >= 10):
            return
        watch.pause(rng.uniform(0.0, TIME_LIMIT / 2))
    elif phase == "final":
        if not watch.until(lambda: watch.first_op is not None):
            return
        watch.pause(TIME_LIMIT - (time.monotonic() - watch.first_op) + rng.uniform(0.0, 0.3))
    elif phase == "teardown":
        if not watch.until(lambda: watch.lines("history.jsonl").count(b"\n") >= 10):
            return
        watch.proc.send_signal(sig)  # the first starts teardown; the second lands in it
        watch.pause(rng.uniform(0.02, 0.3))
    if watch.proc.poll() is None:
        watch.proc.send_signal(sig)


def test_interrupts_at_random_moments_leave_nothing(tmp_path: Path, capsys) -> None:
    rng = random.Random(20261111)
    problems: dict[str, list[str]] = {}
    leftovers_found = 0
    for i in range(TRIES):
        phase = PHASES[i % len(PHASES)]
        sig = rng.choice([signal.SIGINT, signal.SIGTERM])
        label = f"try {i} ({phase}, {signal.Signals(sig).name})"
        store = tmp_path / str(i)
        since = time.time() - 1
        proc = start_run(store, nemesis=NEMESES, time_limit=TIME_LIMIT)
        try:
            watch = Watch(store, proc, run_prefix(store, proc))
            interrupt_at(watch, phase, sig, rng)
            while watch.poll():
                time.sleep(0.01)
            output = proc.stdout.read()
        finally:
            if proc.poll() is None:
                kill_controller(proc, tmp_path)
        wrong = []
        # 4: interrupted; 0/1: the run was done before the signal mattered; killed by the
        # signal itself only before the controller set its handler, i.e. before any cluster.
        allowed = {0, 1, 4} | ({-sig} if phase == "creation" else set())
        if proc.returncode not in allowed:
            wrong.append(f"exit {proc.returncode}: {output[-800:]}")
        left = leftovers(watch.prefix, sorted(watch.pids), since)
        leftovers_found += len(left)
        wrong += left
        run_dir = watch.run_dir()
        history = run_dir / "history.jsonl" if run_dir is not None else None
        if history is not None and history.exists() and history.stat().st_size:  # empty: no ops yet
            try:
                read_history(history)
            except Exception as e:  # any failure to read is a finding
                wrong.append(f"history unreadable: {e}")
        if wrong:
            problems[label] = wrong
    with capsys.disabled():
        print(f"\ninterrupts tried: {TRIES}, leftovers found: {leftovers_found}")
    assert not problems, problems


def test_two_concurrent_runs_and_a_plain_cleanup_between_them(tmp_path: Path, capsys) -> None:
    procs = [start_run(tmp_path / name, time_limit=6) for name in ("a", "b")]
    try:
        run_dirs = [wait_until_running(tmp_path / name, proc, ops=20) for name, proc in zip("ab", procs)]
        prefixes = [json.loads((d / "test.json").read_text())["prefix"] for d in run_dirs]
        pids = [node_pids(prefix) for prefix in prefixes]
        before = sorted(ns for ns in list_namespaces() if ns.startswith(tuple(p + "-" for p in prefixes)))
        cleaned = subprocess.run([FAULTLINE, "cleanup"], capture_output=True, text=True, timeout=120)
        after = sorted(ns for ns in list_namespaces() if ns.startswith(tuple(p + "-" for p in prefixes)))
        outputs = [proc.communicate(timeout=180)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                kill_controller(proc, tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    touched = [p for p in prefixes if f"skipped run {p}: controller pid" not in cleaned.stdout
               or p in cleaned.stdout.replace(f"skipped run {p}", "")]
    touched += [ns for ns in before if ns not in after]
    with capsys.disabled():
        print(f"\nconcurrent runs: {len(procs)}, touched by cleanup: {len(touched)}")
    assert not touched, cleaned.stdout
    for proc, run_dir, output in zip(procs, run_dirs, outputs):
        results = json.loads((run_dir / "results.json").read_text())
        assert proc.returncode == (0 if results["valid"] is True else 1), output
        assert "harness_error" not in results, results["reason"]
    for prefix, node_pid_list in zip(prefixes, pids):
        assert not leftovers(prefix, node_pid_list)
