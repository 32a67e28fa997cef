"""Operations and histories: the record every other part of faultline reads or writes.

The fields follow Jepsen so its histories and tooling map over: `index`, `time` (ns since the
test started), `type` (invoke/ok/fail/info), `process` (an int, or "nemesis"), `f`, `value`,
and optionally `node` and `error`. Any other field a history carries (Porcupine's `key`, say)
is kept in `extra`.

Writing the journal is `harness.journal`; reading history files, `harness.history_reader`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"
OP_TYPES = frozenset((INVOKE, OK, FAIL, INFO))
NEMESIS = "nemesis"

_CORE_FIELDS = ("index", "time", "type", "process", "f", "value", "node", "error")
_CORE_SET = frozenset(_CORE_FIELDS)


@dataclass(slots=True)
class Op:
    """One event of a history: the invocation or the completion of an operation."""

    type: str
    f: Any
    value: Any = None
    process: int | str | None = None
    time: int | None = None
    index: int | None = None
    node: str | None = None
    error: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_invoke(self) -> bool:
        return self.type == INVOKE

    @property
    def is_client(self) -> bool:
        """True for ops of client processes (not the nemesis)."""
        return isinstance(self.process, int)

    def complete(self, type: str, value: Any = ..., error: Any = None, **extra: Any) -> "Op":
        """The completion of this invocation: same process and f, the given outcome; the value
        stays the invocation's unless one is given."""
        return Op(
            type=type,
            f=self.f,
            value=self.value if value is ... else value,
            process=self.process,
            node=self.node,
            error=error,
            extra={**self.extra, **extra},
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.index is not None:
            d["index"] = self.index
        if self.time is not None:
            d["time"] = self.time
        d["type"] = self.type
        d["process"] = self.process
        d["f"] = self.f
        d["value"] = self.value
        if self.node is not None:
            d["node"] = self.node
        if self.error is not None:
            d["error"] = self.error
        if self.extra:
            for k, v in self.extra.items():
                d.setdefault(k, v)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Op":
        """Build an op from a decoded JSON or EDN map; raises ValueError naming what is wrong."""
        if not isinstance(d, dict):
            raise ValueError(f"an op must be a map, found {type(d).__name__}")
        op_type = d.get("type")
        if not isinstance(op_type, str) or op_type not in OP_TYPES:
            raise ValueError(f"op type must be one of invoke/ok/fail/info, found {op_type!r}")
        time, index = d.get("time"), d.get("index")
        if time is not None and not isinstance(time, int):
            raise ValueError(f"op time must be an integer of nanoseconds, found {time!r}")
        if index is not None and not isinstance(index, int):
            raise ValueError(f"op index must be an integer, found {index!r}")
        process = d.get("process")
        if isinstance(process, list):
            raise ValueError(f"op process must be an integer or a name, found {process!r}")
        return cls(
            type=op_type,
            f=d.get("f"),
            value=d.get("value"),
            process=process,
            time=time,
            index=index,
            node=d.get("node"),
            error=d.get("error"),
            extra={k: v for k, v in d.items() if k not in _CORE_FIELDS} if not d.keys() <= _CORE_SET else {},
        )


class HistoryError(ValueError):
    """A history that cannot be read; the message names the file and line."""

    def __init__(self, path: Path | str, line: int | None, reason: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {reason}")
        self.path = Path(path)
        self.line = line
        self.reason = reason


class History(list):
    """The ops of a history file: a list, with what the reader learned beside them.

    `warnings` are things the caller should tell the user once (a torn last line that was
    skipped); `locate(op)` names the file and line an op was read from, for messages about it.
    """

    def __init__(self, ops: Iterable[Op], path: Path, lines: Callable[[], list[int | None]], warnings: Sequence[str] = ()):
        super().__init__(ops)
        self.path = path
        self.warnings = list(warnings)
        self._find_lines = lines
        self._lines: list[int | None] | None = None

    def line_of(self, position: int) -> int | None:
        """The file line of the op at `position` in the list, when the reader knows it."""
        if self._lines is None:
            self._lines = self._find_lines()
        return self._lines[position] if 0 <= position < len(self._lines) else None

    def locate(self, op: Op | None) -> str:
        """`path:line` of `op` (found by identity), or the path alone."""
        if op is not None:
            for position, candidate in enumerate(self):
                if candidate is op:
                    line = self.line_of(position)
                    return f"{self.path}:{line}" if line is not None else str(self.path)
        return str(self.path)


class BadOp(ValueError):
    """An op whose value has the wrong shape for a checker: bad input, not a verdict.

    Checkers raise it (judge turns a checker's ValueError into a harness error, exit 3). Given
    the history it came from, when that was read from a file (`History`), the message starts
    with the file and line of the op: "h.jsonl:4: op 3: a read's value must be a list ...".
    """

    def __init__(self, op: Op, reason: str, history: Sequence[Op] | None = None):
        where = f"{history.locate(op)}: " if isinstance(history, History) else ""
        which = f"op {op.index}: " if op.index is not None else ""
        super().__init__(f"{where}{which}{reason}")
        self.op = op
        self.reason = reason

    def at(self, history: Sequence[Op]) -> "BadOp":
        """The same error, its message naming where in `history`'s file the op is."""
        return type(self)(self.op, self.reason, history)


@dataclass(slots=True)
class Call:
    """An invocation and its completion; `completion` is None if it never completed.

    A completion with no open invocation (Jepsen's nemesis often logs lone `info` events) comes
    back as a Call whose invoke and completion are the same op.
    """

    invoke: Op
    completion: Op | None

    @property
    def outcome(self) -> str:
        """ok, fail or info; an op that never completed counts as info (indeterminate)."""
        return self.completion.type if self.completion is not None else INFO


def pair_calls(ops: Sequence[Op]) -> list[Call]:
    """Match each invocation to its process's next completion, in invocation order."""
    calls: list[Call] = []
    open_calls: dict[Any, Call] = {}
    for op in ops:
        if op.type == INVOKE:
            call = Call(op, None)
            open_calls[op.process] = call
            calls.append(call)
        else:
            call = open_calls.pop(op.process, None)
            if call is None:
                calls.append(Call(op, op))
            else:
                call.completion = op
    return calls


def with_indices(ops: list[Op]) -> list[Op]:
    """Give ops without an index their position in the list (EDN corpora often lack one)."""
    for i, op in enumerate(ops):
        if op.index is None:
            op.index = i
    return ops
