"""The fast path for read/write registers whose written values are unique: Gibbons and Korach.

When every write puts a distinct value, each read names the write it read from, and
linearizability of a read/write register reduces to a check on intervals (Gibbons & Korach,
"Testing shared memories", 1997) that takes O(n log n) instead of a search:

- a *cluster* is one write and the reads of its value (the initial value None is written by a
  virtual write before everything);
- no read may complete before its write is invoked;
- a cluster's *zone* runs between the earliest completion and the latest invocation among its
  ops: *forward* when the earliest completion comes first (the value must be current over that
  stretch), *backward* otherwise (it must be current at some instant inside it);
- the history is linearizable iff no two forward zones overlap and no backward zone lies wholly
  inside a forward zone.

Indeterminate writes are handled first: one nobody read can be left out (it never took effect,
or took effect at the end); one somebody read did take effect, and its completion is at infinity.

It applies to a partition only where it is sound: register semantics (read/write, or a
cas-register partition with no cas in it) and unique written values. Elsewhere `check` returns
None and the general search decides. With cas, `witness` below guesses a linearization from the
same relation and checks it, which proves validity when it succeeds.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import Any

from .models import Model, ModelOp
from .prepare import Entry

_NEVER = object()


@dataclass
class FastVerdict:
    valid: bool
    reason: str = ""
    culprit: int | None = None  # an entry that the violation involves


def applies(entries: list[Entry]) -> bool:
    written = set()
    for e in entries:
        f = e.op.f
        if f == "write":
            v = e.op.value
            try:
                if v is None or v in written:
                    return False
                written.add(v)
            except TypeError:  # an unhashable value
                return False
        elif f != "read":
            return False
    return True


def check(entries: list[Entry]) -> FastVerdict | None:
    """The verdict for a partition of reads and writes with unique values, or None if the fast
    path does not apply."""
    if not applies(entries):
        return None
    writes: dict[object, int] = {}
    readers: dict[object, list[int]] = {}
    for i, e in enumerate(entries):
        if e.op.f == "write":
            writes[e.op.value] = i
        else:
            readers.setdefault(e.op.value, []).append(i)

    zones_forward: list[tuple[int, int, object]] = []
    zones_backward: list[tuple[int, int, object]] = []
    for value, reads in readers.items():
        if value is None:
            write_call = write_return = -1
        else:
            w = writes.get(value, _NEVER)
            if w is _NEVER:
                return FastVerdict(False, f"a read returned {value!r}, which no operation wrote", reads[0])
            write_call, write_return = entries[w].call_pos, entries[w].return_pos
        for r in reads:
            if entries[r].return_pos < write_call:
                return FastVerdict(False, f"a read of {value!r} completed before the write of {value!r} began", r)
        earliest_return = min(write_return, min(entries[r].return_pos for r in reads))
        latest_call = max(write_call, max(entries[r].call_pos for r in reads))
        if earliest_return < latest_call:
            zones_forward.append((earliest_return, latest_call, value))
        else:
            zones_backward.append((latest_call, earliest_return, value))
    # Writes nobody read: a determinate one still took effect, as a one-op cluster.
    for value, w in writes.items():
        if value not in readers and entries[w].determinate:
            zones_backward.append((entries[w].call_pos, entries[w].return_pos, value))

    zones_forward.sort()
    for (s1, e1, v1), (s2, e2, v2) in zip(zones_forward, zones_forward[1:]):
        if s2 < e1:
            return FastVerdict(
                False, f"the values {v1!r} and {v2!r} would each have to stay current over overlapping stretches",
                writes.get(v2),
            )
    starts = [s for s, _, _ in zones_forward]
    for s, e, value in zones_backward:
        k = bisect_left(starts, s) - 1
        if k >= 0 and zones_forward[k][1] > e:
            inside = zones_forward[k][2]
            return FastVerdict(
                False, f"the value {value!r} had to be current at a moment when only {inside!r} could be",
                writes.get(value),
            )
    return FastVerdict(True)


def drop_unobserved_writes(entries: list[Entry]) -> list[Entry]:
    """Leave out indeterminate writes and cas whose value nobody observed, when that is sound.

    With unique written values, a crashed write of v that no read returned and no cas expected
    changes nothing anyone saw: in any linearization the ops right after it would observe v, and
    none does, so a linearization without it exists as well. Each such op otherwise doubles the
    search (it may land anywhere, or nowhere). Needs unique values and no failed cas read as
    observed (which would see the state the write left); otherwise the entries come back as they
    were.
    """
    written, observed = set(), set()
    for e in entries:
        f, value = e.op.f, e.op.value
        if e.op.outcome == "fail":
            return entries
        try:
            if f == "write":
                new = value
            elif f == "cas" and isinstance(value, tuple) and len(value) == 2:
                observed.add(value[0])
                new = value[1]
            elif f == "read":
                observed.add(value)
                continue
            else:
                return entries
            if new is None or new in written:
                return entries
            written.add(new)
        except TypeError:  # an unhashable value
            return entries
    return [
        e for e in entries
        if e.determinate or (e.op.value if e.op.f == "write" else e.op.value[1]) in observed
    ]


class _Unread:
    """The state of a register holding a value that no read returned and no cas expected."""

    def __repr__(self) -> str:
        return "<unread value>"

    def __reduce__(self) -> str:
        return "UNREAD"  # one object per process, also across pickling


UNREAD = _Unread()


def forget_unread_values(entries: list[Entry], model: Model) -> Model:
    """The register model, with every value that nothing observes made one and the same state.

    A register holding a value that no read returned and no cas expected accepts exactly the
    same futures whatever that value is: no read, no cas, any write. So those states are one
    state, and the search's cache treats the many orders of concurrent writes nobody read as
    the same configuration instead of exploring each (the steep part of a busy single register).
    Sound for any values, unique or not.
    """
    observed = set()
    for e in entries:
        f, value = e.op.f, e.op.value
        try:
            if f == "read":
                observed.add(value)
            elif f == "cas" and isinstance(value, tuple) and len(value) == 2:
                observed.add(value[0])
        except TypeError:  # an unhashable value: leave the model as it is
            return model
    step, describe = model.step, model.describe

    def canonical(state: Any) -> Any:
        try:
            return state if state in observed else UNREAD
        except TypeError:
            return state

    def step_forgetting(state: Any, op: ModelOp) -> tuple[bool, Any]:
        ok, new_state = step(state, op)
        return ok, (canonical(new_state) if ok else new_state)

    def describe_forgetting(state: Any) -> Any:
        return "(a value no read observed)" if state is UNREAD else describe(state)

    return replace(model, init=lambda: canonical(model.init()), step=step_forgetting, describe=describe_forgetting)


def witness(entries: list[Entry]) -> bool:
    """Whether a linearization built from the reads-from relation checks out, for registers with
    cas and unique values (where the interval check above does not apply).

    A successful cas [a b] makes b current straight after a, so the values form chains, each
    started by a write (or the initial value); a chain is current over one stretch of time. The
    chains are placed as Gibbons and Korach place clusters, each laid out value by value (its
    writer, then the reads of it), and the result is checked against real time and the model.
    True means linearizable: the order is a witness. False means only that this guess failed;
    the search decides.
    """
    writer = _writers(entries)
    if writer is None:
        return False
    required = _took_effect(entries, writer)
    chains = _chains(entries, writer, required)
    if chains is None:
        return False
    return _is_linearization(entries, _in_zone_order(entries, chains))


def _writers(entries: list[Entry]) -> dict[Any, int] | None:
    """Which op wrote each value, or None if this is not a register with unique values."""
    writer: dict[Any, int] = {}
    for i, e in enumerate(entries):
        f, value = e.op.f, e.op.value
        if e.op.outcome == "fail" or f not in ("read", "write", "cas"):
            return None
        if f == "read":
            continue
        if f == "cas" and not (isinstance(value, tuple) and len(value) == 2):
            return None
        new = value if f == "write" else value[1]
        try:
            if new is None or new in writer:
                return None
        except TypeError:  # an unhashable value
            return None
        writer[new] = i
    return writer


def _took_effect(entries: list[Entry], writer: dict[Any, int]) -> list[bool]:
    """The determinate ops and, transitively, the writers of what they observed. A crashed op
    nothing depends on is left out: it may never have happened."""
    required = [e.determinate for e in entries]
    pending = [i for i, e in enumerate(entries) if e.determinate]
    while pending:
        op = entries[pending.pop()].op
        observed = op.value if op.f == "read" else op.value[0] if op.f == "cas" else None
        w = writer.get(observed)
        if w is not None and not required[w]:
            required[w] = True
            pending.append(w)
    return required


def _chains(entries: list[Entry], writer: dict[Any, int], required: list[bool]) -> list[list[int]] | None:
    """The required ops as chains of values (writer, then its reads, then the next value's
    writer...), the initial value's chain first; None if some op fits no chain."""
    readers: dict[Any, list[int]] = {}
    successor: dict[Any, Any] = {}
    written: dict[Any, int] = {}
    for i, e in enumerate(entries):
        if not required[i]:
            continue
        f, value = e.op.f, e.op.value
        if f == "read":
            readers.setdefault(value, []).append(i)
            continue
        if f == "cas":
            if value[0] in successor:
                return None  # two cas took the same value over
            successor[value[0]] = value[1]
        written[value if f == "write" else value[1]] = i

    chains, placed = [], 0
    for start in [None] + [v for v, i in written.items() if entries[i].op.f == "write"]:
        ops: list[int] = []
        value, visited = start, set()
        while True:
            if value in visited:
                return None
            visited.add(value)
            if value in written:
                ops.append(written[value])
            ops.extend(sorted(readers.get(value, ()), key=lambda r: entries[r].call_pos))
            if value not in successor:
                break
            value = successor[value]
        placed += len(ops)
        chains.append(ops)
    if placed != sum(required):
        return None  # reads of values never written, or cas in no chain
    return chains


def _in_zone_order(entries: list[Entry], chains: list[list[int]]) -> list[int]:
    """The chains one after another: one whose ops do not all overlap is current over [first
    completion, last invocation] (its forward zone) and goes there; one whose ops all overlap
    goes at its last invocation, or just after a forward zone that holds that instant. The
    initial value's chain (the first) goes first."""
    spans = []
    for ops in chains:
        first_return = min((entries[i].return_pos for i in ops), default=-1)
        last_call = max((entries[i].call_pos for i in ops), default=-1)
        spans.append((first_return, last_call))
    forward = sorted((first, last) for first, last in spans[1:] if first < last)
    forward_starts = [first for first, _ in forward]
    placed = []
    for n, (ops, (first, last)) in enumerate(zip(chains, spans)):
        if n == 0:
            point = -1.0
        elif first < last:
            point = float(first)
        else:
            point = float(last)
            k = bisect_left(forward_starts, last) - 1
            if k >= 0 and forward[k][1] > last:
                point = forward[k][1] + 0.5
        placed.append((point, n, ops))
    placed.sort()
    return [i for _, _, ops in placed for i in ops]


def _is_linearization(entries: list[Entry], order: list[int]) -> bool:
    """Does this order respect real time (nothing before an op that began after it completed)
    and the cas-register model?"""
    latest_call = -1
    state = None
    for i in order:
        e = entries[i]
        if e.return_pos < latest_call:
            return False
        latest_call = max(latest_call, e.call_pos)
        f, value = e.op.f, e.op.value
        if f == "read":
            if value != state:
                return False
        elif f == "write":
            state = value
        elif state != value[0]:
            return False
        else:
            state = value[1]
    return True
