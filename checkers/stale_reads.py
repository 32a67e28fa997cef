"""The stale-read checker: a read that began after a write completed must not return an older value.

For the register workload (`value` = `[key, v]`, values unique per key). A read R of key k that
returned v (written by Wv) is stale when some acknowledged write W of k satisfies

    Wv completed before W was invoked, and W completed before R was invoked,

i.e. v had already been overwritten, in real time, before R started. A read of the initial
value (None) is stale when any acknowledged write of k completed before R started. Writes whose
outcome is unknown (`info`) never complete, so they never make a value count as overwritten.
Reads of values no write produced are left to the linearizability checker.

Every stale read is a linearizability violation, but this check is much cheaper and names the
weaker promise (read-after-write across clients) that quorum guides make (GUIDE.md S1:788).
Real-time order is the history's order. Options: `max_examples` (default 20). A failing result's
evidence is a table of the stale reads, each with the write that had overwritten its value.
"""

from __future__ import annotations

import bisect
import json
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import OK, BadOp, Op, pair_calls

NEVER = float("inf")


def _written_value(f: str, value: Any) -> Any:
    """The value a write or cas stores."""
    return value[1] if f == "write" else value[1][1]


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    max_examples = int(options.get("max_examples", 20))
    position = {id(op): i for i, op in enumerate(history)}
    # per key: value -> (invoke position, completion position or NEVER, the value itself)
    writes: dict[str, dict[Any, tuple[int, float, Any]]] = {}
    reads: list[tuple[str, Any, Any, int, int]] = []
    for call in pair_calls([op for op in history if op.is_client]):
        f, value = call.invoke.f, call.invoke.value
        if f not in ("read", "write", "cas") or not isinstance(value, (list, tuple)) or len(value) != 2:
            continue
        key = json.dumps(value[0], sort_keys=True)
        start = position[id(call.invoke)]
        end = position[id(call.completion)] if call.completion is not None else NEVER
        if f == "read":
            if call.outcome == OK:
                read = call.completion.value  # type: ignore[union-attr]
                if not isinstance(read, (list, tuple)) or len(read) != 2:
                    raise BadOp(call.completion, f"a read of key {value[0]!r} must complete with [key, value], found {read!r}", history)  # type: ignore[arg-type]
                reads.append((key, value[0], read[1], start, int(end)))
            continue
        if call.outcome == "fail":
            continue
        if f == "cas" and (not isinstance(value[1], (list, tuple)) or len(value[1]) != 2):
            continue
        written = _written_value(f, value)
        writes.setdefault(key, {})[_hashable(written)] = (start, end if call.outcome == OK else NEVER, written)

    # For each key: acknowledged writes sorted by completion, with the running maximum of their
    # invocation positions, so "the latest-invoked write completed before t" is one bisect.
    timelines: dict[str, tuple[list[float], list[int], list[Any]]] = {}
    for key, by_value in writes.items():
        acked = sorted(((end, start, v) for start, end, v in by_value.values() if end != NEVER), key=lambda t: (t[0], t[1]))
        ends, latest_starts, latest_values, best, best_value = [], [], [], -1, None
        for end, start, v in acked:
            if start > best:
                best, best_value = start, v
            ends.append(end)
            latest_starts.append(best)
            latest_values.append(best_value)
        timelines[key] = (ends, latest_starts, latest_values)

    stale = []
    for key, raw_key, observed, start, end in reads:
        ends, latest_starts, latest_values = timelines.get(key, ([], [], []))
        i = bisect.bisect_left(ends, start) - 1  # acknowledged writes completed before the read began
        if i < 0:
            continue
        if observed is None:
            observed_end: float = -1
        elif _hashable(observed) in writes.get(key, {}):
            observed_end = writes[key][_hashable(observed)][1]
        else:
            continue  # a value no write produced: the linearizability checker's business
        if latest_starts[i] > observed_end:
            stale.append({"key": raw_key, "read_index": _index(history, start), "observed": observed,
                          "overwritten_by": latest_values[i],
                          "overwriting_write_index": _index(history, latest_starts[i])})
    result: dict[str, Any] = {"valid": not stale, "read_count": len(reads), "stale_count": len(stale),
                              "stale_reads": stale[:max_examples]}
    if stale:
        result["anomalies"] = ["stale-read"]
        result["first_anomaly_index"] = min(s["read_index"] for s in stale)
        result["evidence"] = [evidence.table(
            "stale reads", ["read", "key", "observed", "overwritten by", "write"],
            [[s["read_index"], s["key"], s["observed"], s["overwritten_by"], s["overwriting_write_index"]]
             for s in stale],
            op_columns=["read", "write"], limit=max_examples)]
    return result


def _hashable(value: Any) -> Any:
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def _index(history: Sequence[Op], position: int) -> int:
    index = history[position].index
    return index if index is not None else position
