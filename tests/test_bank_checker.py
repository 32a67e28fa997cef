"""The bank checker on hand-made histories: what counts against the system and what never does."""

from __future__ import annotations

from typing import Any

from checkers.bank import check
from harness.history import Op

OPTIONS = {"accounts": 3, "total": 30}


def history(*calls: tuple[int, str, Any, str, Any]) -> list[Op]:
    """Sequential calls (process, f, invocation value, outcome, completion value), indexed in order."""
    ops = []
    for process, f, value, outcome, completed in calls:
        ops.append(Op("invoke", f, value, process=process))
        ops.append(Op(outcome, f, completed, process=process))
    for i, op in enumerate(ops):
        op.index, op.time = i, i
    return ops


def transfer(outcome: str, txn: str, process: int = 0) -> tuple[int, str, Any, str, Any]:
    value = {"from": 0, "to": 1, "amount": 5}
    return (process, "transfer", value, outcome, {**value, "txn": txn})


def read(balances: list[int], process: int = 1) -> tuple[int, str, Any, str, Any]:
    return (process, "read", None, "ok", balances)


def system_data(decisions: dict[str, str], outcomes: dict[str, dict[str, str]] | None = None,
                in_doubt: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """n1 coordinates every transaction, with n1 and n2 as participants."""
    outcomes = outcomes if outcomes is not None else {"n1": dict(decisions), "n2": dict(decisions)}
    nodes = {}
    for name in ("n1", "n2"):
        nodes[name] = {"outcomes": outcomes.get(name, {}), "in_doubt": (in_doubt or {}).get(name, []),
                       "in_doubt_seconds": [0.5], "decisions": {}}
    nodes["n1"]["decisions"] = {t: [o, ["n1", "n2"]] for t, o in decisions.items()}
    return {"nodes": nodes}


def test_an_indeterminate_transfer_never_counts_whether_it_committed_or_not() -> None:
    for decision in ("commit", "abort"):
        moved = [5, 15, 10] if decision == "commit" else [10, 10, 10]
        h = history(transfer("info", "t1"), read(moved))
        result = check(h, {**OPTIONS, "system_data": system_data({"t1": decision})})
        assert result["valid"] is True, (decision, result)
    # and without any system data at all
    assert check(history(transfer("info", "t1"), read([5, 15, 10])), OPTIONS)["valid"] is True


def test_a_failed_transfer_that_committed_makes_the_history_unsound_not_the_server_wrong() -> None:
    h = history(transfer("fail", "t1"), read([5, 15, 10]))
    result = check(h, {**OPTIONS, "system_data": system_data({"t1": "commit"})})
    assert result["valid"] is False
    assert result["anomalies"] == ["unsound-history"]  # no wrong-total: the reads are fine
    assert "client bug" in result["reason"]
    assert result["first_anomaly_index"] == 1
    # a failed transfer that really aborted is a truthful fail
    assert check(h, {**OPTIONS, "system_data": system_data({"t1": "abort"})})["valid"] is True


def test_a_read_with_the_wrong_total_is_named_with_the_transfers_around_it() -> None:
    h = history(transfer("ok", "t1"), transfer("info", "t2"), read([5, 10, 10]))
    result = check(h, OPTIONS)
    assert result["valid"] is False and result["anomalies"] == ["wrong-total"]
    assert result["first_anomaly_index"] == 5
    around = next(e for e in result["evidence"] if e["kind"] == "ops")
    assert around["indices"] == [1, 3]


def test_a_negative_balance_is_named_even_when_the_total_is_right() -> None:
    result = check(history(read([-5, 25, 10])), OPTIONS)
    assert result["anomalies"] == ["negative-balance"]


def test_a_participant_that_lost_a_committed_transfer_diverges_but_one_still_in_doubt_does_not() -> None:
    h = history(transfer("ok", "t1"), read([5, 15, 10]))
    lost = system_data({"t1": "commit"}, outcomes={"n1": {"t1": "commit"}, "n2": {}})
    result = check(h, {**OPTIONS, "system_data": lost})
    assert result["anomalies"] == ["divergent-outcome"]
    waiting = system_data({"t1": "commit"}, outcomes={"n1": {"t1": "commit"}, "n2": {}}, in_doubt={"n2": ["t1"]})
    result = check(h, {**OPTIONS, "system_data": waiting})
    assert result["valid"] is True
    assert result["in_doubt"]["still_in_doubt"] == 1  # a liveness figure, not a verdict
