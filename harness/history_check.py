"""The shape of a history, checked once as it is read, so no checker meets a history that
cannot be one.

What every op must be: its `type` one of invoke/ok/fail/info (checked as each op is built),
its `process` an integer (a client) or a name (the nemesis, or no process at all, as in Elle's
paper example), its `f` and `node` names when present, its `time` and `index`, when present,
integers from 0 to 2**63-1 (not true/false). What the ops must be together:

- indices: every op has one or none does (then each gets its position in the file), and
  they increase down the file, so no two ops share one;
- a completion's time is not before its invocation's. (Times of unrelated ops may step back a
  little down the file: Jepsen takes an op's time before it takes the history's lock, and real
  histories show it. Checkers order ops by their place in the file, not by time.)
- each client completion closes an open invocation of its process with the same `f`, and a
  client process has at most one invocation open at a time. Named processes (the nemesis) are
  left alone: Jepsen's nemesis logs lone `info` events, and no checker judges them.

The first problem raises HistoryError naming the file and the line of the op.

Checkers rely on more than this (a set's final read is a collection, a cas value is
[expected, new]); each checks the values it uses and raises `BadOp`, which names the op, so
its message can name the op's line too (`History.locate`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from harness.history import HistoryError

INVOKE = "invoke"
_LIMIT = 1 << 63  # times, indices and process numbers are 64-bit, as in Jepsen and our journal


def _count(value: Any) -> bool:
    """An integer that is not a bool."""
    return type(value) is int


def check_shape(path: Path, ops: Sequence[Any], line_of: Callable[[int], int | None]) -> None:
    """Raise HistoryError at the first op of `ops` (read from `path`) that breaks the rules
    above; `line_of(position)` gives the file line of the op at that position. Fills in
    missing indices when no op has one."""
    if not ops:
        return
    has_index = ops[0].index is not None
    last_index = -1
    open_calls: dict[Any, int] = {}  # process -> position of its open invocation

    def fail(pos: int, reason: str) -> None:
        raise HistoryError(path, line_of(pos), reason)

    def line_text(pos: int) -> str:
        line = line_of(pos)
        return f"line {line}" if line is not None else f"op {pos}"

    for pos, op in enumerate(ops):
        process = op.process
        if process is not None and not _count(process) and not isinstance(process, str):
            fail(pos, f"op process must be an integer or a name, found {process!r}")
        if _count(process) and not 0 <= process < _LIMIT:
            fail(pos, f"op process must be from 0 to 2**63-1, found {process}")
        if op.f is not None and not isinstance(op.f, str):
            fail(pos, f"op f must be a name, found {op.f!r}")
        if op.node is not None and not isinstance(op.node, str):
            fail(pos, f"op node must be a name, found {op.node!r}")
        time = op.time
        if time is not None:
            if not _count(time) or not 0 <= time < _LIMIT:
                fail(pos, f"op time must be an integer of nanoseconds, from 0 to 2**63-1, found {time!r}")
        index = op.index
        if (index is not None) != has_index:
            fail(pos, "this op has no index though the ops before it have one" if has_index
                 else "this op has an index though the ops before it have none")
        if index is not None:
            if not _count(index) or not 0 <= index < _LIMIT:
                fail(pos, f"op index must be an integer, from 0 to 2**63-1, found {index!r}")
            if index <= last_index:
                what = "appears twice" if index == last_index else f"is not above the previous op's index {last_index}"
                fail(pos, f"index {index} {what}: indices must increase down the file")
            last_index = index
        if not _count(process):
            continue  # the nemesis: its events are shown, not checked, and may overlap
        opened = open_calls.get(process)
        if op.type == INVOKE:
            if opened is not None:
                fail(pos, f"process {process!r} invokes again while its invocation at {line_text(opened)} is still open")
            open_calls[process] = pos
        elif opened is not None:
            invoke = ops[opened]
            if invoke.f != op.f:
                fail(pos, f"this {op.type} of f {op.f!r} completes process {process!r}'s invocation of "
                          f"f {invoke.f!r} at {line_text(opened)}")
            if time is not None and invoke.time is not None and time < invoke.time:
                fail(pos, f"time goes backwards: this {op.type} at {time} completes an invocation at "
                          f"{invoke.time} ({line_text(opened)})")
            del open_calls[process]
        else:
            fail(pos, f"a completion ({op.type}) of process {process} with no open invocation")
    if not has_index:
        for pos, op in enumerate(ops):
            op.index = pos
