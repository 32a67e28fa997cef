"""The set checker: were acknowledged additions kept?

Clients add unique elements; after faults are healed and nodes restarted, every client reads the
whole set (each from its own node). Judged per final read, with the elements listed:

- lost: acknowledged (add returned ok) but absent from a final read;
- unexpected: present in a final read but never attempted;
- recovered: indeterminate (add ended `info` or never ended) yet present;
- failed but present: the add ended `fail`, which promises it did not happen, yet it is there;
- ok: acknowledged and present.

A history with no successful final read cannot say whether anything was lost: `unknown`.
Elements are integers or strings, and a successful read's value is a list (or EDN set) of them,
or nil for none; anything else is bad input (`BadOp`, naming the op), never read as elements: a string read as
its characters would make phantom elements.
A failing result lists its evidence: the lost, unexpected and failed-but-present elements, the
adds of the lost ones (to find them in the timeline), and what each final read missed.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import INFO, OK, BadOp, Op, pair_calls


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    attempted: set = set()
    acknowledged: set = set()
    acked_at: dict[Any, int] = {}  # element -> history index of its add's invocation
    indeterminate: set = set()
    failed: set = set()
    reads: list[tuple[str, set]] = []
    for call in pair_calls([op for op in history if op.is_client]):
        f = call.invoke.f
        if f == "add":
            element = call.invoke.value
            if not _element(element):
                raise BadOp(call.invoke, f"an added element must be an integer or a string, found {_brief(element)}", history)
            attempted.add(element)
            if call.outcome == OK:
                acknowledged.add(element)
                if call.invoke.index is not None:
                    acked_at[element] = call.invoke.index
            elif call.outcome == INFO:
                indeterminate.add(element)
            else:
                failed.add(element)
        elif f == "read" and call.outcome == OK:
            completion = call.completion
            assert completion is not None
            if completion.value is None:
                completion_value: Any = ()  # nil: Clojure's empty collection
            elif isinstance(completion.value, (list, frozenset)) and all(map(_element, completion.value)):
                completion_value = completion.value
            else:
                raise BadOp(completion, f"a read's value must be a list of elements (integers or strings), "
                                        f"found {_brief(completion.value)}", history)
            reads.append((str(completion.node or f"process {completion.process}"), set(completion_value)))

    if not reads:
        return {
            "valid": "unknown",
            "reason": "no final read succeeded, so lost writes cannot be told",
            "attempt_count": len(attempted),
            "acknowledged_count": len(acknowledged),
        }

    lost_by_read: dict[str, list] = {}
    lost: set = set()
    seen: set = set()
    for where, elements in reads:
        missing = acknowledged - elements
        if missing:
            lost_by_read[where] = sorted(missing, key=_order)
            lost |= missing
        seen |= elements
    unexpected = seen - attempted
    recovered = indeterminate & seen
    failed_present = failed & seen
    ok = acknowledged - lost
    valid = not lost and not unexpected and not failed_present
    if valid:
        reason = f"all {len(acknowledged)} acknowledged elements present in all {len(reads)} final reads"
    else:
        parts = []
        if lost:
            parts.append(f"{len(lost)} acknowledged elements lost")
        if unexpected:
            parts.append(f"{len(unexpected)} elements read that were never added")
        if failed_present:
            parts.append(f"{len(failed_present)} elements read whose add had failed")
        reason = ", ".join(parts)
    anomalies = [name for name, found in (("lost", lost), ("unexpected", unexpected),
                                          ("failed-but-present", failed_present)) if found]
    items = []
    for label, elements in (("lost", sorted(lost, key=_order)), ("unexpected", sorted(unexpected, key=repr)),
                            ("failed but present", sorted(failed_present, key=_order))):
        if elements:
            items.append(evidence.elements(label, elements))
    if lost & acked_at.keys():
        items.append(evidence.ops("adds of lost elements", sorted(acked_at[e] for e in lost if e in acked_at)))
    if lost:
        items.append(evidence.table("lost per final read", ["final read at", "missing"],
                                    [[where, len(missing)] for where, missing in sorted(lost_by_read.items())]))
    return {
        "valid": valid,
        "reason": reason,
        **({"anomalies": anomalies} if anomalies else {}),
        **({"first_anomaly_index": min(acked_at[e] for e in lost)} if lost & acked_at.keys() else {}),
        "attempt_count": len(attempted),
        "acknowledged_count": len(acknowledged),
        "ok_count": len(ok),
        "lost_count": len(lost),
        "unexpected_count": len(unexpected),
        "recovered_count": len(recovered),
        "failed_present_count": len(failed_present),
        "lost": sorted(lost, key=_order),
        "unexpected": sorted(unexpected, key=repr),
        "recovered": sorted(recovered, key=_order),
        "failed_present": sorted(failed_present, key=_order),
        "lost_by_read": lost_by_read,
        "final_reads": len(reads),
        **({"evidence": items} if items else {}),
    }


def _order(element: Any) -> tuple[bool, Any]:
    """Integers first, then strings: a history may mix them, and Python will not compare them."""
    return (isinstance(element, str), element)


def _element(value: Any) -> bool:
    return type(value) in (int, str)


def _brief(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
