"""The leader checker on small scripted histories of status answers: what it must catch, and
the histories (hand-overs, a single answer, info and failed polls) where it must not cry wolf."""

from __future__ import annotations

from checkers import leader
from harness.history import Op

S = 1_000_000_000


def history(*calls):
    """calls: (process, node, invoke_s, complete_s, type, leads, epoch); ops indexed in time order."""
    ops = []
    for process, node, start, end, kind, leads, epoch in calls:
        ops.append(Op("invoke", "status", {"node": node}, process, int(start * S)))
        value = {"node": node, "leader": leads, "epoch": epoch} if kind == "ok" else None
        ops.append(Op(kind, "status", value, process, int(end * S)))
    ops.sort(key=lambda op: op.time)
    for i, op in enumerate(ops):
        op.index = i
    return ops


def test_a_hand_over_is_valid():
    h = history((0, "n1", 0.0, 0.1, "ok", True, 1), (0, "n1", 1.0, 1.1, "ok", True, 1),
                (1, "n1", 1.5, 1.6, "ok", False, 1),
                (1, "n2", 1.7, 1.8, "ok", True, 2), (1, "n2", 3.0, 3.1, "ok", True, 2))
    assert leader.check(h)["valid"] is True


def test_overlapping_certain_spans_are_two_leaders():
    h = history((0, "n1", 0.0, 0.1, "ok", True, 1), (1, "n2", 0.5, 0.6, "ok", True, 2),
                (0, "n1", 1.0, 1.1, "ok", True, 1), (1, "n2", 2.0, 2.1, "ok", True, 2))
    result = leader.check(h)
    # n1 answering epoch 1 after n2 had answered epoch 2 is also an epoch regression.
    assert result["valid"] is False and result["anomalies"] == ["epoch-regression", "two-leaders"]
    assert h[result["first_anomaly_index"]].value == {"node": "n2", "leader": True, "epoch": 2}
    chart = result["evidence"][0]
    assert chart["kind"] == "intervals" and {b["label"] for b in chart["bars"]} == {"n1 epoch 1", "n2 epoch 2"}
    assert chart["overlap"] == [int(0.6 * S), int(1.0 * S)]


def test_one_answer_inside_another_leaders_span_is_two_leaders():
    h = history((0, "n1", 0.0, 0.1, "ok", True, 1), (1, "n2", 0.5, 0.6, "ok", True, 2), (0, "n1", 1.0, 1.1, "ok", True, 1))
    assert "two-leaders" in leader.check(h)["anomalies"]


def test_answers_that_may_not_overlap_and_info_polls_are_not_blamed():
    # n2's only answer may have come after n1 stopped (its window ends after n1's last invoke).
    maybe = history((0, "n1", 0.0, 0.1, "ok", True, 1), (0, "n1", 1.0, 1.1, "ok", True, 1), (1, "n2", 0.9, 1.3, "ok", True, 2))
    assert leader.check(maybe)["valid"] is True
    unknown = history((0, "n1", 0.0, 0.1, "ok", True, 1), (1, "n2", 0.5, 0.6, "info", None, None),
                      (2, "n3", 0.5, 0.6, "fail", None, None), (0, "n1", 1.0, 1.1, "ok", True, 1))
    assert leader.check(unknown)["valid"] is True


def test_two_nodes_in_one_epoch_and_a_lower_epoch_later():
    same = history((0, "n1", 0.0, 0.1, "ok", True, 3), (1, "n2", 5.0, 5.1, "ok", True, 3))
    assert leader.check(same)["anomalies"] == ["two-leaders"]
    lower = history((0, "n1", 0.0, 0.1, "ok", True, 3), (1, "n2", 5.0, 5.1, "ok", True, 2))
    result = leader.check(lower)
    assert result["anomalies"] == ["epoch-regression"]
    assert h_value(lower, result) == {"node": "n2", "leader": True, "epoch": 2}


def h_value(h, result):
    return h[result["first_anomaly_index"]].value


def test_the_workload_resigns_by_the_clock_not_by_the_op_count():
    """Every 1.5 s a resign to the next node in turn, whatever the client load: at 10x the ops the
    resigns are as far apart (counted in ops, a fast load resigned leaders faster than a lease)."""
    from types import SimpleNamespace

    from harness.generator.combinators import time_limit
    from harness.generator.simulate import simulate
    from workloads.leader import LeaderWorkload

    gen = LeaderWorkload().generator(SimpleNamespace(nodes=["n1", "n2", "n3"], params={}))
    for latency_ms in (10, 1):
        ops = [op for op in simulate(time_limit(10, gen), 3, latency_ns=latency_ms * 1_000_000, nemesis=False)
               if op.type == "invoke"]
        resigns = [op for op in ops if op.f == "resign"]
        assert [op.value["node"] for op in resigns] == ["n1", "n2", "n3", "n1", "n2", "n3"]
        gaps = [b.time - a.time for a, b in zip(resigns, resigns[1:])]
        assert all(1.5e9 <= gap < 1.6e9 for gap in gaps) and len(ops) > 500 * 10 / latency_ms
