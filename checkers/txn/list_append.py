"""list-append: version orders from reads, non-cycle anomalies, and ww / wr / rw edges.

Each key's version order is its longest read; every other read must be a prefix of it
(else `incompatible-order`). Appends are unique per key, so a value names its writer."""

from __future__ import annotations

from typing import Any

from checkers.txn.graph import RW, WR, WW, Deadline, Graph
from checkers.txn.transactions import Txn

Anomalies = dict[str, list[dict[str, Any]]]


def _reads(txn: Txn) -> list[tuple[Any, list, list]]:
    """The reads of an ok txn: (key, external part, whole read), the external part being the
    read with the txn's own earlier appends to that key taken off its tail (what it saw of
    others)."""
    own: dict[Any, list] = {}
    out = []
    for f, k, v in txn.mops:
        if f == "append":
            own.setdefault(k, []).append(v)
        elif f == "r":
            seen = list(v or [])
            mine = own.get(k, [])
            if mine and seen[-len(mine):] == mine:
                seen = seen[:-len(mine)]
            out.append((k, seen, list(v or [])))
    return out


def analyse(txns: list[Txn], graph: Graph, deadline: Deadline) -> Anomalies:
    """Fill `graph` with the data edges among ok txns (node ids are txn ids); return the
    non-cycle anomalies found, each a list of {"txns": [...], "why": sentence}."""
    found: Anomalies = {}

    def note(name: str, txn_ids: list[int], why: str) -> None:
        found.setdefault(name, []).append({"txns": txn_ids, "why": why})

    writer: dict[tuple[Any, Any], Txn] = {}
    last_append: dict[tuple[int, Any], Any] = {}  # (txn, key) -> its final append to key
    for t in txns:
        for f, k, v in t.mops:
            if f == "append":
                if (k, v) in writer:
                    note("duplicate-appends", [writer[(k, v)].id, t.id], f"value {v!r} was appended to key {k!r} twice")
                writer[(k, v)] = t
                last_append[(t.id, k)] = v
    # Version orders come from whole reads (a txn's own appends at the end are versions too);
    # wr edges from the external part (the writer of the last value a txn saw of others).
    longest: dict[Any, list] = {}
    ok = [t for t in txns if t.outcome == "ok"]
    reads: list[tuple[Txn, Any, list, list]] = []  # (reader, key, external part, whole read)
    for t in ok:
        if t.id & 4095 == 0:
            deadline.check()
        _internal(t, note)
        for k, seen, whole in _reads(t):
            reads.append((t, k, seen, whole))
            for v in seen:
                w = writer.get((k, v))
                if w is None:
                    note("garbage", [t.id], f"T{t.index} read {v!r} in key {k!r}, which nobody appended")
                elif w.outcome == "fail":
                    note("G1a", [w.id, t.id], f"T{t.index} read {v!r} in key {k!r}, appended by T{w.index}, which failed")
            if seen:
                w = writer.get((k, seen[-1]))
                if w is not None and w.id != t.id and w.outcome != "fail" and last_append.get((w.id, k)) != seen[-1]:
                    note("G1b", [w.id, t.id], f"T{t.index} read key {k!r} ending in {seen[-1]!r}, an intermediate "
                                               f"append of T{w.index}, which appended {last_append[(w.id, k)]!r} later")
            best = longest.get(k)
            if best is None or len(whole) > len(best):
                longest[k] = whole
    # every read must be a prefix of the longest
    for t, k, seen, whole in reads:
        best = longest[k]
        if best[:len(whole)] != whole:
            note("incompatible-order", [t.id], f"key {k!r}: T{t.index} read {whole!r}, not a prefix of {best!r}")

    # Edges. A txn that completed info may have committed: when a read saw one of its appends
    # it did (as Elle assumes), so it is a node like an ok txn; when none was seen, it gets
    # only incoming edges (its reads are unknown, it has no completion to order it before
    # others, its process retired), so it can close no cycle.
    def live(w: Txn | None) -> bool:
        return w is not None and w.outcome != "fail"

    for k, order in longest.items():
        for i in range(1, len(order)):
            a, b = writer.get((k, order[i - 1])), writer.get((k, order[i]))
            if live(a) and live(b):
                graph.add(a.id, b.id, WW, k, order[i])
    # an append no read saw is still in the key's final list, so after all of the longest
    # read: it follows that read's last writer, and every read of the whole longest list
    # missed it
    unseen: dict[Any, list[tuple[Txn, Any]]] = {}
    observed = {k: set(order) for k, order in longest.items()}
    for (k, v), w in writer.items():
        if live(w) and k in longest and v not in observed[k]:
            unseen.setdefault(k, []).append((w, v))
    for k, ws in unseen.items():
        best = longest[k]
        last = writer.get((k, best[-1])) if best else None
        for w, v in ws:
            if live(last):
                graph.add(last.id, w.id, WW, k, v)
    deadline.check()
    for t, k, seen, whole in reads:
        if whole == longest[k]:
            for w, v in unseen.get(k, ()):
                graph.add(t.id, w.id, RW, k, v)
        if seen:
            w = writer.get((k, seen[-1]))
            if live(w):
                graph.add(w.id, t.id, WR, k, seen[-1])
        best = longest[k]
        if best[:len(whole)] == whole and len(best) > len(whole):
            w = writer.get((k, best[len(whole)]))
            if live(w):
                graph.add(t.id, w.id, RW, k, best[len(whole)])
    return found


def _internal(t: Txn, note) -> None:
    """A read inconsistent with the txn's own earlier reads and appends of that key."""
    expect: dict[Any, list | None] = {}
    own: dict[Any, list] = {}
    for f, k, v in t.mops:
        if f == "append":
            if expect.get(k) is not None:
                expect[k] = expect[k] + [v]
            own.setdefault(k, []).append(v)
        elif f == "r":
            seen = list(v or [])
            if len(set(seen)) != len(seen):  # the whole read: its own appends count too
                note("duplicate-elements", [t.id], f"T{t.index} read key {k!r} as {seen!r}, with a value twice")
            want = expect.get(k)
            if want is not None and seen != want:
                note("internal", [t.id], f"T{t.index} read key {k!r} as {seen!r}, but its own earlier ops imply {want!r}")
            elif want is None and own.get(k) and seen[-len(own[k]):] != own[k]:
                note("internal", [t.id], f"T{t.index} read key {k!r} as {seen!r}, without its own appends {own[k]!r} at the end")
            expect[k] = seen
