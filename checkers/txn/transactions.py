"""History -> transactions: pair each txn invocation with its completion."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from checkers.txn.graph import Deadline
from harness.history import INFO, INVOKE, BadOp, Op


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


def transactions(history: Sequence[Op], deadline: Deadline | None = None) -> list[Txn]:
    """Every txn call of the history, in invocation order; micro-ops are checked for shape.
    Pairs calls as `harness.history.pair_calls` does (a process's invocation with its next
    completion; a lone completion is a call of its own), in one pass that keeps positions."""
    calls: list[list] = []  # [invoke, completion, invoke position, completion position]
    open_calls: dict[Any, list] = {}
    for i, op in enumerate(history):
        if op.f != "txn" or not isinstance(op.process, int):
            continue
        if i & 16383 == 0 and deadline is not None:
            deadline.check()
        if op.type == INVOKE:
            call = [op, None, i, None]
            open_calls[op.process] = call
            calls.append(call)
        else:
            call = open_calls.pop(op.process, None)
            if call is None:
                calls.append([op, op, i, i])
            else:
                call[1], call[3] = op, i
    out: list[Txn] = []
    for n, (invoke, completion, start, end) in enumerate(calls):
        if n & 16383 == 0 and deadline is not None:
            deadline.check()
        outcome = completion.type if completion is not None else INFO
        op = completion if outcome == "ok" else invoke
        mops = op.value
        if type(mops) is not list or not all(type(m) is list and len(m) == 3 for m in mops):
            if not isinstance(mops, list) or not all(isinstance(m, list) and len(m) == 3 for m in mops):
                raise BadOp(op, "a txn's value must be a list of [f, key, value] micro-ops", history)
        index = invoke.index if invoke.index is not None else start
        out.append(Txn(len(out), index, invoke.process, outcome, mops, start, end if outcome != INFO else None))
    return out


def repeats_a_key(txn: Txn) -> bool:
    """Whether the txn touches some key twice: only such a txn can read its own writes, be
    `internal`, read a value before writing it, or both read and write a key."""
    mops = txn.mops
    return len(mops) > 1 and len({m[1] for m in mops}) != len(mops)
