"""rw-register: writes of unique values, so a read names its writer; version orders are only
partly known. Always used: the initial state (nil) precedes every write. With
`writes-follow-reads`, a txn that read v and then wrote w to a key puts v before w. With
`linearizable-keys` (Elle's `:linearizable-keys?`: each key on its own is linearizable) a txn
that completed before another wrote the key was invoked saw or wrote an earlier version; with
`sequential-keys` (`:sequential-keys?`) the same for an earlier txn of the writer's process.
Those edges may skip versions (v < w, not v directly before w): every cycle through them is
the shortcut of a real one with the same rw edges, so the anomaly classes stay sound."""

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
                if w is not None and w.outcome != "fail":  # an info writer seen did commit
                    graph.add(w.id, t.id, WR, k, v)
    # writers that are info get edges in only, unless a read saw them (as in list_append)
    ok_writers = writers_of
    for (k, v), rs in readers.items():
        nexts = ok_writers.get(k, []) if v is None else successor.get((k, v), [])
        prev = writer.get((k, v)) if v is not None else None
        for w in nexts:
            value = final_write.get((w.id, k))
            for r in rs:
                graph.add(r.id, w.id, RW, k, value)
            if prev is not None and prev.outcome != "fail":
                graph.add(prev.id, w.id, WW, k, value)
    for order in ("linearizable", "sequential"):
        if options.get(f"{order}-keys") or options.get(f"{order}_keys"):
            _key_order_edges(txns, writer, readers, graph, order == "sequential", deadline)
    return found


def _key_order_edges(txns: list[Txn], writer: dict[tuple[Any, Any], Txn], readers: dict[tuple[Any, Any], list[Txn]],
                     graph: Graph, same_process: bool, deadline: Deadline) -> None:
    """A completed before B was invoked (on B's process only, when `same_process`), both touch
    key k and B writes it: the version v A left (its last write, else the value it read) is
    older than B's write, so v's writer -ww-> B and every reader of v -rw-> B."""
    touch: dict[Any, list[tuple[Txn, bool, Any]]] = {}  # key -> (ok txn, wrote it, external read)
    writes: dict[Any, list[tuple[Txn, Any]]] = {}  # key -> (live txn, its last write)
    a_last: dict[tuple[int, Any], Any] = {}
    for t in txns:
        if t.outcome == "fail":
            continue
        last: dict[Any, Any] = {}
        first_read: dict[Any, Any] = {}
        for f, k, v in t.mops:
            if f == "w":
                last[k] = v
            elif f == "r" and k not in last and k not in first_read:
                first_read[k] = v
        for k, v in last.items():
            writes.setdefault(k, []).append((t, v))
            a_last[(t.id, k)] = v
        if t.outcome == "ok":
            for k in set(last) | set(first_read):
                touch.setdefault(k, []).append((t, k in last, first_read.get(k)))
    for k, ws in writes.items():
        before = sorted(touch.get(k, ()), key=lambda e: e[0].end)
        for b, value in ws:
            for a, wrote, read in before:
                if a.end >= b.start:
                    break
                if a.id == b.id or (same_process and a.process != b.process):
                    continue
                version = a_last[(a.id, k)] if wrote else read
                w = a if wrote else writer.get((k, version)) if version is not None else None
                if w is not None and w.outcome != "fail":
                    graph.add(w.id, b.id, WW, k, value)
                for r in readers.get((k, version), ()):
                    graph.add(r.id, b.id, RW, k, value)
        deadline.check()
