"""Operations and histories: the record every other part of faultline reads or writes.

The fields follow Jepsen so its histories and tooling map over: `index`, `time` (ns since the
test started), `type` (invoke/ok/fail/info), `process` (an int, or "nemesis"), `f`, `value`,
and optionally `node` and `error`. Any other field a history carries (Porcupine's `key`, say)
is kept in `extra`.

The journal is JSON Lines, one op a line, flushed as each op is appended: a controller killed
with SIGKILL loses no op it had recorded. Readers take JSONL or Jepsen EDN and name the file and
line of anything malformed.
"""

from __future__ import annotations

import json
import re
import threading

import orjson
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from harness import edn

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
        if op_type not in OP_TYPES:
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


class HistoryWriter:
    """Appends ops to a JSON Lines journal, numbering them.

    With `flush_each=True` (the default) every op is handed to the OS as it is appended. The
    runner passes False and calls `flush()` itself each time its loop turns (before it waits for
    anything), which costs far fewer system calls and, with them, fewer hand-overs of the GIL to
    worker threads: a completion is on disk before the runner acts on anything after it. Either
    way a controller killed with SIGKILL loses no op it had acted on.

    Safe to call from several threads; `append` returns the op with its index set.
    """

    def __init__(self, path: Path, flush_each: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab", buffering=1 << 20)
        self._lock = threading.Lock()
        self._flush_each = flush_each
        self._next_index = 0
        self.ops: list[Op] = []

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = self._next_index
            self._next_index += 1
            self._file.write(encode_op(op))
            if self._flush_each:
                self._file.flush()
            self.ops.append(op)
            return op

    def flush(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode_op(op: Op) -> bytes:
    """One journal line. orjson, because encoding is most of the runner's cost per op."""
    return orjson.dumps(op.to_dict(), default=_json_fallback, option=_ORJSON_OPTIONS)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


_JSON_START = re.compile(r'\s*\{\s*("|\}|$)')


def read_history(path: Path | str) -> list[Op]:
    """Read a history from JSONL or Jepsen EDN (a vector of maps, or one map a line).

    The format is told by the content, not the name: a line starting with `{"` is JSON.
    Raises HistoryError naming the file and line of the first problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryError(path, None, f"cannot read: {e}") from None
    if _JSON_START.match(text):
        return _read_jsonl(path, text)
    return _read_edn(path, text)


def _read_jsonl(path: Path, text: str) -> list[Op]:
    ops = []
    from_dict, loads = Op.from_dict, orjson.loads
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            ops.append(from_dict(loads(line)))
            continue
        except ValueError:
            if not line.strip():
                continue
        # The slow way, for what orjson refuses (NaN, huge integers) and for clear messages.
        try:
            decoded = json.loads(line)
        except json.JSONDecodeError as e:
            raise HistoryError(path, number, f"not valid JSON ({e.msg} at column {e.colno})") from None
        try:
            ops.append(from_dict(decoded))
        except ValueError as e:
            raise HistoryError(path, number, str(e)) from None
    return ops


def _read_edn(path: Path, text: str) -> list[Op]:
    fast = edn.fast_records(text)
    if fast is not None:
        try:
            return [Op.from_dict(item) for item in fast]
        except ValueError:
            pass  # read it again the general way, which names the line
    try:
        items = edn.records(text)
    except edn.EdnError as e:
        raise HistoryError(path, e.line, f"not valid EDN: {e.reason}") from None
    ops = []
    for line, item in items:
        try:
            ops.append(Op.from_dict(item))
        except ValueError as e:
            raise HistoryError(path, line, str(e)) from None
    return ops


def write_history(path: Path, ops: Iterable[Op]) -> None:
    """Write ops as JSON Lines (indices are kept as they are)."""
    with open(path, "wb") as f:
        for op in ops:
            f.write(encode_op(op))


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
