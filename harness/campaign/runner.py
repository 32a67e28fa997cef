"""Runs a campaign's tests side by side within a CPU and memory budget, keeping its state in
the campaign's store so that it can be stopped and resumed.

Each test is a child `faultline test` process in a session of its own. A child is the unit of
isolation a failing or hanging test cannot break out of: its own controller, its own signal
handling (SIGINT heals, tears down and keeps the history, exactly as for a person at a
terminal), its own crash. The campaign forwards one SIGINT to each child on Ctrl-C and waits for
every child to finish its teardown; a child in its own session never gets the terminal's SIGINT
twice. Threads in one process would share the controller's signals, logging and every
module-level state of the systems' clients. Prefixes and address ranges cannot collide:
each child's runtime draws a random prefix that it claims in the host's run records (a clash is
refused) and takes its subnet under the host lock (harness/runtime/local.py).

State: `state/<test-id>.json` per test, written once its child ended (`done`, or `interrupted`
to run again); a resume skips the `done` ones. `plan.json` holds what the campaign runs.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from harness import store
from harness.campaign.plan import CampaignTest
from harness.seams import HarnessError
from harness.spec import EXIT_HARNESS, EXIT_INTERRUPTED

# The installed CLI, in this interpreter, whatever PATH holds.
FAULTLINE = [sys.executable, "-c", "from harness.cli import main; main()"]
STATE_DIR, LOG_DIR, PLAN_FILE = "state", "logs", "plan.json"
# Shares of the machine a test takes: its controller and clients, plus each node.
CPU_PER_PROCESS = 0.25
MEMORY_CONTROLLER, MEMORY_PER_NODE = 150 << 20, 150 << 20


@dataclass
class TestResult:
    """How one test of the campaign ended."""

    __test__ = False

    test: CampaignTest
    status: str  # done, interrupted, error
    valid: Any = None
    anomalies: list[str] = field(default_factory=list)
    exit_code: int | None = None
    run_dir: str | None = None
    seconds: float = 0.0
    first_anomaly_s: float | None = None
    reason: str = ""
    prefix: str = ""

    @property
    def as_expected(self) -> bool:
        return self.status == "done" and self.test.expect.met_by(self.valid, self.anomalies)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in dataclasses.asdict(self).items() if k != "test"}
        return {**self.test.to_dict(), **data, "as_expected": self.as_expected}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestResult:
        names = {f.name for f in dataclasses.fields(cls)} - {"test"}
        return cls(CampaignTest.from_dict(data), **{k: v for k, v in data.items() if k in names})


@dataclass
class Budget:
    """How much of the machine the campaign's tests may take at once."""

    cpus: float
    memory: int
    max_tests: int | None = None  # an explicit --parallel: that many, CPU aside

    @classmethod
    def of_machine(cls, parallel: int | None = None) -> Budget:
        """Every core but one (the controller's), and 80% of the memory free now."""
        return cls(cpus=max(1.0, (os.cpu_count() or 2) - 1.0), memory=int(_available_memory() * 0.8), max_tests=parallel)

    def fits(self, running: list[CampaignTest], test: CampaignTest) -> bool:
        if not running:
            return True  # one test always runs, however small the machine
        if self.max_tests is not None:
            if len(running) >= self.max_tests:
                return False
        elif sum(cpu_cost(t) for t in running) + cpu_cost(test) > self.cpus + 1e-9:
            return False
        return sum(memory_cost(t) for t in running) + memory_cost(test) <= self.memory


def cpu_cost(test: CampaignTest) -> float:
    return CPU_PER_PROCESS * (test.nodes + 1)


def memory_cost(test: CampaignTest) -> int:
    return MEMORY_CONTROLLER + MEMORY_PER_NODE * test.nodes


def _available_memory() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


@dataclass
class Progress:
    """Live figures of a campaign, for a display; the runner updates them."""

    total: int = 0
    started: float = field(default_factory=time.monotonic)
    running: dict[str, float] = field(default_factory=dict)  # test id -> monotonic start
    finished: list[TestResult] = field(default_factory=list)
    skipped: int = 0  # finished in an earlier session
    stopping: bool = False

    @property
    def queued(self) -> int:
        return max(0, self.total - self.skipped - len(self.finished) - len(self.running))

    def eta(self) -> float | None:
        if not self.finished:
            return None
        mean = sum(r.seconds for r in self.finished) / len(self.finished)
        width = max(1, len(self.running))
        return mean * (self.queued + len(self.running)) / width


def read_state(store_dir: Path) -> dict[str, TestResult]:
    """The results already recorded in a campaign's store, by test id."""
    found = {}
    for path in sorted((store_dir / STATE_DIR).glob("*.json")):
        result = TestResult.from_dict(store.read_json(path))
        found[result.test.id] = result
    return found


def _write_state(store_dir: Path, result: TestResult) -> None:
    store.write_json(store_dir / STATE_DIR / f"{result.test.id}.json", result.to_dict())


class _Child:
    def __init__(self, test: CampaignTest, store_dir: Path):
        self.test = test
        self.started = time.monotonic()
        store_dir.joinpath(LOG_DIR).mkdir(exist_ok=True)
        self.log = open(store_dir / LOG_DIR / f"{test.id}.log", "ab")
        self.known_runs = set(_runs_of(store_dir, test))
        self.proc = subprocess.Popen(FAULTLINE + test.argv(store_dir), stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.interrupted = False

    def interrupt(self) -> None:
        if not self.interrupted and self.proc.poll() is None:
            self.interrupted = True
            os.kill(self.proc.pid, signal.SIGINT)  # our own child, by pid

    def result(self, store_dir: Path) -> TestResult:
        from harness.selftest import anomalies_of, first_anomaly_seconds

        self.log.close()
        code = self.proc.returncode
        seconds = time.monotonic() - self.started
        new = [p for p in _runs_of(store_dir, self.test) if p not in self.known_runs]
        run_dir = new[-1] if new else None
        results, prefix = {}, ""
        if run_dir is not None:
            if (run_dir / store.RESULTS_FILE).exists():
                try:
                    results = store.read_json(run_dir / store.RESULTS_FILE)
                except HarnessError:
                    results = {}
            if (run_dir / store.TEST_FILE).exists():
                prefix = str(store.read_json(run_dir / store.TEST_FILE).get("prefix", ""))
        interrupted = code == EXIT_INTERRUPTED or bool(results.get("interrupted")) or (self.interrupted and code != 0 and code != 1)
        status = "interrupted" if interrupted else ("error" if code == EXIT_HARNESS or not results else "done")
        reason = str(results.get("reason") or "")
        if not results:
            tail = (store_dir / LOG_DIR / f"{self.test.id}.log").read_bytes()[-600:].decode("utf-8", "replace")
            reason = f"faultline test exited {code} without results: {tail.strip()}"
        first = None
        if run_dir is not None and results.get("valid") is False:
            try:
                first = first_anomaly_seconds(run_dir, results)
            except Exception:  # an unreadable history: the verdict stands, without a time
                first = None
        return TestResult(self.test, status, results.get("valid"), anomalies_of(results) if results else [], code,
                          str(run_dir) if run_dir else None, round(seconds, 2), first, reason, prefix)


def _runs_of(store_dir: Path, test: CampaignTest) -> list[Path]:
    folder = store_dir / test.id
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def run_tests(store_dir: Path, source: Iterator[CampaignTest] | list[CampaignTest], budget: Budget,
              progress: Progress | None = None, on_result: Callable[[TestResult], None] | None = None,
              poll_s: float = 0.2, still_wanted: Callable[[CampaignTest], bool] | None = None) -> bool:
    """Run every test `source` yields that the store has not finished, within `budget`. A
    source may be a generator that decides what comes next from what has finished (a bug hunt).
    Returns False when Ctrl-C (or SIGTERM) stopped it: every running test was then interrupted,
    waited for, and recorded as interrupted. A test drawn while the budget was full is dropped
    if `still_wanted` says no by the time there is room (a hunt's row failed meanwhile)."""
    store_dir.mkdir(parents=True, exist_ok=True)
    (store_dir / STATE_DIR).mkdir(exist_ok=True)
    progress = progress or Progress()
    done = {k for k, r in read_state(store_dir).items() if r.status == "done"}
    tests = iter(source)
    running: list[_Child] = []
    pending: CampaignTest | None = None
    exhausted = False
    previous_term = _sigterm_as_interrupt()
    try:
        while not (exhausted and pending is None and not running):
            if pending is None and not exhausted:
                pending = next(tests, None)
                exhausted = pending is None
                if pending is not None and pending.id in done:
                    progress.skipped += 1
                    pending = None
                    continue
            if pending is not None and still_wanted is not None and not still_wanted(pending):
                progress.total -= 1
                pending = None
                continue
            if pending is not None and budget.fits([c.test for c in running], pending):
                running.append(_Child(pending, store_dir))
                progress.running[pending.id] = time.monotonic()
                pending = None
                continue
            time.sleep(poll_s)
            for child in [c for c in running if c.proc.poll() is not None]:
                running.remove(child)
                _finish(store_dir, child, progress, on_result)
        return True
    except KeyboardInterrupt:
        progress.stopping = True
        for child in running:
            child.interrupt()
        while running:
            try:
                for child in running:
                    child.proc.wait()
            except KeyboardInterrupt:  # a second Ctrl-C: the children are already stopping
                continue
            for child in list(running):
                running.remove(child)
                _finish(store_dir, child, progress, on_result)
        return False
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)


def _finish(store_dir: Path, child: _Child, progress: Progress, on_result: Callable[[TestResult], None] | None) -> None:
    result = child.result(store_dir)
    _write_state(store_dir, result)
    progress.running.pop(child.test.id, None)
    if result.status == "interrupted":
        progress.total += 1  # it is queued again for the next session
    progress.finished.append(result)
    if on_result is not None:
        on_result(result)


def _sigterm_as_interrupt() -> Any:
    """SIGTERM stops a campaign as Ctrl-C does (main thread only; None elsewhere)."""
    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt
    try:
        return signal.signal(signal.SIGTERM, handler)
    except ValueError:
        return None


@dataclass
class HuntRow:
    """A bug hunt's figures for one row: tests run and time until its first invalid verdict."""

    row: str
    tests: int = 0
    failed_seed: int | None = None
    seconds_to_failure: float | None = None  # wall seconds from the hunt's start
    run_dir: str | None = None


def hunt(store_dir: Path, rows: list[CampaignTest], budget_s: float, budget: Budget,
         progress: Progress | None = None, on_result: Callable[[TestResult], None] | None = None) -> tuple[list[HuntRow], bool]:
    """`--until-invalid`: for each row, run seed after seed (from the row's own) until one
    ends invalid or `budget_s` seconds are spent; no new test starts after that. Returns each
    row's figures and whether the hunt ended without Ctrl-C."""
    started = time.monotonic()
    figures = {t.row: HuntRow(t.row) for t in rows}
    earlier = read_state(store_dir)

    def record(result: TestResult) -> None:
        row = figures[result.test.row]
        row.tests += 1
        if result.valid is False and row.failed_seed is None:
            row.failed_seed = int(result.test.options["seed"])
            row.seconds_to_failure = round(time.monotonic() - started, 2)
            row.run_dir = result.run_dir
        if on_result is not None:
            on_result(result)

    def seeds() -> Iterator[CampaignTest]:
        next_seed = {t.row: int(t.options["seed"]) for t in rows}
        while time.monotonic() - started < budget_s:
            live = [t for t in rows if figures[t.row].failed_seed is None]
            if not live:
                return
            for test in live:
                if figures[test.row].failed_seed is not None or time.monotonic() - started >= budget_s:
                    continue
                candidate = test.with_seed(next_seed[test.row])
                next_seed[test.row] += 1
                old = earlier.get(candidate.id)
                if old is not None and old.status == "done":  # a resumed hunt counts what it ran
                    figures[test.row].tests += 1
                    if old.valid is False and figures[test.row].failed_seed is None:
                        figures[test.row].failed_seed = int(candidate.options["seed"])
                        figures[test.row].run_dir = old.run_dir
                    continue
                if progress is not None:
                    progress.total += 1
                yield candidate

    def wanted(test: CampaignTest) -> bool:
        return figures[test.row].failed_seed is None and time.monotonic() - started < budget_s

    finished = run_tests(store_dir, seeds(), budget, progress, record, still_wanted=wanted)
    return list(figures.values()), finished
