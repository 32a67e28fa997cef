"""The total-queue checker (Jepsen's): was every acknowledged message delivered, and only once?

Ops (the `queue` workload's contract with clients):
- `enqueue v` with a unique integer or string v: ok promises the message is durable, fail that
  it was not taken, info that either may hold;
- `dequeue`: ok with value v means v was delivered and acknowledged; ok with nil means the queue
  looked empty; info with value v means v was delivered but its ack's fate is unknown (it may be
  redelivered, legitimately); info with nil means nothing is known;
- `drain` (the final phase): dequeue and ack until empty; its value is the list delivered, and
  an ok drain promises every message in it was acknowledged.

Verdicts, each naming its messages:
- lost: an acknowledged enqueue never delivered (only judged when some drain completed ok);
- duplicated: delivered and acknowledged more than once;
- unexpected: delivered but never enqueued;
- failed-but-present: the enqueue ended fail, yet the message came out;
- recovered (not an error): an indeterminate enqueue whose message came out;
- fifo (only with option `fifo`): message a's enqueue completed before b's began, yet b's
  dequeue completed before a's began.

Soundness about indeterminate ops: an info enqueue is never lost, and an info delivery never
counts as a duplicate. A value-less info dequeue may have taken a message on a queue without
leases; unless option `leased` says an unacknowledged dequeue consumes nothing, up to that many
missing messages are reported as possibly consumed rather than lost.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import FAIL, INFO, OK, BadOp, Op, pair_calls

EXAMPLES = 20  # fifo violations named in full; the count is always exact


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    attempted: set = set()
    acknowledged: set = set()
    indeterminate: set = set()
    failed: set = set()
    enqueue_span: dict[Any, tuple[int, int]] = {}  # ok enqueues: (invoke index, completion index)
    enqueue_at: dict[Any, int] = {}
    acked_deliveries: Counter = Counter()
    unsure_deliveries: set = set()
    dequeue_span: dict[Any, tuple[int, int]] = {}  # first acknowledged delivery of each message
    blind_dequeues = 0  # info dequeues with no value: each may have consumed one message
    drained = False

    for call in pair_calls([op for op in history if op.is_client]):
        invoke, completion, outcome = call.invoke, call.completion, call.outcome
        f = invoke.f
        if f == "enqueue":
            value = invoke.value
            if not _message(value):
                raise BadOp(invoke, f"an enqueued value must be an integer or a string, found {_brief(value)}", history)
            attempted.add(value)
            enqueue_at.setdefault(value, _index(invoke))
            if outcome == OK:
                acknowledged.add(value)
                enqueue_span[value] = (_index(invoke), _index(completion))
            elif outcome == FAIL:
                failed.add(value)
            else:
                indeterminate.add(value)
        elif f == "dequeue":
            value = completion.value if completion is not None else None
            if value is not None and not _message(value):
                raise BadOp(completion, f"a dequeued value must be an integer, a string or nil, found {_brief(value)}", history)
            if outcome == OK and value is not None:
                acked_deliveries[value] += 1
                dequeue_span.setdefault(value, (_index(invoke), _index(completion)))
            elif outcome != OK and outcome != FAIL:
                if value is None:
                    blind_dequeues += 1
                else:
                    unsure_deliveries.add(value)
        elif f == "drain":
            value = completion.value if completion is not None else None
            if value is None:
                value = []
            if not isinstance(value, (list, tuple)) or not all(map(_message, value)):
                raise BadOp(completion or invoke, f"a drain's value must be a list of messages, found {_brief(value)}", history)
            if outcome == OK:
                drained = True
                for message in value:
                    acked_deliveries[message] += 1
                    dequeue_span.setdefault(message, (_index(invoke), _index(completion)))
            else:
                unsure_deliveries.update(value)

    delivered = set(acked_deliveries) | unsure_deliveries
    missing = acknowledged - delivered
    consumable = 0 if options.get("leased") else blind_dequeues
    lost = missing if drained and len(missing) > consumable else set()
    duplicated = {m: n for m, n in acked_deliveries.items() if n > 1}
    unexpected = delivered - attempted
    failed_present = failed & delivered
    recovered = indeterminate & delivered
    fifo = _fifo_violations(enqueue_span, dequeue_span) if options.get("fifo") else []

    found = [("lost", lost), ("duplicated", duplicated), ("unexpected", unexpected),
             ("failed-but-present", failed_present), ("fifo", fifo)]
    anomalies = [name for name, what in found if what]
    if anomalies:
        valid: Any = False
        reason = ", ".join(f"{len(what)} {name}" for name, what in found if what)
    elif not drained:
        valid = "unknown"
        reason = "no drain completed ok, so lost messages cannot be told"
    elif missing:
        valid = True
        reason = (f"{len(missing)} acknowledged messages missing, no more than the {blind_dequeues} "
                  f"indeterminate dequeues that may have consumed them")
    else:
        valid = True
        reason = f"all {len(acknowledged)} acknowledged messages delivered, none twice"

    items = []
    for label, what in (("lost", lost), ("duplicated", duplicated), ("unexpected", unexpected),
                        ("failed but present", failed_present)):
        if what:
            items.append(evidence.elements(label, sorted(what, key=_order)))
    if lost:
        items.append(evidence.ops("enqueues of lost messages", sorted(enqueue_at[m] for m in lost if enqueue_at[m] >= 0)))
    if fifo:
        items.append(evidence.table("fifo violations", ["earlier enqueue", "later enqueue", "later dequeued first"],
                                    [[v["earlier"], v["later"], v["later_dequeue_index"]] for v in fifo[:EXAMPLES]]))
    first = [enqueue_at[m] for m in lost if enqueue_at[m] >= 0] + [dequeue_span[m][0] for m in duplicated if m in dequeue_span]
    return {
        "valid": valid,
        "reason": reason,
        **({"anomalies": anomalies} if anomalies else {}),
        **({"first_anomaly_index": min(first)} if first else {}),
        "attempt_count": len(attempted),
        "acknowledged_count": len(acknowledged),
        "delivered_count": len(delivered),
        "lost_count": len(lost),
        "duplicated_count": len(duplicated),
        "unexpected_count": len(unexpected),
        "recovered_count": len(recovered),
        "failed_present_count": len(failed_present),
        "fifo_count": len(fifo),
        "possibly_consumed": len(missing) if not lost else 0,
        "indeterminate_dequeues": blind_dequeues,
        "lost": sorted(lost, key=_order),
        "duplicated": {str(m): n for m, n in sorted(duplicated.items(), key=lambda kv: _order(kv[0]))},
        "unexpected": sorted(unexpected, key=repr),
        "recovered": sorted(recovered, key=_order),
        "failed_present": sorted(failed_present, key=_order),
        "fifo": fifo[:EXAMPLES],
        **({"evidence": items} if items else {}),
    }


def _fifo_violations(enqueues: Mapping[Any, tuple[int, int]], dequeues: Mapping[Any, tuple[int, int]]) -> list[dict[str, Any]]:
    """Pairs (a, b): a's enqueue completed before b's was invoked, b's dequeue completed before
    a's was invoked. Per b, the a with the latest dequeue among those enqueued strictly earlier:
    sorted by enqueue completion with a running maximum, so n log n."""
    both = [m for m in enqueues if m in dequeues]
    by_completion = sorted(both, key=lambda m: enqueues[m][1])
    completions = [enqueues[m][1] for m in by_completion]
    latest: list[Any] = []  # latest[i]: the message among by_completion[:i+1] dequeued last
    for m in by_completion:
        if not latest or dequeues[m][0] > dequeues[latest[-1]][0]:
            latest.append(m)
        else:
            latest.append(latest[-1])
    violations = []
    for b in sorted(both, key=lambda m: dequeues[m][1]):
        earlier = bisect_left(completions, enqueues[b][0])
        if earlier == 0:
            continue
        a = latest[earlier - 1]
        if dequeues[a][0] > dequeues[b][1]:
            violations.append({"earlier": a, "later": b, "later_dequeue_index": dequeues[b][0]})
    return violations


def _index(op: Op | None) -> int:
    return -1 if op is None or op.index is None else op.index


def _order(message: Any) -> tuple[bool, Any]:
    return (isinstance(message, str), message)


def _message(value: Any) -> bool:
    return type(value) in (int, str)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
