"""Sequential specifications the linearizability search checks histories against.

A model is four plain functions over an immutable, hashable state:

- `init()` -> the state before any operation;
- `step(state, op)` -> `(ok, new_state)`: may `op` happen in `state`, and what state follows;
- `describe(state)` -> something JSON can hold, for the evidence a person reads.

`op` is a `ModelOp`: `f`, `value` (for a completed op the completion's value, so a read carries
what it read; for an indeterminate op the invocation's value) and `outcome` ("ok", "info", or
"fail", the last only for a failed cas read as observed). Values arrive frozen: EDN/JSON lists
are tuples, so they can live in states.

`observes_only(op)` says an op cannot change the state (a read). Such ops that end indeterminate
(`info`, or never completing) are dropped before the search: an unknown read tells nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple


class ModelOp(NamedTuple):
    f: Any
    value: Any
    outcome: str


@dataclass(frozen=True)
class Model:
    name: str
    init: Callable[[], Any]
    step: Callable[[Any, ModelOp], tuple[bool, Any]]
    describe: Callable[[Any], Any] = lambda state: state
    observes_only: Callable[[ModelOp], bool] = lambda op: False


def _thaw(value: Any) -> Any:
    """A frozen value made JSON-friendly again."""
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    if isinstance(value, frozenset):
        return sorted((_thaw(v) for v in value), key=repr)
    return value


def _is_read(op: ModelOp) -> bool:
    return op.f == "read"


# --- register and cas-register: one value; None means never written ---------------------------


def _register_step(state: Any, op: ModelOp) -> tuple[bool, Any]:
    f = op.f
    if f == "write":
        return True, op.value
    if f == "read":
        return op.value == state, state
    return False, state


def _cas_register_step(state: Any, op: ModelOp) -> tuple[bool, Any]:
    f = op.f
    if f == "cas":
        if not isinstance(op.value, tuple) or len(op.value) != 2:
            return False, state  # not [expected, new]: no state allows it
        expected, new = op.value
        if op.outcome == "fail":  # observed a value other than the expected one
            return state != expected, state
        return (True, new) if state == expected else (False, state)
    return _register_step(state, op)


register = Model("register", lambda: None, _register_step, _thaw, _is_read)
cas_register = Model("cas-register", lambda: None, _cas_register_step, _thaw, _is_read)


# --- mutex: held or free ---------------------------------------------------------------------


def _mutex_step(held: bool, op: ModelOp) -> tuple[bool, bool]:
    if op.f == "acquire":
        return (not held), True
    if op.f == "release":
        return held, False
    return False, held


mutex = Model("mutex", lambda: False, _mutex_step, lambda held: "held" if held else "free")


# --- set: add elements, read the whole set -----------------------------------------------------


def _set_step(state: frozenset, op: ModelOp) -> tuple[bool, frozenset]:
    if op.f == "add":
        return True, state | {op.value}
    if op.f == "read":
        return frozenset(op.value or ()) == state, state
    return False, state


set_model = Model("set", frozenset, _set_step, _thaw, _is_read)


# --- queues ------------------------------------------------------------------------------------
# A dequeue that returns None (nil) saw an empty queue.


def _fifo_step(state: tuple, op: ModelOp) -> tuple[bool, tuple]:
    if op.f == "enqueue":
        return True, state + (op.value,)
    if op.f == "dequeue":
        if not state:
            return op.value is None, state
        return (True, state[1:]) if state[0] == op.value else (False, state)
    return False, state


def _unordered_step(state: frozenset, op: ModelOp) -> tuple[bool, frozenset]:
    # A multiset as a frozenset of (value, count) pairs, so it is hashable.
    counts = dict(state)
    if op.f == "enqueue":
        counts[op.value] = counts.get(op.value, 0) + 1
        return True, frozenset(counts.items())
    if op.f == "dequeue":
        if op.value is None:
            return not counts, state
        n = counts.get(op.value, 0)
        if n == 0:
            return False, state
        if n == 1:
            del counts[op.value]
        else:
            counts[op.value] = n - 1
        return True, frozenset(counts.items())
    return False, state


def _describe_multiset(state: frozenset) -> list:
    return sorted((_thaw(v) for v, n in state for _ in range(n)), key=repr)


fifo_queue = Model("fifo-queue", tuple, _fifo_step, _thaw)
unordered_queue = Model("unordered-queue", frozenset, _unordered_step, _describe_multiset)


# --- multi-register: transactions [[read k v] [write k v] ...] ---------------------------------
# A register never written reads as None, unless `multi_register(initial)` gives it a value.


def _multi_step(state: frozenset, op: ModelOp) -> tuple[bool, frozenset]:
    if op.f != "txn":
        return False, state
    regs = dict(state)
    for mop in op.value or ():
        if not isinstance(mop, tuple) or len(mop) != 3:
            return False, state  # not [kind key value]: no state allows it
        kind, key, value = mop
        if kind == "read":
            if regs.get(key) != value:
                return False, state
        elif kind == "write":
            regs[key] = value
        else:
            return False, state
    return True, frozenset(regs.items())


def _describe_multi(state: frozenset) -> dict:
    return {str(k): _thaw(v) for k, v in sorted(state, key=repr)}


def _txn_only_reads(op: ModelOp) -> bool:
    return all(m[0] == "read" for m in op.value or ())


def multi_register(initial: dict | None = None) -> Model:
    """The multi-register model, its registers starting at `initial` (default: all None)."""
    start = frozenset((initial or {}).items())
    return Model("multi-register", lambda: start, _multi_step, _describe_multi, _txn_only_reads)


# --- kv: Porcupine's per-key string store (get / put / append) ---------------------------------


def _kv_step(state: str, op: ModelOp) -> tuple[bool, str]:
    f = op.f
    if f == "get":
        return op.value == state, state
    if f == "put":
        return True, op.value
    if f == "append":
        return True, state + op.value
    return False, state


kv = Model("kv", lambda: "", _kv_step, lambda s: s, lambda op: op.f == "get")


MODELS: dict[str, Model] = {
    m.name: m
    for m in (register, cas_register, mutex, set_model, fifo_queue, unordered_queue, multi_register(), kv)
}
