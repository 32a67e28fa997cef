"""list-append: version orders from reads, non-cycle anomalies, and ww / wr / rw edges.

Each key's version order is its longest read; every other read must be a prefix of it
(else `incompatible-order`). Appends are unique per key, so a value names its writer."""

from __future__ import annotations

from typing import Any

from checkers.txn.graph import RW, WR, WW, Deadline, Edges
from checkers.txn.transactions import Txn, repeats_a_key

Anomalies = dict[str, list[dict[str, Any]]]


_EMPTY: list = []


def _read_list(v: Any) -> list:
    # the history's own list, not a copy (never changed here); null is the empty list
    return v if type(v) is list else list(v or _EMPTY)


def _reads(txn: Txn, repeats: bool) -> list[tuple[Any, list, list]]:
    """The reads of an ok txn: (key, external part, whole read), the external part being the
    read with the txn's own earlier appends to that key taken off its tail (what it saw of
    others)."""
    if not repeats:  # no own appends precede a read: the common case, both parts are one list
        out = []
        for f, k, v in txn.mops:
            if f == "r":
                whole = _read_list(v)
                out.append((k, whole, whole))
        return out
    own: dict[Any, list] = {}
    out = []
    for f, k, v in txn.mops:
        if f == "append":
            own.setdefault(k, []).append(v)
        elif f == "r":
            whole = seen = _read_list(v)
            mine = own.get(k)
            if mine and seen[-len(mine):] == mine:
                seen = seen[:-len(mine)]
            out.append((k, seen, whole))
    return out


def analyse(txns: list[Txn], graph: Edges, deadline: Deadline) -> Anomalies:
    """Fill `graph` with the data edges among ok txns (node ids are txn ids); return the
    non-cycle anomalies found, each a list of {"txns": [...], "why": sentence}.

    Speed: one pass over every txn's micro-ops, external reads computed once per txn, and a
    read that is a prefix of a list already found clean for its key is not looked at element
    by element again (reads mostly repeat a key's prefix, so this is most of the work saved)."""
    found: Anomalies = {}

    def note(name: str, txn_ids: list[int], why: str) -> None:
        found.setdefault(name, []).append({"txns": txn_ids, "why": why})

    writer: dict[Any, dict[Any, Txn]] = {}  # key -> value -> the txn that appended it
    last_append: dict[tuple[int, Any], Any] = {}  # (txn, key) -> its final append to key
    for t in txns:
        if t.id & 8191 == 0:
            deadline.check()
        for f, k, v in t.mops:
            if f == "append":
                wk = writer.get(k)
                if wk is None:
                    wk = writer[k] = {}
                elif v in wk:
                    note("duplicate-appends", [wk[v].id, t.id], f"value {v!r} was appended to key {k!r} twice")
                wk[v] = t
                last_append[(t.id, k)] = v
    # Version orders come from whole reads (a txn's own appends at the end are versions too);
    # wr edges from the external part (the writer of the last value a txn saw of others).
    longest: dict[Any, list] = {}
    clean: dict[Any, list] = {}  # key -> the longest read found free of garbage, G1a, duplicates
    ok = [t for t in txns if t.outcome == "ok"]
    reads_of: list[list[tuple[Any, list, list]]] = []
    no_writes: dict[Any, Txn] = {}
    for t in ok:
        if t.id & 4095 == 0:
            deadline.check()
        repeats = repeats_a_key(t)
        if repeats:
            _internal(t, note)
        reads = _reads(t, repeats)
        reads_of.append(reads)
        for k, seen, whole in reads:
            if not whole:
                if k not in longest:
                    longest[k] = whole
                continue
            wk = writer.get(k, no_writes)
            good = clean.get(k)
            if good is None or len(whole) > len(good) or good[:len(whole)] != whole:
                # duplicates on the whole read (its own appends count too); garbage and G1a
                # on what it saw of others
                if len(set(whole)) != len(whole):
                    note("duplicate-elements", [t.id], f"T{t.index} read key {k!r} as {whole!r}, with a value twice")
                    spotless = False
                else:
                    spotless = True
                for v in seen:
                    w = wk.get(v)
                    if w is None:
                        note("garbage", [t.id], f"T{t.index} read {v!r} in key {k!r}, which nobody appended")
                        spotless = False
                    elif w.outcome == "fail":
                        note("G1a", [w.id, t.id], f"T{t.index} read {v!r} in key {k!r}, appended by T{w.index}, which failed")
                        spotless = False
                if spotless and whole is not seen:  # only a clean whole list may stand for its prefixes
                    spotless = all(v in wk and wk[v].outcome != "fail" for v in whole[len(seen):])
                if spotless and (good is None or len(whole) > len(good)):
                    clean[k] = whole
            if seen:
                w = wk.get(seen[-1])
                if w is not None and w.id != t.id and w.outcome != "fail" and last_append.get((w.id, k)) != seen[-1]:
                    note("G1b", [w.id, t.id], f"T{t.index} read key {k!r} ending in {seen[-1]!r}, an intermediate "
                                               f"append of T{w.index}, which appended {last_append[(w.id, k)]!r} later")
            best = longest.get(k)
            if best is None or len(whole) > len(best):
                longest[k] = whole
    deadline.check()
    # every read must be a prefix of the longest
    for n, (t, reads) in enumerate(zip(ok, reads_of)):
        if n & 8191 == 0:
            deadline.check()
        for k, seen, whole in reads:
            best = longest[k]
            if len(whole) > len(best) or best[:len(whole)] != whole:
                note("incompatible-order", [t.id], f"key {k!r}: T{t.index} read {whole!r}, not a prefix of {best!r}")

    # Edges. A txn that completed info may have committed: when a read saw one of its appends
    # it did (as Elle assumes), so it is a node like an ok txn; when none was seen, it gets
    # only incoming edges (its reads are unknown, it has no completion to order it before
    # others, its process retired), so it can close no cycle.
    def live(w: Txn | None) -> bool:
        return w is not None and w.outcome != "fail"

    deadline.check()
    for n, (k, order) in enumerate(longest.items()):
        if n & 8191 == 0:
            deadline.check()
        wk = writer.get(k, no_writes)
        for i in range(1, len(order)):
            a, b = wk.get(order[i - 1]), wk.get(order[i])
            if live(a) and live(b):
                graph.add(a.id, b.id, WW, k, order[i])
    # an append no read saw is still in the key's final list, so after all of the longest
    # read: it follows that read's last writer, and every read of the whole longest list
    # missed it
    unseen: dict[Any, list[tuple[Txn, Any]]] = {}
    observed = {k: set(order) for k, order in longest.items()}
    deadline.check()
    for t in txns:
        if t.id & 8191 == 0:
            deadline.check()
        if t.outcome == "fail":
            continue
        for f, k, v in t.mops:
            if f == "append" and k in observed and v not in observed[k] and writer[k][v] is t:
                unseen.setdefault(k, []).append((t, v))
    for k, ws in unseen.items():
        best = longest[k]
        last = writer[k].get(best[-1]) if best else None
        for w, v in ws:
            if live(last):
                graph.add(last.id, w.id, WW, k, v)
    deadline.check()
    for n, (t, reads) in enumerate(zip(ok, reads_of)):
        if n & 8191 == 0:
            deadline.check()
        for k, seen, whole in reads:
            best = longest[k]
            if len(whole) == len(best) and whole == best:
                for w, v in unseen.get(k, ()):
                    graph.add(t.id, w.id, RW, k, v)
            wk = writer.get(k, no_writes)
            if seen:
                w = wk.get(seen[-1])
                if live(w):
                    graph.add(w.id, t.id, WR, k, seen[-1])
            if len(best) > len(whole) and best[:len(whole)] == whole:
                w = wk.get(best[len(whole)])
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
            want = expect.get(k)
            if want is not None and seen != want:
                note("internal", [t.id], f"T{t.index} read key {k!r} as {seen!r}, but its own earlier ops imply {want!r}")
            elif want is None and own.get(k) and seen[-len(own[k]):] != own[k]:
                note("internal", [t.id], f"T{t.index} read key {k!r} as {seen!r}, without its own appends {own[k]!r} at the end")
            expect[k] = seen
