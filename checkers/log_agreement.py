"""Committed-log agreement (Raft's State Machine Safety): every node's committed prefix agrees.

It reads the committed log each node dumped at the end of the test, gathered by the system's
`collect(cluster)` and passed in `options["system_data"]`:

    {"nodes": {node: {"committed": [entry, ...] | None, "commit_index": int, ...}},
     "unreachable": {node: "why"}}

Entries are compared whole (their JSON text), index by index: at every index, every node whose
committed prefix reaches it must hold the same entry. Nodes that committed less are simply
shorter; a node that could not be dumped (`committed` None) is left out, and if fewer than two
remain the verdict is `unknown`. Anomaly: `committed-log-divergence`, with the first divergent
index and what each node holds there.

A dump shows each log only as it ends, after any cut, so nodes also export an event when they cut
an entry they had counted as committed (`{"event": "committed-truncated", "node", "term",
"index", "commit_index"}` among their `events`); any such event is the anomaly
`committed-entry-truncated`, whatever the final logs look like. A failing result's evidence is
a table of the divergent indices or of the cut entries.
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import Op


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    max_examples = int(options.get("max_examples", 20))
    data = options.get("system_data") or {}
    logs = {
        name: dump["committed"]
        for name, dump in sorted((data.get("nodes") or {}).items())
        if isinstance(dump.get("committed"), list)
    }
    lengths = {name: len(entries) for name, entries in logs.items()}
    truncations = [
        event
        for dump in (data.get("nodes") or {}).values()
        for event in dump.get("events") or ()
        if event.get("event") == "committed-truncated"
    ]
    if truncations:
        return {
            "valid": False,
            "reason": f"{len(truncations)} times a node cut entries it had committed, first "
            f"{truncations[0].get('node')} at index {truncations[0].get('index')}",
            "anomalies": ["committed-entry-truncated"],
            "truncations": truncations[:max_examples],
            "committed_lengths": lengths,
            "evidence": [evidence.table(
                "committed entries cut", ["node", "term", "index", "commit index"],
                [[t.get("node"), t.get("term"), t.get("index"), t.get("commit_index")] for t in truncations],
                limit=max_examples)],
        }
    if len(logs) < 2:
        return {
            "valid": "unknown",
            "reason": f"committed logs from {len(logs)} node(s); agreement needs two",
            "committed_lengths": lengths,
        }

    divergent: list[dict[str, Any]] = []
    divergent_count = 0
    for index in range(max(lengths.values())):
        here = {name: entries[index] for name, entries in logs.items() if index < len(entries)}
        if len({json.dumps(entry, sort_keys=True) for entry in here.values()}) > 1:
            divergent_count += 1
            if len(divergent) < max_examples:
                divergent.append({"index": index + 1, "entries": here})  # Raft indices are 1-based

    result: dict[str, Any] = {
        "valid": divergent_count == 0,
        "nodes_compared": sorted(logs),
        "committed_lengths": lengths,
        "divergent_index_count": divergent_count,
        "divergent": divergent,
    }
    if divergent_count:
        first = divergent[0]
        result["reason"] = (
            f"committed logs differ at {divergent_count} indices, first at index {first['index']} "
            f"across {', '.join(sorted(first['entries']))}"
        )
        result["anomalies"] = ["committed-log-divergence"]
        result["evidence"] = [evidence.table("divergent committed entries", ["index", "entry on each node"],
                                             [[d["index"], d["entries"]] for d in divergent],
                                             count=divergent_count)]
    else:
        result["reason"] = f"the committed prefixes of {len(logs)} nodes agree (longest {max(lengths.values())} entries)"
    unreachable = sorted(set(data.get("unreachable") or {}))
    if unreachable:
        result["not_compared"] = unreachable
    return result
