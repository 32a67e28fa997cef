"""The convergence checker: once faults heal and anti-entropy has had its window, do all replicas
of every key hold the same value, and is every acknowledged write accounted for?

It judges the final per-replica state the system's `collect(cluster)` took, passed in
`options["system_data"]`:

    {"replicas": {node: {"status": "ok", "records": {key: {"value": v, "version": ...}},
                         "replicas": {key: [node, ...]}}          # the key's replica set
                  | {"status": "unreachable", "error": "..."}},
     "anti_entropy_window_s": float, "settled": bool}

Keys are the JSON text of the history's register keys (`json.dumps(key, sort_keys=True)`).
Each node's local records are read directly, with no quorum and no repair.

Anomalies:
- `divergent-replicas`: a key's replicas hold different values (or some hold none);
- `phantom-value`: the agreed value was never written, or only by writes that failed;
- `lost-acknowledged-writes`: a key with an acknowledged write has no value at all.

A register legitimately loses overwritten values, so "accounted for" means the final value comes
from a write that may have happened, and an acknowledged write left the key written. An
acknowledged write invoked after the final value's write had completed is listed as evidence
(`overwritten_out_of_order`: last-write-wins lost it) without failing the check: whether that is
allowed is the linearizability and stale-read checkers' call, and `eventual` mode does it by design.
An unreachable node makes the verdict `unknown` unless divergence is already proven. A failing
result's evidence is a table per finding.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import OK, Op, pair_calls

NEVER = float("inf")


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    max_examples = int(options.get("max_examples", 20))
    data = options.get("system_data") or {}
    dumps: Mapping[str, Any] = data.get("replicas") or {}
    if not dumps:
        return {"valid": "unknown", "reason": "no final per-replica state: the system's collect() gave none"}
    unreachable = sorted(node for node, dump in dumps.items() if dump.get("status") != "ok")
    reachable = {node: dump for node, dump in dumps.items() if dump.get("status") == "ok"}

    owners: dict[str, list[str]] = {}
    for dump in reachable.values():
        owners.update(dump.get("replicas", {}))
    divergent, final = [], {}
    for key in sorted(owners):
        held = {node: reachable[node]["records"].get(key) for node in owners[key] if node in reachable}
        distinct = {json.dumps((record or {}).get("value"), sort_keys=True) for record in held.values()}
        if len(distinct) > 1:
            divergent.append({"key": key, "replicas": held})
        elif held:
            final[key] = next(iter(held.values()))

    writes = _writes_by_key(history)
    phantom, lost, out_of_order = [], [], []
    for key, record in final.items():
        value = (record or {}).get("value")
        key_writes = writes.get(key, {})
        if value is None:
            if any(end != NEVER for _, end, _ in key_writes.values()):
                lost.append({"key": key, "acknowledged": [v for _, end, v in key_writes.values() if end != NEVER]})
            continue
        found = key_writes.get(json.dumps(value, sort_keys=True))
        if found is None:
            phantom.append({"key": key, "value": value})
            continue
        final_end = found[1]
        later = [v for start, end, v in key_writes.values() if end != NEVER and start > final_end]
        if later:
            out_of_order.append({"key": key, "final": value, "acknowledged_later": later})
    # A key written with an acknowledgement but absent from every replica's records.
    for key, key_writes in writes.items():
        if not unreachable and key not in owners and any(end != NEVER for _, end, _ in key_writes.values()):
            lost.append({"key": key, "acknowledged": [v for _, end, v in key_writes.values() if end != NEVER]})

    anomalies = [name for name, found in (("divergent-replicas", divergent), ("phantom-value", phantom),
                                          ("lost-acknowledged-writes", lost)) if found]
    if anomalies:
        valid: bool | str = False
    elif unreachable:
        valid = "unknown"
    else:
        valid = True
    result: dict[str, Any] = {
        "valid": valid,
        "key_count": len(owners),
        "settled": data.get("settled"),
        "anti_entropy_window_s": data.get("anti_entropy_window_s"),
        "unreachable_nodes": unreachable,
        "divergent_count": len(divergent),
        "divergent": divergent[:max_examples],
        "phantom": phantom[:max_examples],
        "lost": lost[:max_examples],
        "overwritten_out_of_order_count": len(out_of_order),
        "overwritten_out_of_order": out_of_order[:max_examples],
    }
    if anomalies:
        result["anomalies"] = anomalies
        result["evidence"] = _evidence(divergent, phantom, lost, out_of_order, max_examples)
    return result


def _evidence(divergent: list, phantom: list, lost: list, out_of_order: list, limit: int) -> list[dict[str, Any]]:
    """One table per finding, keys as the system stores them."""
    tables = [
        ("divergent replicas", ["key", "value on each replica"],
         [[d["key"], {node: (record or {}).get("value") for node, record in d["replicas"].items()}] for d in divergent]),
        ("phantom values", ["key", "agreed value"], [[p["key"], p["value"]] for p in phantom]),
        ("keys that lost acknowledged writes", ["key", "acknowledged values"],
         [[m["key"], m["acknowledged"]] for m in lost]),
        ("acknowledged writes overwritten out of order (not judged)", ["key", "final value", "acknowledged later"],
         [[o["key"], o["final"], o["acknowledged_later"]] for o in out_of_order]),
    ]
    return [evidence.table(label, columns, rows, limit=limit) for label, columns, rows in tables if rows]


def _writes_by_key(history: Sequence[Op]) -> dict[str, dict[str, tuple[int, float, Any]]]:
    """key text -> value text -> (invoke position, completion position or NEVER, value) for every
    write or cas that did not fail; only acknowledged ones get a completion position."""
    position = {id(op): i for i, op in enumerate(history)}
    writes: dict[str, dict[str, tuple[int, float, Any]]] = {}
    for call in pair_calls([op for op in history if op.is_client]):
        f, value = call.invoke.f, call.invoke.value
        if f not in ("write", "cas") or call.outcome == "fail":
            continue
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            continue
        if f == "cas" and not (isinstance(value[1], (list, tuple)) and len(value[1]) == 2):
            continue
        written = value[1] if f == "write" else value[1][1]
        end = position[id(call.completion)] if call.outcome == OK and call.completion is not None else NEVER
        key = json.dumps(value[0], sort_keys=True)
        writes.setdefault(key, {})[json.dumps(written, sort_keys=True)] = (position[id(call.invoke)], end, written)
    return writes
