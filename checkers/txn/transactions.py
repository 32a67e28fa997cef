"""History -> transactions: pair each txn invocation with its completion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from harness.history import BadOp, Op, pair_calls


@dataclass(slots=True)
class Txn:
    """One transaction. `id` is its position among the graph's nodes; `index` the history index
    of its invocation (what evidence points at); `mops` the completion's micro-ops for ok txns,
    the invocation's otherwise; `start`/`end` its invoke/complete positions for real-time order."""

    id: int
    index: int
    process: Any
    outcome: str  # ok, fail or info
    mops: list
    start: int
    end: int | None


def transactions(history: Sequence[Op]) -> list[Txn]:
    """Every txn call of the history, in invocation order; micro-ops are checked for shape."""
    out: list[Txn] = []
    position = {id(op): i for i, op in enumerate(history)}
    for call in pair_calls([op for op in history if op.is_client and op.f == "txn"]):
        op = call.completion if call.outcome == "ok" and call.completion is not None else call.invoke
        mops = op.value
        if not isinstance(mops, list) or not all(isinstance(m, list) and len(m) == 3 for m in mops):
            raise BadOp(op, "a txn's value must be a list of [f, key, value] micro-ops", history)
        index = call.invoke.index if call.invoke.index is not None else position[id(call.invoke)]
        end = position[id(call.completion)] if call.completion is not None and call.outcome != "info" else None
        out.append(Txn(len(out), index, call.invoke.process, call.outcome, mops, position[id(call.invoke)], end))
    return out
