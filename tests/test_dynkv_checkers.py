"""The convergence and stale-read checkers on small hand-written histories."""

from __future__ import annotations

from typing import Any

from checkers import convergence, stale_reads
from harness.history import Op


class HistoryBuilder:
    """Invocations and completions in the order they are added (the history's real-time order)."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def invoke(self, process: int, f: str, key: Any, value: Any = None) -> None:
        self.ops.append(Op(type="invoke", f=f, value=[key, value], process=process, index=len(self.ops)))

    def complete(self, process: int, type: str, key: Any, value: Any = None) -> None:
        invocation = next(op for op in reversed(self.ops) if op.process == process and op.type == "invoke")
        self.ops.append(Op(type=type, f=invocation.f, value=[key, value] if invocation.f == "read" else invocation.value,
                           process=process, index=len(self.ops)))

    def call(self, process: int, f: str, key: Any, value: Any = None, result: Any = None, type: str = "ok") -> None:
        self.invoke(process, f, key, value)
        self.complete(process, type, key, result if f == "read" else value)


def test_reads_of_the_latest_completed_write_are_not_stale() -> None:
    h = HistoryBuilder()
    h.call(0, "read", "k", result=None)
    h.call(0, "write", "k", 1)
    h.call(1, "read", "k", result=1)
    h.call(0, "write", "k", 2)
    h.call(1, "read", "k", result=2)
    result = stale_reads.check(h.ops, {})
    assert result["valid"] is True and result["read_count"] == 3


def test_a_read_begun_after_an_overwrite_completed_is_stale() -> None:
    h = HistoryBuilder()
    h.call(0, "write", 7, "a")
    h.call(0, "write", 7, "b")
    h.call(1, "read", 7, result="a")
    h.call(1, "read", 8, result=None)  # another key, never written: fine
    h.call(2, "write", 8, "x")
    h.call(1, "read", 8, result=None)  # the initial value after an acknowledged write
    result = stale_reads.check(h.ops, {})
    assert result["valid"] is False
    assert result["anomalies"] == ["stale-read"]
    assert [(s["key"], s["observed"], s["overwritten_by"]) for s in result["stale_reads"]] == [
        (7, "a", "b"), (8, None, "x")]
    assert result["first_anomaly_index"] == result["stale_reads"][0]["read_index"]
    [table] = result["evidence"]
    assert (table["kind"], table["label"], table["op_columns"]) == ("table", "stale reads", ["read", "write"])
    assert table["rows"] == [[4, 7, "a", "b", 2], [10, 8, None, "x", 8]]  # read and write by history index


def test_concurrent_and_indeterminate_writes_never_make_a_read_stale() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", "a")
    h.invoke(1, "write", "k", "b")  # b overlaps the read below
    h.call(2, "read", "k", result="a")
    h.complete(1, "ok", "k", "b")
    h.call(3, "write", "k", "c", type="info")  # may or may not have happened
    h.call(2, "read", "k", result="b")
    h.call(4, "write", "k", "d", type="fail")
    h.call(2, "read", "k", result="c")
    h.call(2, "read", "k", result="b")  # c is unknown, so b may still be the latest
    assert stale_reads.check(h.ops, {})["valid"] is True


def test_cas_counts_as_a_write_of_its_new_value() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    h.call(0, "cas", "k", [1, 2])
    h.call(1, "read", "k", result=1)
    assert stale_reads.check(h.ops, {})["valid"] is False


def dump(records: dict[str, Any], replicas: dict[str, list[str]]) -> dict[str, Any]:
    return {"status": "ok", "records": {k: {"value": v, "version": [1, "n1", "x"]} for k, v in records.items()},
            "replicas": replicas}


OWNERS = {'"k"': ["n1", "n2", "n3"]}


def test_agreeing_replicas_with_a_written_value_converge() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    h.call(0, "write", "k", 2, type="info")
    data = {"replicas": {n: dump({'"k"': 2}, OWNERS) for n in ("n1", "n2", "n3")}, "settled": True}
    result = convergence.check(h.ops, {"system_data": data})
    assert result["valid"] is True and result["key_count"] == 1


def test_replicas_that_disagree_are_divergent() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    h.call(1, "write", "k", 2)
    data = {"replicas": {"n1": dump({'"k"': 1}, OWNERS), "n2": dump({'"k"': 2}, OWNERS), "n3": dump({}, OWNERS)}}
    result = convergence.check(h.ops, {"system_data": data})
    assert result["valid"] is False
    assert result["anomalies"] == ["divergent-replicas"]
    assert result["divergent"][0]["key"] == '"k"'
    [table] = result["evidence"]
    assert table["label"] == "divergent replicas" and table["rows"] == [['"k"', {"n1": 1, "n2": 2, "n3": None}]]


def test_unwritten_failed_and_missing_values_are_not_accounted_for() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    h.call(0, "write", "k", 9, type="fail")
    h.call(0, "write", "gone", 5)
    phantom = {"replicas": {n: dump({'"k"': 9}, OWNERS) for n in ("n1", "n2")}}
    result = convergence.check(h.ops, {"system_data": phantom})
    assert result["anomalies"] == ["phantom-value", "lost-acknowledged-writes"]
    assert result["lost"] == [{"key": '"gone"', "acknowledged": [5]}]
    assert [(t["label"], t["rows"]) for t in result["evidence"]] == [
        ("phantom values", [['"k"', 9]]), ("keys that lost acknowledged writes", [['"gone"', [5]]])]


def test_last_write_wins_order_is_reported_but_not_judged() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    h.call(1, "write", "k", 2)
    data = {"replicas": {n: dump({'"k"': 1}, OWNERS) for n in ("n1", "n2", "n3")}}
    result = convergence.check(h.ops, {"system_data": data})
    assert result["valid"] is True
    assert result["overwritten_out_of_order"] == [{"key": '"k"', "final": 1, "acknowledged_later": [2]}]
    assert "evidence" not in result, "a valid result has nothing to show as evidence"


def test_an_unreachable_replica_or_no_data_leaves_the_verdict_unknown() -> None:
    h = HistoryBuilder()
    h.call(0, "write", "k", 1)
    data = {"replicas": {"n1": dump({'"k"': 1}, OWNERS), "n2": {"status": "unreachable", "error": "refused"}}}
    assert convergence.check(h.ops, {"system_data": data})["valid"] == "unknown"
    assert convergence.check(h.ops, {})["valid"] == "unknown"
