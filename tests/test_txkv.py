"""txkv: each mode's isolation behaviour on scripted interleavings (the engines in-process, with
wide step delays so the schedule holds on a loaded machine), the server's front ends, the
transaction workloads' generators, and one real cluster."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.generator.combinators import clients, limit
from harness.generator.simulate import simulate
from harness.seams import WorkloadOptions
from systems_under_test.txkv.engines import Aborted, make_engine
from workloads.list_append import ListAppendWorkload
from workloads.rw_register import RWRegisterWorkload

STEP = 0.2  # seconds per step; scripted starts land mid-step, so 100 ms of jitter changes nothing


def outcome(engine, ops, abort=False):
    try:
        return engine.execute(ops, abort)
    except Aborted as e:
        return f"aborted: {e}"


def concurrently(engine, *scripts):
    """Run (start offset in steps, ops, abort) scripts in threads; their outcomes in order."""
    results: list = [None] * len(scripts)

    def run(i, offset, ops, abort):
        time.sleep(offset * STEP)
        results[i] = outcome(engine, ops, abort)

    threads = [threading.Thread(target=run, args=(i, *s)) for i, s in enumerate(scripts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def reads(result):
    return [value for f, _, value in result if f == "r"]


WRITE_SKEW = ((0, [["r", 1, None], ["r", 2, None], ["append", 1, 10]], False),
              (0.5, [["r", 1, None], ["r", 2, None], ["append", 2, 20]], False))
SAME_KEY = ((0, [["r", 3, None], ["append", 3, 30]], False),
            (0.5, [["r", 3, None], ["append", 3, 31]], False))
# T1 appends at step 1 and rolls back at step 4 (its lock point is step 3); T2 reads at step 3.5.
ROLLED_BACK = ((0, [["append", 4, 40], ["r", 5, None], ["r", 5, None]], True),
               (2.5, [["r", 4, None]], False))


def engine(mode, tmp_path):
    return make_engine(mode, tmp_path, STEP)


def test_mvcc_si_allows_write_skew_but_not_a_lost_update(tmp_path: Path) -> None:
    e = engine("mvcc-si", tmp_path)
    t1, t2 = concurrently(e, *WRITE_SKEW)
    assert reads(t1) == reads(t2) == [None, None]  # both committed, neither saw the other: G2-item
    t1, t2 = concurrently(e, *SAME_KEY)
    assert isinstance(t1, list) and t2.startswith("aborted")  # first committer wins
    assert concurrently(e, *ROLLED_BACK)[1] == [["r", 4, None]]


def test_no_first_committer_wins_loses_an_update(tmp_path: Path) -> None:
    e = engine("no-first-committer-wins", tmp_path)
    t1, t2 = concurrently(e, *SAME_KEY)
    assert reads(t1) == reads(t2) == [None]
    assert outcome(e, [["r", 3, None]]) == [["r", 3, [31]]]  # 30's append is gone


def test_strict_2pl_serializes_write_skew_and_hides_rolled_back_writes(tmp_path: Path) -> None:
    e = engine("strict-2pl", tmp_path)
    t1, t2 = concurrently(e, *WRITE_SKEW)
    assert isinstance(t1, list) and t2.startswith("aborted: wait-die")
    t1, t2 = concurrently(e, *ROLLED_BACK)
    assert t1.startswith("aborted") and t2.startswith("aborted: wait-die")  # it could not read 40
    assert outcome(e, [["r", 4, None], ["r", 1, None]]) == [["r", 4, None], ["r", 1, [10]]]


def test_early_release_exposes_a_write_that_is_then_rolled_back(tmp_path: Path) -> None:
    e = engine("2pl-early-release", tmp_path)
    t1, t2 = concurrently(e, *ROLLED_BACK)
    assert t1.startswith("aborted") and t2 == [["r", 4, [40]]]  # G1a
    assert outcome(e, [["r", 4, None]]) == [["r", 4, None]]


def test_visibility_txid_le_reads_a_running_transactions_write(tmp_path: Path) -> None:
    e = engine("visibility-txid-le", tmp_path)
    t1, t2 = concurrently(e, *ROLLED_BACK)
    assert t1.startswith("aborted") and t2 == [["r", 4, [40]]]  # G1a
    assert concurrently(engine("mvcc-si", tmp_path / "si"), *ROLLED_BACK)[1] == [["r", 4, None]]


def test_gc_below_horizon_deletes_the_newest_committed_version(tmp_path: Path) -> None:
    for mode, expected in (("mvcc-si", [7]), ("gc-below-horizon", None)):
        e = make_engine(mode, tmp_path / mode, 0.0)
        outcome(e, [["append", 6, 7]])
        with e.mutex:
            e.collect_garbage()
        assert outcome(e, [["r", 6, None]]) == [["r", 6, expected]], mode


def test_correct_gc_keeps_what_a_live_snapshot_needs(tmp_path: Path) -> None:
    e = engine("mvcc-si", tmp_path)
    outcome(e, [["append", 8, 1]])
    # A long transaction takes its snapshot, then a later commit adds a version and GC runs
    # (every 50 ms) while it is still reading.
    long, _ = concurrently(e, (0, [["r", 9, None], ["r", 9, None], ["r", 8, None]], False),
                           (0.5, [["append", 8, 2]], False))
    assert long[-1] == ["r", 8, [1]]
    assert outcome(e, [["r", 8, None]]) == [["r", 8, [1, 2]]]


def test_the_log_replays_commits_and_ack_before_flush_loses_the_unflushed(tmp_path: Path) -> None:
    for mode in ("mvcc-si", "strict-2pl"):
        outcome(make_engine(mode, tmp_path / mode, 0.0), [["append", 1, 1], ["w", 2, 5]])
        restarted = make_engine(mode, tmp_path / mode, 0.0)  # what a restart after SIGKILL replays
        assert outcome(restarted, [["r", 1, None], ["r", 2, None]]) == [["r", 1, [1]], ["r", 2, 5]], mode
    e = make_engine("ack-before-flush", tmp_path / "abf", 0.0, flush_interval=60.0)
    assert outcome(e, [["append", 1, 1]]) == [["append", 1, 1]]  # acknowledged
    assert outcome(make_engine("mvcc-si", tmp_path / "abf", 0.0), [["r", 1, None]]) == [["r", 1, None]]


def _txns(workload, params):
    options = WorkloadOptions(seed=4, concurrency=4, nodes=["n1", "n2", "n3"], params=params)
    history = simulate(clients(limit(2000, workload.generator(options))), concurrency=4, nemesis=False)
    return [op for op in history if op.type == "invoke"]


@pytest.mark.parametrize("workload,write_f", [(ListAppendWorkload(), "append"), (RWRegisterWorkload(), "w")])
def test_transaction_workloads_are_elle_style(workload, write_f) -> None:
    invokes = _txns(workload, {"keys": 3, "writes_per_key": 8, "abort_fraction": 0.25})
    assert {op.f for op in invokes} == {"txn"}
    assert {len(op.value) for op in invokes} == {1, 2, 3, 4}
    micro = [m for op in invokes for m in op.value]
    assert {m[0] for m in micro} == {"r", write_f}
    assert all(m[2] is None for m in micro if m[0] == "r")
    written = [m[2] for m in micro if m[0] == write_f]
    assert len(written) == len(set(written))  # unique values
    per_key: dict = {}
    for m in micro:
        if m[0] == write_f:
            per_key[m[1]] = per_key.get(m[1], 0) + 1
    # Keys retire after 8 ok writes; up to 4 txns of 4 writes each may be in flight past that.
    assert max(per_key.values()) <= 8 + 4 * 4 and len(per_key) > 30
    aborts = sum(1 for op in invokes if op.extra.get("abort"))
    assert 0.15 * len(invokes) < aborts < 0.35 * len(invokes)
    again = _txns(workload, {"keys": 3, "writes_per_key": 8, "abort_fraction": 0.25})
    assert [op.value for op in again] == [op.value for op in invokes]  # seeded
