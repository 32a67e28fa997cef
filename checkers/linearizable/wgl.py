"""Wing-Gong-Lowe search with Lowe's cache, over one partition.

The invocations and completions of a partition form a doubly linked list in history order. The
search walks it: at an invocation it tries to apply that op to the model now ("just in time"); if
the model allows it and the pair (set of ops linearized, new state) was never reached before, the
op and its completion are unlinked and the walk restarts from the head. Reaching a completion
means the op it closes should already have been placed: undo the last choice and try the next
candidate. The cache of (linearized set, state) pairs is what keeps this from being exponential
on real histories: two orders that linearize the same ops into the same state are one.

Indeterminate ops have their completion after the end of the history and need not be placed:
the search succeeds once every determinate op is placed.

Two implementations give identical answers: `search_python` below, and the C accelerator
`_wglc` (same algorithm; the model stays in Python and is asked once per distinct (state, op)
step, except kv, which the C search has built in). `Search` picks C when it is built.
"""

from __future__ import annotations

import os
import time
from array import array
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from . import models
from .models import Model
from .prepare import Entry

try:
    from . import _wglc  # type: ignore[attr-defined]
except ImportError:  # not built: the pure-Python search gives the same answers
    _wglc = None

VALID, INVALID, OUT_OF_TIME, OUT_OF_MEMORY, CANCELLED = "valid", "invalid", "time", "memory", "cancelled"
OUT_OF_STEPS = "steps"  # the step allowance ran out; the caller may search again with more

_PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    """This process's resident set size."""
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * _PAGE


def accelerated() -> bool:
    """Whether the C search is built."""
    return _wglc is not None


@dataclass
class Budget:
    """When a search must give up: a monotonic deadline, a resident-size ceiling, a cancel flag,
    a number of steps."""

    deadline: float | None = None
    memory_limit: int | None = None
    cancelled: Callable[[], bool] | None = None
    max_steps: int | None = None


@dataclass
class SearchResult:
    status: str
    best: list[int] = field(default_factory=list)  # entries of the longest linearization found
    best_states: list[Any] = field(default_factory=list)  # model state after each of them
    failed: int | None = None  # entry whose completion stopped that longest linearization
    steps: int = 0
    cache_entries: int = 0
    determinate: int = 0


def search(entries: list[Entry], events: list[int], model: Model, budget: Budget, *, use_c: bool = True) -> SearchResult:
    """One search to the end (or until the budget runs out)."""
    return Search(entries, events, model, use_c=use_c).run(budget)


class Search:
    """A search that `run` advances; when a run stops for lack of steps (`OUT_OF_STEPS`), the
    next run goes on from there (in C; the pure-Python search starts again with the sum of the
    allowances, which gives the same answers at a higher cost)."""

    def __init__(self, entries: list[Entry], events: list[int], model: Model, *, use_c: bool = True):
        self.entries, self.events, self.model = entries, events, model
        self._c = None
        if use_c and _wglc is not None:
            self._c = start_c([e.op for e in entries], bytes(e.determinate for e in entries), events, model)
        self._allowed = 0

    def run(self, budget: Budget) -> SearchResult:
        if self._c is not None:
            return run_c(self._c, budget)
        if budget.max_steps:
            self._allowed += budget.max_steps
            budget = replace(budget, max_steps=self._allowed)
        return search_python(self.entries, self.events, self.model, budget)


def search_python(entries: list[Entry], events: list[int], model: Model, budget: Budget) -> SearchResult:
    n = len(entries)
    ops = [e.op for e in entries]
    determinate = [e.determinate for e in entries]
    remaining = sum(determinate)
    result = SearchResult(VALID, determinate=remaining)
    if remaining == 0:
        return result

    # Linked list over nodes 1..len(events); node 0 is the head.
    n_nodes = len(events)
    code = [0] + events
    nxt = list(range(1, n_nodes + 2))
    prv = list(range(-1, n_nodes + 1))
    return_node = [0] * n
    for node in range(1, n_nodes + 1):
        if code[node] & 1:
            return_node[code[node] >> 1] = node
    bits = [1 << i for i in range(n)]

    step = model.step
    memo: dict[tuple[Any, int], Any] = {}
    refused = object()
    cache: set[tuple[int, Any]] = set()
    stack: list[tuple[int, Any]] = []  # (invocation node, state before it)
    state = model.init()
    linearized = 0
    best: list[int] = []
    best_states: list[Any] = []
    best_len = 0
    low = 0  # stack[:low] is unchanged since `best` was last copied from it
    failed = None
    watching_failure = True  # the first completion reached after a new best names the culprit
    steps = 0
    deadline, memory_limit, cancelled = budget.deadline, budget.memory_limit, budget.cancelled
    max_steps = budget.max_steps or -1

    node = nxt[0]
    while True:
        steps += 1
        if steps == max_steps:
            result.status = OUT_OF_STEPS
            break
        if not steps & 0xFFF:
            if deadline is not None and time.monotonic() > deadline:
                result.status = OUT_OF_TIME
                break
            # Every 4096 steps: cheap next to the steps themselves in Python.
            if memory_limit is not None and resident_bytes() > memory_limit:
                result.status = OUT_OF_MEMORY
                break
            if cancelled is not None and not steps & 0xFFFF and cancelled():
                result.status = CANCELLED
                break
        c = code[node]
        if not c & 1:  # an invocation: try to linearize it here
            i = c >> 1
            key = (state, i)
            after = memo.get(key)
            if after is None:
                ok, new_state = step(state, ops[i])
                after = memo[key] = new_state if ok else refused
            if after is not refused:
                with_i = linearized | bits[i]
                reached = (with_i, after)
                if reached not in cache:
                    cache.add(reached)
                    stack.append((node, state))
                    state, linearized = after, with_i
                    p, q = prv[node], nxt[node]
                    nxt[p], prv[q] = q, p
                    r = return_node[i]
                    p, q = prv[r], nxt[r]
                    nxt[p], prv[q] = q, p
                    if len(stack) > best_len:
                        depth = len(stack)
                        del best[low:], best_states[low:]
                        for k in range(low, depth):
                            best.append(code[stack[k][0]] >> 1)
                            best_states.append(stack[k + 1][1] if k + 1 < depth else state)
                        best_len = low = depth
                        failed, watching_failure = None, True
                    if determinate[i]:
                        remaining -= 1
                        if remaining == 0:
                            break
                    node = nxt[0]
                    continue
            node = nxt[node]
        else:  # a completion whose op is not placed yet: undo the last choice
            if watching_failure:
                failed, watching_failure = c >> 1, False
            if not stack:
                result.status = INVALID
                break
            node, state = stack.pop()
            if len(stack) < low:
                low = len(stack)
            i = code[node] >> 1
            linearized ^= bits[i]
            if determinate[i]:
                remaining += 1
            r = return_node[i]
            nxt[prv[r]] = r
            prv[nxt[r]] = r
            nxt[prv[node]] = node
            prv[nxt[node]] = node
            node = nxt[node]

    result.best, result.best_states, result.failed = best, best_states, failed
    result.steps, result.cache_entries = steps, len(cache)
    return result


@dataclass
class _CSearch:
    handle: Any
    states: list[Any]
    determinate: int


def start_c_register(values: list[Any], spec: tuple[bytes, bytes, bytes], determinate: bytes,
                     events: list[int]) -> _CSearch:
    """The C search with register / cas-register stepped in C, from `_wglc.split_register`'s
    output: `values` by number (0: None), a kind and two value numbers per op in `spec`."""
    return _CSearch(_wglc.start(events, determinate, spec), values, sum(determinate))


def start_c(ops: list[models.ModelOp], determinate: bytes, events: list[int], model: Model) -> _CSearch:
    """The C search over `ops` (`determinate`: a byte per op), with states numbered here; the
    model is asked once per (state, op)."""
    states: list[Any] = [model.init()]
    numbers: dict[Any, int] = {states[0]: 0}
    step = model.step

    def step_numbered(state_no: int, i: int) -> int:
        ok, new_state = step(states[state_no], ops[i])
        if not ok:
            return -1
        number = numbers.get(new_state)
        if number is None:
            number = numbers[new_state] = len(states)
            states.append(new_state)
        return number

    spec: Any = _kv_spec(ops) if model is models.kv else step_numbered  # C has kv built in
    twins = _twins(ops, determinate, events)
    handle = _wglc.start(events, determinate, spec) if twins is None else _wglc.start(events, determinate, spec, twins)
    return _CSearch(handle, states, sum(determinate))


def _twins(ops: list[models.ModelOp], determinate: bytes, events: list[int]) -> bytes | None:
    """For each crashed op, the last crashed op invoked before it that the model cannot tell
    apart from it (the same f, outcome and value, of the same type: a model's step sees only
    those), as int32s (-1: none); None when no op has one. Such ops are pending from their invocation to the end alike, so the C search
    places them earliest first and never stores each subset of them (30 crashed writes of one
    value: 31 ways, not 2**30)."""
    last: dict[Any, int] = {}
    twin = array("i", [-1]) * len(ops)
    found = False
    for code in events:
        i = code >> 1
        if code & 1 or determinate[i]:
            continue
        op = ops[i]
        try:
            same = (op.f, op.outcome, type(op.value), op.value)
            earlier = last.get(same)
        except TypeError:  # a value that does not hash: no twin
            continue
        if earlier is not None:
            twin[i] = earlier
            found = True
        last[same] = i
    return twin.tobytes() if found else None


def advance_c(search: _CSearch, budget: Budget) -> str:
    """Runs the C search within `budget`; its status only (the lean path needs no more)."""
    time_left = max(budget.deadline - time.monotonic(), 0.0) if budget.deadline is not None else -1.0
    return _wglc.run(search.handle, time_left, budget.memory_limit or 0, budget.cancelled, budget.max_steps or 0)


def run_c(search: _CSearch, budget: Budget) -> SearchResult:
    status = advance_c(search, budget)
    best, best_state_nos, failed, steps, cache_entries = _wglc.result(search.handle)
    states = search.states
    best_states = [states[s] if isinstance(s, int) else s for s in best_state_nos]
    return SearchResult(status, best, best_states, failed, steps, cache_entries, search.determinate)


_KV_KINDS = {"get": 0, "put": 1, "append": 2}


def _kv_spec(ops) -> tuple[bytes, list[bytes]]:
    """The kv ops as the C search's built-in kv model takes them: a kind and a byte string each."""
    kinds = bytes(_KV_KINDS.get(op.f, 3) if isinstance(op.value, str) else 3 for op in ops)
    values = [op.value.encode() if isinstance(op.value, str) else b"" for op in ops]
    return kinds, values
