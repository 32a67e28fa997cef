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

`shape(op)` says what is wrong with an op the model cannot take (an `f` it does not know, a cas
value that is not [expected, new]), or None. Such an op is bad input, not a violation: without
it the step would refuse the op in every state and the history would read as not linearizable.
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
    shape: Callable[[ModelOp], str | None] = lambda op: None


def _fs(name: str, *fs: str, values: Callable[[ModelOp], str | None] = lambda op: None) -> Callable[[ModelOp], str | None]:
    """A shape check: `f` is one of `fs`, and the op's value passes `values`."""
    known = ", ".join(fs)

    def shape(op: ModelOp) -> str | None:
        if op.f not in fs:
            return f"f {op.f!r} is not an operation of the {name} model ({known})"
        return values(op)

    return shape


def _scalar(value: Any) -> bool:
    return type(value) in (int, str)


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


def _cas_shape(op: ModelOp) -> str | None:
    if op.f == "cas" and not (isinstance(op.value, tuple) and len(op.value) == 2):
        return f"a cas value must be [expected, new], found {_thaw(op.value)!r}"
    return None


register = Model("register", lambda: None, _register_step, _thaw, _is_read, _fs("register", "read", "write"))
cas_register = Model("cas-register", lambda: None, _cas_register_step, _thaw, _is_read,
                     _fs("cas-register", "read", "write", "cas", values=_cas_shape))


# --- mutex: held or free ---------------------------------------------------------------------


def _mutex_step(held: bool, op: ModelOp) -> tuple[bool, bool]:
    if op.f == "acquire":
        return (not held), True
    if op.f == "release":
        return held, False
    return False, held


mutex = Model("mutex", lambda: False, _mutex_step, lambda held: "held" if held else "free",
              shape=_fs("mutex", "acquire", "release"))


# --- set: add elements, read the whole set -----------------------------------------------------


def _set_step(state: frozenset, op: ModelOp) -> tuple[bool, frozenset]:
    if op.f == "add":
        return True, state | {op.value}
    if op.f == "read":
        return frozenset(op.value or ()) == state, state
    return False, state


def _set_shape(op: ModelOp) -> str | None:
    if op.f == "add" and not _scalar(op.value):
        return f"an added element must be an integer or a string, found {_thaw(op.value)!r}"
    if op.f == "read" and op.value is not None and not (
            isinstance(op.value, (tuple, frozenset)) and all(_scalar(v) for v in op.value)):
        return f"a read's value must be a list of elements, found {_thaw(op.value)!r}"
    return None


set_model = Model("set", frozenset, _set_step, _thaw, _is_read, _fs("set", "add", "read", values=_set_shape))


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


fifo_queue = Model("fifo-queue", tuple, _fifo_step, _thaw, shape=_fs("fifo-queue", "enqueue", "dequeue"))
unordered_queue = Model("unordered-queue", frozenset, _unordered_step, _describe_multiset,
                        shape=_fs("unordered-queue", "enqueue", "dequeue"))


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


def _txn_shape(op: ModelOp) -> str | None:
    if not isinstance(op.value, tuple) or not all(
            isinstance(m, tuple) and len(m) == 3 and m[0] in ("read", "write") for m in op.value):
        return f"a txn value must be a list of [read|write key value], found {_thaw(op.value)!r}"
    return None


def multi_register(initial: dict | None = None) -> Model:
    """The multi-register model, its registers starting at `initial` (default: all None)."""
    start = frozenset((initial or {}).items())
    return Model("multi-register", lambda: start, _multi_step, _describe_multi, _txn_only_reads,
                 _fs("multi-register", "txn", values=_txn_shape))


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


def _kv_shape(op: ModelOp) -> str | None:
    if not isinstance(op.value, str) and not (op.f == "get" and op.outcome != "ok" and op.value is None):
        what = "a get's result" if op.f == "get" else f"a {op.f}'s value"
        return f"{what} must be a string, found {_thaw(op.value)!r}"
    return None


kv = Model("kv", lambda: "", _kv_step, lambda s: s, lambda op: op.f == "get",
           _fs("kv", "get", "put", "append", values=_kv_shape))


MODELS: dict[str, Model] = {
    m.name: m
    for m in (register, cas_register, mutex, set_model, fifo_queue, unordered_queue, multi_register(), kv)
}
