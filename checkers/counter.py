"""The counter checker: does every read lie between what surely happened and what might have?

Ops (the `counter` workload's contract with clients): `add d` with a non-negative integer d
(ok: applied once; fail: not applied; info or never completed: applied at most once, as far as
the client knows, whatever retries it made under one idempotency key), and `read` completing
ok with an integer.

A read invoked at index i and completed at index c must lie within
[initial + sum of adds completed ok before i, initial + sum of adds not failed invoked before c].
Below is an `under-count` (an acknowledged increment vanished); above is an `over-count` (an
increment applied twice, e.g. a retry without an idempotency key). An indeterminate add only
widens the upper bound, so it can never make an over-count, nor an under-count.
"""

from __future__ import annotations

from bisect import bisect_left
from itertools import accumulate
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import FAIL, OK, BadOp, Op, pair_calls

EXAMPLES = 20  # bad reads named in full; counts are exact


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    initial = int((options or {}).get("initial", 0))
    acked: list[tuple[int, int]] = []  # (completion index, delta) of ok adds
    attempted: list[tuple[int, int]] = []  # (invoke index, delta) of adds that did not fail
    reads: list[tuple[int, int, int]] = []  # (invoke index, completion index, value)
    for call in pair_calls([op for op in history if op.is_client]):
        invoke, completion, outcome = call.invoke, call.completion, call.outcome
        if invoke.f == "add":
            delta = invoke.value
            if type(delta) is not int or delta < 0:
                raise BadOp(invoke, f"an add's value must be a non-negative integer, found {delta!r}", history)
            if outcome == OK:
                acked.append((_index(completion), delta))
            if outcome != FAIL:
                attempted.append((_index(invoke), delta))
        elif invoke.f == "read" and outcome == OK:
            assert completion is not None
            if type(completion.value) is not int:
                raise BadOp(completion, f"a read's value must be an integer, found {completion.value!r}", history)
            reads.append((_index(invoke), _index(completion), completion.value))

    acked.sort()
    attempted.sort()
    acked_at, acked_sum = [i for i, _ in acked], [0, *accumulate(d for _, d in acked)]
    attempted_at, attempted_sum = [i for i, _ in attempted], [0, *accumulate(d for _, d in attempted)]
    under: list[dict[str, Any]] = []
    over: list[dict[str, Any]] = []
    for began, ended, value in reads:
        lower = initial + acked_sum[bisect_left(acked_at, began)]
        upper = initial + attempted_sum[bisect_left(attempted_at, ended)]
        record = {"index": began, "value": value, "lower": lower, "upper": upper}
        if value < lower:
            under.append(record)
        elif value > upper:
            over.append(record)

    if not reads:
        return {"valid": "unknown", "reason": "no read succeeded", "read_count": 0,
                "acknowledged_count": len(acked), "attempt_count": len(attempted)}
    anomalies = [name for name, bad in (("under-count", under), ("over-count", over)) if bad]
    if anomalies:
        reason = ", ".join(f"{len(bad)} reads {name} (first: read {bad[0]['value']} at op {bad[0]['index']}, "
                           f"allowed [{bad[0]['lower']}, {bad[0]['upper']}])"
                           for name, bad in (("under-count", under), ("over-count", over)) if bad)
    else:
        reason = f"all {len(reads)} reads within their bounds"
    items = [evidence.table(f"{name} reads", ["read at", "value", "lowest allowed", "highest allowed"],
                            [[r["index"], r["value"], r["lower"], r["upper"]] for r in bad[:EXAMPLES]],
                            op_columns=["read at"], count=len(bad))
             for name, bad in (("under-count", under), ("over-count", over)) if bad]
    return {
        "valid": not anomalies,
        "reason": reason,
        **({"anomalies": anomalies} if anomalies else {}),
        **({"first_anomaly_index": min(r["index"] for r in under + over)} if anomalies else {}),
        "read_count": len(reads),
        "acknowledged_count": len(acked),
        "attempt_count": len(attempted),
        "acknowledged_sum": acked_sum[-1],
        "attempted_sum": attempted_sum[-1],
        "under_count": len(under),
        "over_count": len(over),
        "under": under[:EXAMPLES],
        "over": over[:EXAMPLES],
        **({"evidence": items} if items else {}),
    }


def _index(op: Op | None) -> int:
    return -1 if op is None or op.index is None else op.index
