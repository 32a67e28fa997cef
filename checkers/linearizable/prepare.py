"""From a history to what the search needs: operations split into independent partitions.

Each client invocation is paired with its process's next completion. What the search sees of
an operation depends on that completion:

- `ok`: it took effect between its invocation and its completion (determinate);
- `fail`: it never took effect and is dropped; with `failed_cas="observed"` a failed cas is kept
  as a determinate op that observed a value other than the expected one (Porcupine's etcd model);
- `info`, or no completion: it may take effect at any point after its invocation, or never
  (indeterminate). Its completion event is placed after the end of the history, and the search
  may leave it out. An indeterminate op that only observes (a read) is dropped: it tells nothing.

Partitions (P-compositionality): with `keyed=True` each value is Jepsen's independent tuple
`[key, value]`; otherwise an op carrying Porcupine's `key` field is filed under that key; all
other ops share one partition (key None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.history import BadOp, Op

from .models import Model, ModelOp


@dataclass(slots=True)
class Entry:
    """One operation as the search sees it."""

    invoke: Op
    completion: Op | None
    op: ModelOp
    determinate: bool
    call_pos: int  # position of the invocation in the history
    return_pos: int  # position of the completion; len(history) + n for indeterminate ops


@dataclass(slots=True)
class Partition:
    key: Any
    entries: list[Entry] = field(default_factory=list)

    def events(self) -> list[int]:
        """Invocations and completions in history order, each coded `2 * entry + is_return`."""
        timed = []
        for i, e in enumerate(self.entries):
            timed.append((e.call_pos, 2 * i))
            timed.append((e.return_pos, 2 * i + 1))
        timed.sort()
        return [code for _, code in timed]


def freeze(value: Any) -> Any:
    """Lists become tuples and maps frozensets of items, so values can live in hashable states."""
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return frozenset((k, freeze(v)) for k, v in value.items())
    if isinstance(value, set):
        return frozenset(freeze(v) for v in value)
    return value


_PLAIN = (int, str, type(None), float, bool)  # values that are hashable as they are


class BadHistory(BadOp):
    """The history cannot be checked as asked (the message says which op and why)."""


def partitions(
    history: Sequence[Op], model: Model, *, failed_cas: str = "absent", keyed: bool = False
) -> list[Partition]:
    """Split the client ops of `history` into partitions of entries, in order of first use."""
    calls: list[list] = []  # [invoke, call_pos, completion, return_pos]
    open_calls: dict[int, list] = {}
    for pos, op in enumerate(history):
        process = op.process
        if type(process) is not int:
            continue  # the nemesis and other non-client events
        if op.type == "invoke":
            call = [op, pos, None, None]
            open_calls[process] = call
            calls.append(call)
        else:
            call = open_calls.pop(process, None)
            if call is not None:
                call[2], call[3] = op, pos

    end = len(history)
    by_key: dict[Any, Partition] = {}
    observes_only, shape = model.observes_only, model.shape
    for invoke, call_pos, completion, return_pos in calls:
        outcome = completion.type if completion is not None else "info"
        if outcome == "fail" and not (failed_cas == "observed" and invoke.f == "cas"):
            continue
        determinate = outcome != "info"
        raw = completion.value if outcome == "ok" else invoke.value
        if keyed:
            key, raw = _split_tuple(invoke, raw)
        else:
            key = invoke.extra.get("key") if invoke.extra else None
        mop = ModelOp(invoke.f, raw if type(raw) in _PLAIN else freeze(raw), outcome)
        problem = shape(mop)
        if problem is not None:
            raise BadHistory(completion if outcome == "ok" and completion is not None else invoke, problem)
        if not determinate:
            if observes_only(mop):
                continue
            return_pos = end
            end += 1
        if type(key) not in _PLAIN:
            key = freeze(key)
        part = by_key.get(key)
        if part is None:
            part = by_key[key] = Partition(key)
        part.entries.append(Entry(invoke, completion, mop, determinate, call_pos, return_pos))
    return list(by_key.values())


def _split_tuple(invoke: Op, value: Any) -> tuple[Any, Any]:
    if type(value) is list and len(value) == 2 and type(invoke.value) is list and len(invoke.value) == 2:
        return invoke.value[0], value[1]
    if not isinstance(invoke.value, (list, tuple)) or len(invoke.value) != 2:
        raise BadHistory(invoke, f"with keyed histories every value must be [key, value], found {invoke.value!r}")
    key = invoke.value[0]
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return key, value[1]
    return key, None
