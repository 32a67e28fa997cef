"""The queue and counter checkers on hand-made histories, above all their soundness about
indeterminate ops: an info enqueue is never lost, an info increment never an over-count."""

from __future__ import annotations

from typing import Any

import pytest

from checkers import counter, queue
from harness import plugins
from harness.history import BadOp, Op, with_indices


def call(process: int, f: str, value: Any = None, outcome: str | None = "ok", result: Any = ...) -> list[Op]:
    """An invocation and its completion (outcome None: never completed); the completion's value is
    `result` when given, else the invocation's."""
    ops = [Op(type="invoke", f=f, value=value, process=process)]
    if outcome is not None:
        ops.append(Op(type=outcome, f=f, value=value if result is ... else result, process=process))
    return ops


def history(*parts: list[Op]) -> list[Op]:
    return with_indices([op for part in parts for op in part])


def enqueue(p: int, v: Any, outcome: str | None = "ok") -> list[Op]:
    return call(p, "enqueue", v, outcome)


def dequeue(p: int, v: Any, outcome: str | None = "ok") -> list[Op]:
    return call(p, "dequeue", None, outcome, v)


def drain(p: int, values: list, outcome: str = "ok") -> list[Op]:
    return call(p, "drain", None, outcome, values)


def test_both_checkers_and_workloads_are_registered_plugins() -> None:
    assert plugins.load("checker", "queue") is queue.check
    assert plugins.load("checker", "counter") is counter.check
    assert plugins.load("workload", "queue")().checkers() == {"queue": {"leased": True}}
    assert plugins.load("workload", "counter")().checkers() == {"counter": {}}


# -- queue -------------------------------------------------------------------------------------

def test_queue_valid_when_every_acknowledged_message_comes_out_once() -> None:
    h = history(enqueue(0, 1), enqueue(1, 2), dequeue(0, 1), dequeue(1, None), enqueue(0, 3), drain(1, [2, 3]))
    result = queue.check(h, {"leased": True})
    assert result["valid"] is True, result
    assert result["lost"] == [] and result["duplicated"] == {}
    assert result["acknowledged_count"] == 3 and result["delivered_count"] == 3


def test_an_acknowledged_message_never_delivered_is_lost_with_its_enqueue() -> None:
    h = history(enqueue(0, 1), enqueue(1, 2), drain(0, [2]))
    result = queue.check(h, {"leased": True})
    assert result["valid"] is False
    assert result["anomalies"] == ["lost"] and result["lost"] == [1]
    by_label = {item["label"]: item for item in result["evidence"]}
    assert by_label["enqueues of lost messages"]["indices"] == [0]
    assert result["first_anomaly_index"] == 0


def test_an_indeterminate_enqueue_is_never_lost_and_is_recovered_when_seen() -> None:
    # 1 timed out and never came out; 2 timed out and did; 3 never completed at all.
    h = history(enqueue(0, 1, "info"), enqueue(1, 2, "info"), enqueue(2, 3, None), drain(3, [2]))
    result = queue.check(h, {"leased": True})
    assert result["valid"] is True, result
    assert result["lost"] == [] and result["recovered"] == [2]


def test_an_acked_message_redelivered_after_an_indeterminate_ack_is_no_duplicate() -> None:
    # The first delivery's ack timed out (info with the message); the broker redelivered it.
    h = history(enqueue(0, 1), dequeue(1, 1, "info"), dequeue(2, 1), drain(0, []))
    result = queue.check(h, {"leased": True})
    assert result["valid"] is True, result


def test_a_message_acknowledged_twice_is_duplicated() -> None:
    h = history(enqueue(0, 1), dequeue(1, 1), drain(0, [1]))
    result = queue.check(h, {"leased": True})
    assert result["valid"] is False
    assert result["anomalies"] == ["duplicated"] and result["duplicated"] == {"1": 2}


def test_unexpected_and_failed_but_present_messages() -> None:
    h = history(enqueue(0, 1, "fail"), drain(1, [1, 7]))
    result = queue.check(h, {"leased": True})
    assert result["anomalies"] == ["unexpected", "failed-but-present"]
    assert result["unexpected"] == [7] and result["failed_present"] == [1]


def test_without_leases_a_blind_indeterminate_dequeue_may_have_consumed_a_message() -> None:
    h = history(enqueue(0, 1), enqueue(0, 2), dequeue(1, None, "info"), drain(0, [2]))
    unleased = queue.check(h)
    assert unleased["valid"] is True and unleased["possibly_consumed"] == 1
    # With leases the same history loses 1: an unacknowledged dequeue consumed nothing.
    assert queue.check(h, {"leased": True})["lost"] == [1]
    # Two missing with one blind dequeue cannot all be explained: both reported lost.
    h2 = history(enqueue(0, 1), enqueue(0, 2), dequeue(1, None, "info"), drain(0, []))
    assert queue.check(h2)["lost"] == [1, 2]


def test_without_a_completed_drain_loss_is_unknown_but_duplicates_still_count() -> None:
    assert queue.check(history(enqueue(0, 1), drain(1, [], "info")))["valid"] == "unknown"
    h = history(enqueue(0, 1), dequeue(1, 1), dequeue(2, 1))
    assert queue.check(h)["anomalies"] == ["duplicated"]


def test_fifo_violations_only_between_non_overlapping_operations() -> None:
    # 1 is enqueued before 2 is; 2 is dequeued before 1's dequeue begins.
    h = history(enqueue(0, 1), enqueue(0, 2), dequeue(1, 2), dequeue(1, 1), drain(0, []))
    assert queue.check(h, {"leased": True})["valid"] is True  # order not asked for
    result = queue.check(h, {"leased": True, "fifo": True})
    assert result["anomalies"] == ["fifo"]
    assert result["fifo"] == [{"earlier": 1, "later": 2, "later_dequeue_index": 4}]
    # Concurrent enqueues may be ordered either way.
    concurrent = with_indices([Op("invoke", "enqueue", 1, 0), Op("invoke", "enqueue", 2, 1),
                               Op("ok", "enqueue", 1, 0), Op("ok", "enqueue", 2, 1),
                               *dequeue(2, 2), *dequeue(2, 1), *drain(0, [])])
    assert queue.check(concurrent, {"leased": True, "fifo": True})["valid"] is True


def test_queue_bad_values_name_the_op() -> None:
    with pytest.raises(BadOp):
        queue.check(history(enqueue(0, [1])))
    with pytest.raises(BadOp):
        queue.check(history(drain(0, "12")))


# -- counter -----------------------------------------------------------------------------------

def add(p: int, outcome: str | None = "ok", delta: int = 1) -> list[Op]:
    return call(p, "add", delta, outcome)


def read(p: int, value: int) -> list[Op]:
    return call(p, "read", None, "ok", value)


def test_counter_valid_when_reads_lie_within_their_bounds() -> None:
    h = history(read(0, 0), add(0), add(1, delta=2), read(0, 3))
    result = counter.check(h)
    assert result["valid"] is True, result
    assert result["acknowledged_sum"] == 3 and result["read_count"] == 2


def test_a_read_concurrent_with_an_add_may_see_it_or_not() -> None:
    ops = with_indices([Op("invoke", "add", 1, 0), Op("invoke", "read", None, 1),
                        Op("ok", "read", 1, 1), Op("invoke", "read", None, 2), Op("ok", "read", 0, 2),
                        Op("ok", "add", 1, 0)])
    assert counter.check(ops)["valid"] is True


def test_a_read_below_the_acknowledged_sum_is_an_under_count_named_with_the_read() -> None:
    h = history(add(0), add(1), read(2, 1))
    result = counter.check(h)
    assert result["valid"] is False and result["anomalies"] == ["under-count"]
    assert result["under"] == [{"index": 4, "value": 1, "lower": 2, "upper": 2}]
    assert result["first_anomaly_index"] == 4
    assert result["evidence"][0]["op_columns"] == ["read at"]


def test_indeterminate_increments_are_never_an_over_count_nor_an_under_count() -> None:
    # Two timed out (one never completed); a read may see none, one or both of them.
    for seen in (1, 2, 3):
        h = history(add(0), add(1, "info"), add(2, None), read(3, seen))
        assert counter.check(h)["valid"] is True, seen
    h = history(add(0), add(1, "info"), add(2, None), read(3, 4))
    result = counter.check(h)
    assert result["anomalies"] == ["over-count"]
    assert result["over"][0]["upper"] == 3


def test_a_failed_increment_seen_is_an_over_count() -> None:
    h = history(add(0), add(1, "fail"), read(2, 2))
    assert counter.check(h)["anomalies"] == ["over-count"]


def test_a_retried_increment_applied_twice_is_an_over_count() -> None:
    # The client retried one `add 1` after a timeout; a server without idempotency applied it twice.
    h = history(add(0), read(1, 2))
    assert counter.check(h)["over"] == [{"index": 2, "value": 2, "lower": 1, "upper": 1}]


def test_counter_without_reads_is_unknown_and_bad_values_name_the_op() -> None:
    assert counter.check(history(add(0)))["valid"] == "unknown"
    with pytest.raises(BadOp):
        counter.check(history(add(0, delta=-1)))
    with pytest.raises(BadOp):
        counter.check(history(call(0, "read", None, "ok", "3")))
