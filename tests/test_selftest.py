"""The self-test matrix: it covers every shipped mode, judges outcomes right, and its quick rows
end as declared on real clusters."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import plugins, store
from harness.history import HistoryWriter, Op
from harness.seams import SelftestRow
from harness.selftest import Case, Outcome, anomalies_of, first_anomaly_seconds, matrix, select

FAULTLINE = str(Path(sys.executable).parent / "faultline")
SHIPPED = ("seedkv", "raftkv", "dynkv")


@pytest.mark.parametrize("system", SHIPPED)
def test_every_mode_of_every_shipped_system_has_a_row(system: str) -> None:
    modes = set(plugins.load("system", system).modes)
    assert {case.mode for case in matrix() if case.system == system} == modes


def test_correct_modes_face_partitions_and_every_fault_their_system_declares() -> None:
    """Shipped and installed systems alike: a correct row's faults are a partition plus each
    process and clock fault the system says it can take, all in one run."""
    for case in matrix():
        if case.valid:
            declared = set(plugins.load("system", case.system).capabilities) & {"kill", "pause", "clock"}
            families = {name.partition(":")[0] for name in case.nemesis.split(",")}
            assert {"partition"} | declared <= families, case.label
        else:
            assert case.anomalies, f"{case.label} must name the anomaly that catches it"


def test_a_buggy_row_counts_only_when_its_own_anomaly_is_named() -> None:
    case = Case("raftkv", SelftestRow("local-reads", "register", "partition", 5, False, ("stale-read",)))
    assert Outcome(case, 1, None, False, ["nonlinearizable", "stale-read"], 3.0).as_expected
    assert not Outcome(case, 1, None, False, ["multiple-leaders-in-term"], 3.0).as_expected
    assert not Outcome(case, 1, None, "unknown", [], None).as_expected
    correct = Case("raftkv", SelftestRow("correct", "register", "partition", 5, True))
    assert Outcome(correct, 1, None, True, [], None).as_expected
    assert not Outcome(correct, 1, None, "unknown", [], None).as_expected


def test_selection_and_commands() -> None:
    assert all(c.quick for c in select(matrix(), quick=True))
    assert all(not c.valid for c in select(matrix(), buggy=True))
    (row,) = select(matrix(), "dynkv", "no-read-repair")
    assert row.command(4).endswith("--seed 4 --rate 0 --concurrency 10")


def test_first_anomaly_is_the_earliest_op_or_event_any_checker_blamed(tmp_path: Path) -> None:
    with HistoryWriter(tmp_path / store.HISTORY_FILE) as journal:
        for i, t in enumerate((0, 1_000_000_000, 4_000_000_000, 9_000_000_000)):
            journal.append(Op("invoke", "read", None, 0, t, index=i))
    results = {
        "origin_wall": 1000.0,
        "checkers": {
            "linearizable": {"valid": False, "anomalies": ["nonlinearizable"], "first_anomaly_index": 3},
            "stale-reads": {"valid": False, "anomalies": ["stale-read"], "first_anomaly_index": 2},
            "election-safety": {"valid": False, "anomalies": ["multiple-leaders-in-term"], "first_anomaly_wall": 1006.0},
            "set": {"valid": True, "first_anomaly_index": 0},  # a valid checker blames nothing
        },
    }
    assert anomalies_of(results) == ["nonlinearizable", "stale-read", "multiple-leaders-in-term"]
    assert first_anomaly_seconds(tmp_path, results) == 4.0
    del results["checkers"]["stale-reads"], results["checkers"]["linearizable"]
    assert first_anomaly_seconds(tmp_path, results) == 6.0
    assert first_anomaly_seconds(tmp_path, {"checkers": {}}) is None


def test_the_command_rejects_a_selection_that_matches_nothing() -> None:
    done = subprocess.run([FAULTLINE, "selftest", "--system", "nosuch"], capture_output=True, text=True)
    assert done.returncode == 3 and "no row of the matrix matches" in done.stderr


@pytest.mark.slow
@pytest.mark.root
def test_quick_rows_end_as_declared(tmp_path: Path) -> None:
    quick = select(matrix(), quick=True)
    done = subprocess.run(
        [FAULTLINE, "selftest", "--quick", "--time-limit", "30", "--seeds", "1", "--json", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=len(quick) * 400,
    )
    runs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert [(r["system"], r["mode"]) for r in runs] == [(c.system, c.mode) for c in quick]
    for run in runs:
        assert run["as_expected"], run
    assert done.returncode == 0, done.stderr[-2000:]
