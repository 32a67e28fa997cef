"""The transactional checker on Elle's own histories (verdicts from ../shared/corpora/README.md)
and on small hand-made histories, one per anomaly class."""

from __future__ import annotations

from pathlib import Path
import resource

import pytest

from checkers.txn import check_list_append, check_rw_register, list_append
from checkers.txn.checker import _order_edges
from checkers.txn.cycles import find_cycles
from checkers.txn.graph import PROCESS, REALTIME, Deadline, Edges, Graph, OutOfTime
from checkers.txn.transactions import transactions
from harness.history import Op
from harness.history_reader import read_history

ELLE = Path(__file__).resolve().parents[1] / ".." / ".." / "shared" / "corpora" / "elle"
ELLE = ELLE if ELLE.exists() else Path("/work/shared/corpora/elle")


def _elle(name: str) -> list[Op]:
    return list(read_history(ELLE / name))


def test_si_without_g_single_is_only_g2_item_and_si_holds() -> None:
    r = check_list_append(_elle("si-without-g-single.edn"), {"model": ["snapshot-isolation", "repeatable-read"]})
    assert r["anomaly-types"] == ["G2-item"]
    assert r["not"] == ["repeatable-read"]
    assert "snapshot-isolation" not in r["not"] + r["also-not"]
    si = check_list_append(_elle("si-without-g-single.edn"), {"model": "snapshot-isolation"})
    assert si["valid"] is True
    cycle = next(e for e in r["evidence"] if e["kind"] == "cycle")
    assert cycle["label"] == "G2-item" and [s["edge"] for s in cycle["steps"]].count("rw") >= 2
    assert all(s["why"] for s in cycle["steps"])


def test_huge_scc_is_invalid_with_g2_item_realtime_in_bounded_time() -> None:
    r = check_list_append(_elle("huge-scc.edn"), {"model": "strict-serializable", "time-limit": 120})
    assert r["valid"] is False
    assert "G2-item-realtime" in r["anomaly-types"]
    assert r["not"] == ["strong-snapshot-isolation"]  # as the README says: strong SI is violated


def test_huge_scc_says_what_it_did_not_finish_when_out_of_time() -> None:
    r = check_list_append(_elle("huge-scc.edn"), {"model": "strict-serializable", "time-limit": 0.001})
    assert r["valid"] in ("unknown", False)
    assert r.get("unfinished")


def test_paper_example_has_no_cycle_under_serializability() -> None:
    r = check_list_append(_elle("paper-example.edn"), {"model": "serializable"})
    assert not [a for a in r["anomaly-types"] if a.startswith("G")]


def _txn(process: int, kind: str, invoke: list, done: list) -> list[Op]:
    return [Op("invoke", "txn", invoke, process), Op(kind, "txn", done, process)]


def _h(*pairs: list[Op]) -> list[Op]:
    ops = [op for pair in pairs for op in pair]
    for i, op in enumerate(ops):
        op.index = i
    return ops


def test_g0_write_cycle() -> None:
    h = _h(_txn(0, "ok", [["append", 1, 1], ["append", 2, 2]], [["append", 1, 1], ["append", 2, 2]]),
           _txn(1, "ok", [["append", 1, 3], ["append", 2, 4]], [["append", 1, 3], ["append", 2, 4]]),
           _txn(2, "ok", [["r", 1, None], ["r", 2, None]], [["r", 1, [1, 3]], ["r", 2, [4, 2]]]))
    r = check_list_append(h, {"model": "read-uncommitted"})
    assert r["valid"] is False and "G0" in r["anomaly-types"]


def test_g1a_aborted_read() -> None:
    h = _h(_txn(0, "fail", [["append", 1, 1]], [["append", 1, 1]]),
           _txn(1, "ok", [["r", 1, None]], [["r", 1, [1]]]))
    r = check_list_append(h, {"model": "read-committed"})
    assert r["valid"] is False and r["anomaly-types"] == ["G1a"] and r["not"] == ["read-committed"]


def test_g_single_read_skew_rules_out_si() -> None:
    h = _h(_txn(0, "ok", [["r", 1, None], ["r", 2, None]], [["r", 1, []], ["r", 2, [5]]]),
           _txn(1, "ok", [["append", 1, 4], ["append", 2, 5]], [["append", 1, 4], ["append", 2, 5]]))
    r = check_list_append(h, {"model": "snapshot-isolation"})
    assert r["valid"] is False and "G-single" in r["anomaly-types"]
    # a cycle with an item rw edge is G2-item too (Adya; Elle's G-single-item), so RR falls as well
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]


def test_internal_and_garbage() -> None:
    h = _h(_txn(0, "ok", [["append", 1, 1], ["r", 1, None]], [["append", 1, 1], ["r", 1, [9]]]))
    r = check_list_append(h, {"model": "serializable"})
    assert {"internal", "garbage"} <= set(r["anomaly-types"])


def test_rw_register_write_skew_needs_initial_state_only() -> None:
    h = _h(_txn(0, "ok", [["r", 1, None], ["w", 2, 1]], [["r", 1, None], ["w", 2, 1]]),
           _txn(1, "ok", [["r", 2, None], ["w", 1, 1]], [["r", 2, None], ["w", 1, 1]]))
    r = check_rw_register(h, {"model": ["serializable", "snapshot-isolation"]})
    assert r["anomaly-types"] == ["G2-item"] and r["not"] == ["repeatable-read"]


def test_the_memory_ceiling_holds_only_while_the_check_runs() -> None:
    """A process that checks a history and then does other work (a test run writing its report,
    a pytest run opening a browser) gets its address-space limit back afterwards."""
    before = resource.getrlimit(resource.RLIMIT_AS)
    check_list_append([], {"memory-mb": 512})
    assert resource.getrlimit(resource.RLIMIT_AS) == before


class _ChecksThenStops(Deadline):
    """A deadline that passes after a given number of checks: a search cut short at a fixed
    point, whatever the machine's speed."""

    def __init__(self, checks: int) -> None:
        super().__init__(float("inf"))
        self.left = checks

    def check(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise OutOfTime()


def test_an_unfinished_search_names_its_component_and_classes() -> None:
    txns = transactions(_elle("huge-scc.edn"))
    edges = Edges(len(txns))
    list_append.analyse(txns, edges, Deadline(float("inf")))
    _order_edges(txns, edges, [0, PROCESS, REALTIME], Deadline(float("inf")))
    graph = Graph(edges)
    cycles, unfinished, left = find_cycles(graph, [0, PROCESS, REALTIME], _ChecksThenStops(3))
    assert unfinished and left
    assert set(unfinished) == {c for u in left for c in u.classes}
    assert any(u.components for u in left)  # the component it was searching, by its txns
    assert all(len(c) > 1 for u in left if u.components for c in u.components)


def _ok(process: int, mops: list) -> list[Op]:
    """An ok txn: the invocation carries the same micro-ops with reads null."""
    return _txn(process, "ok", [[f, k, None] if f == "r" else [f, k, v] for f, k, v in mops], mops)


def test_g_nonadjacent_long_fork_is_told_apart_and_rules_out_si() -> None:
    """T1 sees T4's append but not T2's, T3 sees T2's but not T4's: the cycle
    T1 -rw-> T2 -wr-> T3 -rw-> T4 -wr-> T1 has two rw edges, never adjacent (a long fork)."""
    h = _h(_ok(0, [["append", "x", 1]]), _ok(1, [["append", "y", 1]]),
           _ok(2, [["r", "x", []], ["r", "y", [1]]]), _ok(3, [["r", "x", [1]], ["r", "y", []]]))
    r = check_list_append(h, {"model": ["snapshot-isolation", "serializable"]})
    assert r["anomaly-types"] == ["G-nonadjacent"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]
    cycle = next(e for e in r["evidence"] if e["kind"] == "cycle")
    edges = [s["edge"] for s in cycle["steps"]]
    assert edges.count("rw") == 2 and all(edges[i] != "rw" or edges[i - 1] != "rw" for i in range(len(edges)))


def test_lost_update_both_read_one_version_and_wrote() -> None:
    h = _h(_ok(0, [["r", "x", []], ["append", "x", 1]]), _ok(1, [["r", "x", []], ["append", "x", 2]]))
    r = check_list_append(h, {"model": "snapshot-isolation"})
    # each missed the other's append (a G2-item cycle SI allows); the shared read is what SI's
    # first-committer-wins forbids
    assert r["valid"] is False and r["anomaly-types"] == ["G2-item", "lost-update"]
    assert r["not"] == ["repeatable-read", "snapshot-isolation"]


def test_dirty_update_and_future_read() -> None:
    h = _h(_txn(0, "fail", [["append", "x", 1]], [["append", "x", 1]]),
           _ok(1, [["append", "x", 2]]), _ok(2, [["r", "x", [1, 2]]]),
           _ok(3, [["r", "y", [5]], ["append", "y", 5]]))
    r = check_list_append(h, {"model": "read-committed"})
    assert {"G1a", "dirty-update", "future-read"} <= set(r["anomaly-types"])
    assert r["not"] == ["read-committed"]


def test_info_txn_seen_by_a_read_may_close_a_cycle_unseen_it_may_not() -> None:
    info = [Op("invoke", "txn", [["append", "x", 1], ["append", "y", 2]], 9)]
    seen = _h(info, _ok(0, [["r", "x", [1]], ["r", "y", []]]))
    r = check_list_append(seen, {"model": "snapshot-isolation"})
    assert r["anomaly-types"] == ["G-single"]  # T1 -wr-> T2 -rw-> T1: it committed, atomically
    unseen = _h([Op("invoke", "txn", [["append", "x", 1], ["append", "y", 2]], 9)],
                _ok(0, [["r", "x", []], ["r", "y", []]]))
    assert check_list_append(unseen, {"model": "strict-serializable"})["valid"] is True


def test_rw_register_linearizable_keys_orders_writes_by_real_time() -> None:
    """T1's write of x completes before T2's begins, so x: 1 < 2; T3 read x = 1 and wrote y,
    T2 read y unwritten: T3 -rw-> T2 -rw-> T3, visible only with the assumption."""
    h = _h(_ok(0, [["w", "x", 1]]))
    h = h + [Op("invoke", "txn", [["r", "x", None], ["w", "y", 1]], 1)]
    h = h + _ok(2, [["r", "y", None], ["w", "x", 2]])
    h = h + [Op("ok", "txn", [["r", "x", 1], ["w", "y", 1]], 1)]
    for i, op in enumerate(h):
        op.index = i
    assert check_rw_register(h, {"model": "serializable"})["valid"] is True
    r = check_rw_register(h, {"model": "serializable", "linearizable-keys": True})
    assert r["valid"] is False and "G2-item" in r["anomaly-types"]


def test_rw_register_lost_update() -> None:
    h = _h(_ok(0, [["r", "x", None], ["w", "x", 1]]), _ok(1, [["r", "x", None], ["w", "x", 2]]))
    r = check_rw_register(h, {"model": "snapshot-isolation"})
    assert r["valid"] is False and "lost-update" in r["anomaly-types"]
