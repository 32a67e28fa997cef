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

from checkers.txn.transactions import Txn

Anomalies = dict[str, list[dict[str, Any]]]
Note = Callable[[str, list[int], str], None]


def _frozen(value: Any) -> Any:
    return tuple(value or ()) if isinstance(value, list) or value is None else value


def future_reads(ok: list[Txn], write: str, note: Note) -> None:
    for t in ok:
        read_seen: dict[tuple[Any, Any], int] = {}
        for i, (f, k, v) in enumerate(t.mops):
            if f == "r":
                for x in (v or []) if write == "append" else ([] if v is None else [v]):
                    read_seen.setdefault((k, x), i)
            elif f == write and (k, v) in read_seen:
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


def list_order_anomalies(txns: list[Txn], note: Note) -> None:
    """dirty-update and own-order, against each key's longest ok read."""
    writer: dict[tuple[Any, Any], Txn] = {}
    appends: dict[Any, dict[int, list[Any]]] = {}  # key -> txn id -> its appends, in its order
    for t in txns:
        for f, k, v in t.mops:
            if f == "append":
                writer.setdefault((k, v), t)
                appends.setdefault(k, {}).setdefault(t.id, []).append(v)
    longest: dict[Any, list] = {}
    for t in txns:
        if t.outcome == "ok":
            for f, k, v in t.mops:
                if f == "r" and len(v or []) > len(longest.get(k, [])):
                    longest[k] = list(v)
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
        position = {v: i for i, v in enumerate(order)}
        for tid, values in appends.get(k, {}).items():
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

    ok = [t for t in txns if t.outcome == "ok"]
    future_reads(ok, write, note)
    lost_updates(ok, write, note)
    if write == "append":
        list_order_anomalies(txns, note)
    return found
