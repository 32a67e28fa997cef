"""rw-register: writes of unique values, so a read names its writer; version orders are only
partly known. Always used: the initial state (nil) precedes every write. With
`writes-follow-reads`, a txn that read v and then wrote w to a key puts v before w. (The
`linearizable-keys` / `sequential-keys` assumptions of Elle are not implemented yet.)"""

from __future__ import annotations

from typing import Any, Mapping

from checkers.txn.graph import RW, WR, WW, Deadline, Graph
from checkers.txn.transactions import Txn

Anomalies = dict[str, list[dict[str, Any]]]


def analyse(txns: list[Txn], graph: Graph, options: Mapping[str, Any], deadline: Deadline) -> Anomalies:
    found: Anomalies = {}

    def note(name: str, ids: list[int], why: str) -> None:
        found.setdefault(name, []).append({"txns": ids, "why": why})

    writer: dict[tuple[Any, Any], Txn] = {}
    final_write: dict[tuple[int, Any], Any] = {}
    writers_of: dict[Any, list[Txn]] = {}
    for t in txns:
        for f, k, v in t.mops:
            if f == "w":
                writer[(k, v)] = t
                final_write[(t.id, k)] = v
                if t.outcome != "fail":
                    writers_of.setdefault(k, []).append(t)
    follow = bool(options.get("writes-follow-reads") or options.get("writes_follow_reads"))
    readers: dict[tuple[Any, Any], list[Txn]] = {}
    successor: dict[tuple[Any, Any], list[Txn]] = {}  # (k, v) -> txns known to write the next version
    for t in (t for t in txns if t.outcome == "ok"):
        if t.id & 4095 == 0:
            deadline.check()
        state: dict[Any, Any] = {}
        external: dict[Any, Any] = {}
        for f, k, v in t.mops:
            if f == "w":
                if follow and k in external and k not in state:
                    successor.setdefault((k, external[k]), []).append(t)
                state[k] = v
            elif f == "r":
                if k in state:
                    if v != state[k]:
                        note("internal", [t.id], f"T{t.index} read {v!r} from key {k!r} after writing {state[k]!r}")
                    continue
                if k in external:
                    if v != external[k]:
                        note("internal", [t.id], f"T{t.index} read key {k!r} as {external[k]!r} then {v!r}")
                    continue
                external[k] = v
                readers.setdefault((k, v), []).append(t)
                if v is None:
                    continue
                w = writer.get((k, v))
                if w is None:
                    note("garbage", [t.id], f"T{t.index} read {v!r} from key {k!r}, which nobody wrote")
                elif w.outcome == "fail":
                    note("G1a", [w.id, t.id], f"T{t.index} read {v!r} from key {k!r}, written by T{w.index}, which failed")
                elif w.id != t.id and final_write.get((w.id, k)) != v:
                    note("G1b", [w.id, t.id], f"T{t.index} read {v!r} from key {k!r}, an intermediate write of T{w.index}")
                if w is not None and w.outcome == "ok":
                    graph.add(w.id, t.id, WR, k, v)
    ok_writers = {k: [w for w in ws if w.outcome == "ok"] for k, ws in writers_of.items()}
    for (k, v), rs in readers.items():
        nexts = ok_writers.get(k, []) if v is None else successor.get((k, v), [])
        prev = writer.get((k, v)) if v is not None else None
        for w in nexts:
            value = final_write.get((w.id, k))
            for r in rs:
                graph.add(r.id, w.id, RW, k, value)
            if prev is not None and prev.outcome == "ok":
                graph.add(prev.id, w.id, WW, k, value)
    return found
