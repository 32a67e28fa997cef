"""The self-test matrix: does faultline pass every correct mode and catch every buggy one?

`MATRIX` declares, for every mode of the shipped systems, the test that exercises it and what it
must end with: valid, or invalid with one of the named anomalies in results.json. `run_case` runs
one row for one seed through the ordinary runner, so a row is exactly a `faultline test` command
(`Case.command` prints it). `faultline selftest` runs the table; `benchmarks/time_to_detect.py`
runs its buggy rows over several seeds and reports how long each took to show its first
anomalous operation. Rows marked `quick` make the subset the test suite runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness import store
from harness.history import read_history
from harness.runner import RunStatus, TestSpec, run_test


@dataclass(frozen=True)
class Case:
    system: str
    mode: str
    workload: str
    nemesis: str  # comma-separated packages
    nodes: int
    valid: bool  # the verdict the mode must get
    anomalies: tuple[str, ...] = ()  # an invalid verdict must name at least one of these
    time_limit: float = 60.0
    rate: float = 100.0
    concurrency: int = 5
    quick: bool = False  # in the test suite's subset (run there with a shorter time limit)
    why: str = ""  # what the fault does to this mode

    @property
    def label(self) -> str:
        return f"{self.system}/{self.mode}"

    def spec(self, seed: int, store_dir: str | Path, time_limit: float | None = None) -> TestSpec:
        return TestSpec(
            system=self.system, mode=self.mode, workload=self.workload,
            nemesis=[n for n in self.nemesis.split(",") if n], nodes=self.nodes,
            concurrency=self.concurrency, rate=self.rate, seed=seed, store=str(store_dir),
            time_limit=time_limit if time_limit is not None else self.time_limit,
            name=f"selftest-{self.system}-{self.mode}",
        )

    def command(self, seed: int, time_limit: float | None = None) -> str:
        seconds = time_limit if time_limit is not None else self.time_limit
        argv = ["faultline", "test", "--system", self.system, "--mode", self.mode, "--workload", self.workload,
                "--nemesis", self.nemesis, "--nodes", str(self.nodes), "--time-limit", f"{seconds:g}",
                "--seed", str(seed)]
        if self.rate != 100.0:
            argv += ["--rate", f"{self.rate:g}"]
        if self.concurrency != 5:
            argv += ["--concurrency", str(self.concurrency)]
        return shlex.join(argv)


ALL_FAULTS = "partition,kill,pause,clock"
STALE = ("stale-read", "nonlinearizable")

MATRIX: tuple[Case, ...] = (
    # seedkv: the seed's claims (GUIDE 4.2 C-a..C-c) against its fixed mode.
    Case("seedkv", "seed", "set", "kill,partition", 3, False, ("lost",), quick=True,
         why="acknowledged adds live in memory or on one node; a kill or a cut loses them"),
    Case("seedkv", "fixed", "set", ALL_FAULTS, 3, True, quick=True),
    # raftkv (GUIDE 4.1).
    Case("raftkv", "correct", "register", ALL_FAULTS, 5, True),
    Case("raftkv", "local-reads", "register", "partition", 5, False, STALE, quick=True,
         why="a deposed leader or a cut-off follower answers reads from its own state"),
    Case("raftkv", "majority-excl-self", "register", "partition", 4, False,
         ("multiple-leaders-in-term", "committed-entry-truncated", "nonlinearizable", "stale-read"),
         why="with 4 nodes two votes elect, so both halves of a 2|2 cut lead and commit"),
    Case("raftkv", "no-prevlog-check", "register", "partition,kill", 5, False,
         ("committed-log-divergence", "committed-entry-truncated", "nonlinearizable", "stale-read"),
         why="followers append blindly after a leader change, so committed logs diverge"),
    Case("raftkv", "vote-reset-on-heartbeat", "register", "partition-ring", 5, False,
         ("multiple-leaders-in-term",),
         why="a follower votes twice in one term, so a term can have two leaders; a ring cut keeps "
             "a leader in power while a node it cannot reach campaigns in the same term"),
    Case("raftkv", "no-persist", "register", "kill-all", 3, False,
         ("multiple-leaders-in-term", "nonlinearizable", "stale-read", "committed-entry-truncated"),
         why="a restarted node forgets its term, vote and log"),
    # dynkv (GUIDE 4.3). No cas: its coordinator-side cas could not be linearizable.
    Case("dynkv", "strict", "register", ALL_FAULTS, 5, True),
    Case("dynkv", "eventual", "register", "partition", 5, False, STALE,
         why="R = W = 1: a read after a write may miss it (convergence still holds)"),
    Case("dynkv", "wallclock-lww", "register", "clock", 5, False, STALE,
         why="last-write-wins on skewed wall clocks drops acknowledged writes"),
    Case("dynkv", "per-node-version", "register", "partition", 5, False, STALE,
         why="a busy replica's own counter outranks a newer write's version"),
    Case("dynkv", "reachable-majority", "register", "partition-one", 5, False, STALE, quick=True,
         why="an isolated coordinator counts itself a majority and acknowledges alone"),
    Case("dynkv", "no-read-repair", "register", "partition,kill-majority", 5, False, STALE, rate=0, concurrency=10,
         why="partial writes stay on some replicas, so reads flip between new and old"),
    Case("dynkv", "equal-version-no-repair", "register", "partition", 5, False, ("divergent-replicas",),
         rate=0, concurrency=10,
         why="anti-entropy skips replicas whose versions are equal, so they never converge"),
)


@dataclass
class Outcome:
    case: Case
    seed: int
    run_dir: Path | None
    valid: Any  # the verdict: True, False or "unknown"
    anomalies: list[str]
    first_anomaly_s: float | None  # seconds into the run of the first anomalous op, when known

    @property
    def as_expected(self) -> bool:
        if self.case.valid:
            return self.valid is True
        return self.valid is False and any(a in self.anomalies for a in self.case.anomalies)

    def to_dict(self) -> dict[str, Any]:
        return {"system": self.case.system, "mode": self.case.mode, "seed": self.seed,
                "expected": "valid" if self.case.valid else " or ".join(self.case.anomalies),
                "valid": self.valid, "anomalies": self.anomalies, "as_expected": self.as_expected,
                "first_anomaly_s": self.first_anomaly_s,
                "run_dir": str(self.run_dir) if self.run_dir else None}


def parse_seeds(text: str) -> list[int]:
    """`1-5` or `1,3,7`; ValueError for anything else."""
    if "-" in text:
        low, high = text.split("-", 1)
        seeds = list(range(int(low), int(high) + 1))
    else:
        seeds = [int(v) for v in text.split(",") if v.strip()]
    if not seeds:
        raise ValueError(f"{text!r} names no seed")
    return seeds


def select(matrix: Iterable[Case], system: str | None = None, mode: str | None = None,
           quick: bool = False, buggy: bool = False) -> list[Case]:
    return [c for c in matrix
            if (system is None or c.system == system) and (mode is None or c.mode == mode)
            and (not quick or c.quick) and (not buggy or not c.valid)]


def run_case(case: Case, seed: int, store_dir: str | Path, time_limit: float | None = None,
             status: RunStatus | None = None) -> Outcome:
    outcome = run_test(case.spec(seed, store_dir, time_limit), status)
    results = outcome.results
    return Outcome(case, seed, outcome.run_dir, results.get("valid"), anomalies_of(results),
                   first_anomaly_seconds(outcome.run_dir, results) if outcome.run_dir else None)


def anomalies_of(results: Mapping[str, Any]) -> list[str]:
    """Every anomaly any checker named, in checker order, without repeats."""
    names: list[str] = []
    for result in (results.get("checkers") or {}).values():
        for name in result.get("anomalies") or ():
            if name not in names:
                names.append(name)
    return names


def first_anomaly_seconds(run_dir: Path, results: Mapping[str, Any]) -> float | None:
    """How far into the run (seconds since clients started) the earliest op a checker blamed
    was invoked. Checkers point at ops by history index (`first_anomaly_index`) or, for events
    the nodes logged, by wall-clock time (`first_anomaly_wall`). None when no checker pointed."""
    times: list[float] = []
    indices = []
    for result in (results.get("checkers") or {}).values():
        if result.get("valid") is not False:
            continue
        if result.get("first_anomaly_index") is not None:
            indices.append(int(result["first_anomaly_index"]))
        origin = results.get("origin_wall")
        if result.get("first_anomaly_wall") is not None and origin is not None:
            times.append(max(0.0, float(result["first_anomaly_wall"]) - float(origin)))
    if indices:
        history = read_history(run_dir / store.HISTORY_FILE)
        by_index = {op.index if op.index is not None else i: op for i, op in enumerate(history)}
        times += [by_index[i].time / 1e9 for i in indices if i in by_index and by_index[i].time is not None]
    return min(times) if times else None
