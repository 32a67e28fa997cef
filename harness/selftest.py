"""The self-test matrix: does faultline pass every correct mode and catch every buggy one?

Each system declares its own rows (`selftest` on the System class, see `DeclaresSelftest` in
harness/seams.py): for each mode, the test that exercises it and what it must end with: valid, or
invalid with one of the named anomalies in results.json. `matrix()` gathers the rows of every
registered system, so an outside system joins the matrix by declaring rows. `run_case` runs
one row for one seed through the ordinary runner, so a row is exactly a `faultline test` command
(`Case.command` prints it). `faultline selftest` runs the table; `benchmarks/time_to_detect.py`
runs the buggy rows over several seeds and reports how long each took to show its first
anomalous operation. Rows marked `quick` make the subset the test suite runs.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from harness import plugins, store
from harness.history_reader import read_history
from harness.lifecycle import run_test
from harness.hooks import selftest_rows
from harness.seams import SelftestRow
from harness.spec import RunStatus, TestSpec


@dataclass(frozen=True)
class Case:
    """One system's row: what `SelftestRow` declares, with the system it belongs to."""

    system: str
    row: SelftestRow

    def __getattr__(self, name: str) -> Any:
        if name == "row":  # not set yet (a copy being made): no row to ask
            raise AttributeError(name)
        return getattr(self.row, name)  # mode, workload, nemesis, valid, anomalies, ...

    @property
    def label(self) -> str:
        return f"{self.system}/{self.mode}"

    def spec(self, seed: int, store_dir: str | Path, time_limit: float | None = None) -> TestSpec:
        return TestSpec(
            system=self.system, mode=self.mode, workload=self.workload,
            nemesis=[n for n in self.nemesis.split(",") if n], nodes=self.nodes,
            concurrency=self.concurrency, rate=self.rate, seed=seed, store=str(store_dir),
            time_limit=time_limit if time_limit is not None else self.time_limit,
            nemesis_interval=self.nemesis_interval, name=f"selftest-{self.system}-{self.mode}",
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
        if self.nemesis_interval != 5.0:
            argv += ["--nemesis-interval", f"{self.nemesis_interval:g}"]
        return shlex.join(argv)


def matrix() -> list[Case]:
    """Every registered system's declared rows (`DeclaresSelftest`), outside plug-ins included,
    in system-name order."""
    cases: list[Case] = []
    for name in plugins.names("system"):
        cases += [Case(name, row) for row in selftest_rows(plugins.load("system", name))]
    return cases


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
