"""Anomalies seen directly in the transactions, without the dependency graph (after Elle):

- `future-read`: a txn read a value it writes only later in itself (Elle: implies G1c);
- `lost-update`: two committed txns read the same version of a key and both then wrote that
  key (Elle: implies G2-item; it also rules out snapshot isolation, whose first-committer-wins
  aborts one of two such txns: both snapshots lack the other's write, so they overlap);
- `dirty-update` (list-append): in a key's version order, a committed append directly follows
  versions of a txn that failed (Elle: implies G1a);
- `own-order` is reported as `incompatible-order` (list-append): a txn's appends to one key
  appear in the version order in another order than it made them."""

from __future__ import annotations

from typing import Any, Callable

from checkers.txn.transactions import Txn, repeats_a_key

Anomalies = dict[str, list[dict[str, Any]]]
Note = Callable[[str, list[int], str], None]


def _frozen(value: Any) -> Any:
    return tuple(value or ()) if isinstance(value, list) or value is None else value


def future_reads(ok: list[Txn], write: str, note: Note) -> None:
    for t in ok:
        mops = t.mops
        for i, (f, k, v) in enumerate(mops):
            if f == write and any(g == "r" and key == k and (v in (read or ()) if write == "append" else read == v)
                                  for g, key, read in mops[:i]):
                note("future-read", [t.id], f"T{t.index} read {v!r} in key {k!r} before it wrote {v!r} itself")


def lost_updates(ok: list[Txn], write: str, note: Note) -> None:
    readers: dict[tuple[Any, Any], list[Txn]] = {}
    for t in ok:
        first_read: dict[Any, Any] = {}
        written: set[Any] = set()
        for f, k, v in t.mops:
            if f == "r":
                first_read.setdefault(k, _frozen(v))
            elif f == write and k not in written:
                written.add(k)
                if k in first_read:
                    readers.setdefault((k, first_read[k]), []).append(t)
    for (k, v), ts in readers.items():
        if len(ts) > 1:
            shown = "the initial state" if v in ((), None) else repr(list(v) if isinstance(v, tuple) else v)
            names = ", ".join(f"T{t.index}" for t in ts)
            note("lost-update", [t.id for t in ts],
                 f"{names} all read key {k!r} as {shown} and then wrote it: all but one update is lost")


def list_order_anomalies(txns: list[Txn], repeating: set[int], note: Note) -> None:
    """dirty-update and own-order, against each key's longest ok read. `repeating`: the ids of
    the txns touching a key twice, the only ones that can reorder their own appends."""
    writer: dict[tuple[Any, Any], Txn] = {}
    appends: dict[Any, dict[int, list[Any]]] = {}  # key -> txn id -> its appends, in its order
    longest: dict[Any, list] = {}
    for t in txns:
        repeats = t.id in repeating
        for f, k, v in t.mops:
            if f == "append":
                if (k, v) not in writer:
                    writer[(k, v)] = t
                if repeats:
                    appends.setdefault(k, {}).setdefault(t.id, []).append(v)
            elif f == "r" and t.outcome == "ok" and v and len(v) > len(longest.get(k, ())):
                longest[k] = v if type(v) is list else list(v)  # the history's own list, not a copy
    for k, order in longest.items():
        failed: list[Any] = []
        for v in order:
            w = writer.get((k, v))
            if w is None:
                continue
            if w.outcome == "fail":
                failed.append(v)
            elif w.outcome == "ok":
                if failed:
                    note("dirty-update", [writer[(k, failed[-1])].id, w.id],
                         f"key {k!r}: T{w.index} appended {v!r} on top of {failed!r}, appended by txns that failed")
                failed = []
        mine_by_txn = {tid: values for tid, values in appends.get(k, {}).items() if len(values) > 1}
        if not mine_by_txn:
            continue
        position = {v: i for i, v in enumerate(order)}
        for tid, values in mine_by_txn.items():
            t = txns[tid]
            mine = [position[v] for v in values if v in position]
            if mine != sorted(mine):
                note("incompatible-order", [t.id],
                     f"key {k!r}: T{t.index} appended {[order[i] for i in sorted(mine)]!r} in another order "
                     f"than the version order {order!r} shows")


def analyse(txns: list[Txn], write: str) -> Anomalies:
    """`write` is the write micro-op's name: "append" (list-append) or "w" (rw-register)."""
    found: Anomalies = {}

    def note(name: str, ids: list[int], why: str) -> None:
        found.setdefault(name, []).append({"txns": ids, "why": why})

    # future-read and lost-update need a txn that reads a key and writes it too
    repeating = [t for t in txns if repeats_a_key(t)]
    both = [t for t in repeating if t.outcome == "ok"]
    future_reads(both, write, note)
    lost_updates(both, write, note)
    if write == "append":
        list_order_anomalies(txns, {t.id for t in repeating}, note)
    return found
