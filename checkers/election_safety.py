"""Election safety (Raft section 5.2): at most one leader is elected in any term.

It reads the leader events the nodes export, gathered by the system's `collect(cluster)` and
passed in `options["system_data"]`:

    {"nodes": {node: {"events": [{"event": "leader", "node": "n1", "term": 3, "wall": ...}, ...],
                      ...}},
     "unreachable": {node: "why"}}

Each node writes its own "I became leader of term t" event to disk before acting as leader, so
the events survive kills. Anomaly: `multiple-leaders-in-term`, with the terms and their leaders
(as `violations`, and as evidence: a table). A node with no event list at all (down and its disk
unreadable) makes a clean result `unknown`: its events might hold the second leader.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import Op


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    max_examples = int(options.get("max_examples", 20))
    data = options.get("system_data") or {}
    nodes: Mapping[str, Any] = data.get("nodes") or {}
    if not nodes:
        return {"valid": "unknown", "reason": "no leader events: the system's collect() gave no nodes"}

    leaders: dict[int, set[str]] = defaultdict(set)
    became: dict[int, dict[str, float]] = defaultdict(dict)  # term -> node -> wall time it first led
    elections = 0
    missing = sorted(set(data.get("unreachable") or {}) - {n for n, d in nodes.items() if d.get("events") is not None})
    for name, dump in nodes.items():
        for event in dump.get("events") or ():
            if event.get("event") == "leader":
                leader = str(event.get("node", name))
                leaders[int(event["term"])].add(leader)
                if event.get("wall") is not None:
                    by_node = became[int(event["term"])]
                    by_node[leader] = min(by_node.get(leader, float("inf")), float(event["wall"]))
                elections += 1

    violations = [{"term": term, "leaders": sorted(names)} for term, names in sorted(leaders.items()) if len(names) > 1]
    result: dict[str, Any] = {
        "valid": not violations,
        "elections": elections,
        "terms_with_a_leader": len(leaders),
        "highest_term": max(leaders, default=0),
        "violation_count": len(violations),
        "violations": violations[:max_examples],
    }
    if violations:
        first = violations[0]
        result["reason"] = (
            f"{len(violations)} terms had more than one leader; term {first['term']}: {', '.join(first['leaders'])}"
        )
        result["anomalies"] = ["multiple-leaders-in-term"]
        result["evidence"] = [evidence.table("terms with more than one leader", ["term", "leaders"],
                                             [[v["term"], ", ".join(v["leaders"])] for v in violations],
                                             limit=max_examples)]
        # A term goes wrong when its second leader appears.
        second_leader_at = [sorted(became[v["term"]].values())[1:2] for v in violations]
        if any(second_leader_at):
            result["first_anomaly_wall"] = min(t for ts in second_leader_at for t in ts)
    elif missing:
        result["valid"] = "unknown"
        result["reason"] = f"no leader events from {', '.join(missing)}; one of them may have led a term twice over"
        result["nodes_without_events"] = missing
    else:
        result["reason"] = f"one leader in each of {len(leaders)} terms ({elections} elections, {len(nodes)} nodes)"
    return result
