"""Operations and histories: the record every other part of faultline reads or writes.

The fields follow Jepsen so its histories and tooling map over: `index`, `time` (ns since the
test started), `type` (invoke/ok/fail/info), `process` (an int, or "nemesis"), `f`, `value`,
and optionally `node` and `error`. Any other field a history carries (Porcupine's `key`, say)
is kept in `extra`.

The journal is JSON Lines, one op a line, flushed as each op is appended: a controller killed
with SIGKILL loses no op it had recorded. Readers take JSONL, a JSON array of ops (as Porcupine
and other tools write them) or Jepsen EDN, check the history's shape (`history_check`), and name
the file and line of anything malformed; a journal's torn last line is skipped with a warning.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading

import orjson
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

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


class JournalError(Exception):
    """The journal could not be written, most often because the disk is full.

    The run must stop: an op it went on with would be recorded only in memory. The message names
    the file and the system's reason ("no space left on device writing store/.../history.jsonl")
    and how many ops the file holds whole; the ops after them are still in `HistoryWriter.ops`.
    (Not a HarnessError: seams.py imports this module. The runner turns it into one.)
    """

    def __init__(self, path: Path, error: OSError, on_disk: int):
        reason = error.strerror or str(error)
        code = errno.errorcode.get(error.errno or 0)
        super().__init__(f"{reason[:1].lower()}{reason[1:]} writing {path}{f' ({code})' if code else ''}; "
                         f"the file holds the first {on_disk} ops whole")
        self.path, self.errno, self.on_disk = Path(path), error.errno, on_disk


class HistoryWriter:
    """Appends ops to a JSON Lines journal, numbering them.

    With `flush_each=True` (the default) every op is handed to the OS as it is appended. The
    runner passes False and calls `flush()` itself each time its loop turns (before it waits for
    anything), which costs far fewer system calls and, with them, fewer hand-overs of the GIL to
    worker threads: a completion is on disk before the runner acts on anything after it. Either
    way a controller killed with SIGKILL loses no op it had acted on.

    A write that fails (a full disk) raises `JournalError` and ends the journal: the file is cut
    back to its last whole line, so every line in it stays readable, and from then on `append`
    and `flush` raise the same error at once, so no thread goes on as if its op were recorded.
    Every op appended, before or after, stays in `ops`, for the run to check what it saw.
    The buffering is done here, not by `open`, to know exactly which bytes reached the file.

    Safe to call from several threads; `append` returns the op with its index set.
    """

    BUFFER_LIMIT = 1 << 20  # bytes kept before a write even without a flush

    def __init__(self, path: Path, flush_each: bool = True):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._flush_each = flush_each
        self._next_index = 0
        self.ops: list[Op] = []
        self.failure: JournalError | None = None
        self._pending = bytearray()  # whole lines not yet handed to the OS
        self._pending_ops = 0
        self._on_disk = 0  # ops whose lines are whole in the file
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab", buffering=0)
            self._size = os.fstat(self._file.fileno()).st_size
        except OSError as e:
            raise JournalError(self.path, e, 0) from None

    def append(self, op: Op) -> Op:
        with self._lock:
            op.index = self._next_index
            self._next_index += 1
            self.ops.append(op)
            if self.failure is not None:
                raise self.failure
            self._pending += encode_op(op)
            self._pending_ops += 1
            if self._flush_each or len(self._pending) >= self.BUFFER_LIMIT:
                self._write_pending()
            return op

    def flush(self) -> None:
        """Hand every appended op to the OS; raises JournalError if the journal has failed."""
        with self._lock:
            if self.failure is not None:
                raise self.failure
            if self._pending and not self._file.closed:
                self._write_pending()

    def close(self) -> None:
        """Flush and close. Never raises: a failure of the last flush is kept in `failure`,
        which the owner checks (a close in a `finally` must not hide the error being raised)."""
        with self._lock:
            if self._file.closed:
                return
            try:
                if self.failure is None and self._pending:
                    self._write_pending()
            except JournalError:
                pass
            finally:
                try:
                    self._file.close()
                except OSError:
                    pass

    def _write_pending(self) -> None:
        """Write the pending lines (caller holds the lock); on failure cut the file back to
        its last whole line and end the journal."""
        done = 0
        with memoryview(self._pending) as view:
            try:
                while done < len(view):
                    done += self._file.write(view[done:])
            except OSError as e:
                whole = self._pending.rfind(b"\n", 0, done) + 1
                self._on_disk += self._pending.count(b"\n", 0, whole)
                self._cut_to(self._size + whole)
                self.failure = JournalError(self.path, e, self._on_disk)
        self._pending.clear()
        written, self._pending_ops = self._pending_ops, 0
        if self.failure is not None:
            raise self.failure
        self._size += done
        self._on_disk += written

    def _cut_to(self, size: int) -> None:
        # A torn line helps no reader; cutting it frees space, so it works on a full disk too.
        try:
            os.ftruncate(self._file.fileno(), size)
        except OSError:
            pass

    def __enter__(self) -> "HistoryWriter":
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.close()
        if self.failure is not None and exc_type is None:
            raise self.failure


_ORJSON_OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS


def encode_op(op: Op) -> bytes:
    """One journal line. orjson, because encoding is most of the runner's cost per op."""
    return orjson.dumps(op.to_dict(), default=_json_fallback, option=_ORJSON_OPTIONS)


def _json_fallback(value: Any) -> Any:
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


_JSON_START = re.compile(r'\s*\{\s*("|\}|$)')
_JSON_ARRAY_START = re.compile(r'\s*\[\s*(\{\s*("|\})|\]\s*$)')
_BOM = b"\xef\xbb\xbf"
# Nesting deeper than this is no history, and would exhaust the recursion of checkers that walk
# values; integers must fit in 64 bits, as in Jepsen (a Clojure long) and orjson.
MAX_DEPTH = edn.MAX_DEPTH
_INT_LIMITS = (-(1 << 63), 1 << 64)
_LONG_NUMBER = re.compile(r"\d{20}")


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


def read_history(path: Path | str, allow_empty: bool = False) -> History:
    """Read a history: JSON Lines, a JSON array of ops (Porcupine and others write these), or
    Jepsen EDN (a vector of maps, or one map a line); a UTF-8 byte order mark is skipped.

    The format is told by the content, not the name: a first line starting with `{"` is JSON.
    The ops' shape is checked (`history_check`). A JSON Lines journal whose last line is cut
    short (a crash or a full disk) is read without that line, with a warning in
    `History.warnings`; a malformed line anywhere else is an error. A history with no ops is an
    error ("empty history") unless `allow_empty` (a report of a run stopped before its first op).
    Raises HistoryError naming the file and line of the first problem.
    """
    from harness.history_check import check_shape

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HistoryError(path, None, f"cannot read: {e.strerror or e}") from None
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    text, torn = _decode(path, data)
    warnings: list[str] = []
    if _JSON_START.match(text):
        ops, lines = _read_jsonl(path, text, torn, warnings)
        find_lines = lambda: lines  # noqa: E731
    elif torn is not None:
        raise HistoryError(path, torn, "not valid UTF-8")
    elif _JSON_ARRAY_START.match(text):
        ops, lines = _read_json_array(path, text)
        find_lines = lambda: lines  # noqa: E731
    else:
        ops, find_lines = _read_edn(path, text)
    if not ops and not allow_empty:
        raise HistoryError(path, None, "empty history: no ops to check")
    history = History(ops, path, find_lines, warnings)
    check_shape(path, history, history.line_of)
    return history


def _decode(path: Path, data: bytes) -> tuple[str, int | None]:
    """The text, and the line number of a last line that is not UTF-8 and has no newline (cut
    inside a character), which is then left out of the text."""
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        cut = data.rfind(b"\n") + 1
        if e.start < cut:
            raise HistoryError(path, line, f"not valid UTF-8 (byte {data[e.start]:#04x})") from None
    try:
        return data[:cut].decode("utf-8"), line
    except UnicodeDecodeError as e:
        raise HistoryError(path, data.count(b"\n", 0, e.start) + 1, "not valid UTF-8") from None


class _TooLong(ValueError):
    pass


def _parse_int(digits: str) -> int:
    if len(digits) > 20:
        raise _TooLong(f"number too long ({len(digits.lstrip('-'))} digits); integers must fit in 64 bits")
    number = int(digits)
    if not _INT_LIMITS[0] <= number < _INT_LIMITS[1]:
        raise _TooLong(f"number too long ({number}); integers must fit in 64 bits")
    return number


def _slow_json(path: Path, number: int, line: str) -> Any:
    """Decode a line orjson refused, with a message naming the line if it cannot be."""
    try:
        decoded = json.loads(line, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        raise HistoryError(path, number + e.lineno - 1, f"not valid JSON ({e.msg} at column {e.colno})") from None
    except _TooLong as e:
        raise HistoryError(path, number, str(e)) from None
    except RecursionError:
        raise HistoryError(path, number, f"nested too deep (more than {MAX_DEPTH} levels)") from None
    _check_depth(path, number, line, decoded)
    return decoded


def _check_depth(path: Path, number: int, text: str, decoded: Any) -> None:
    """Refuse values nested more than MAX_DEPTH deep. Counting brackets is cheap and nearly
    always settles it; only a line with many is walked."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    level = [(decoded, 1)]
    while level:
        value, depth = level.pop()
        if depth > MAX_DEPTH:
            raise HistoryError(path, number, f"nested too deep (more than {MAX_DEPTH} levels)")
        if isinstance(value, dict):
            level.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            level.extend((v, depth + 1) for v in value)


def _read_jsonl(path: Path, text: str, torn: int | None, warnings: list[str]) -> tuple[list[Op], list[int | None]]:
    ops: list[Op] = []
    lines: list[int | None] = []
    from_dict, loads = Op.from_dict, orjson.loads
    rows = text.split("\n")  # not splitlines(): U+2028 and friends may sit inside a JSON string
    last = len(rows) if torn is None and rows[-1] else None  # a last line with no newline after it
    long_number = _LONG_NUMBER.search
    for number, line in enumerate(rows, start=1):
        try:
            if long_number(line):
                raise ValueError  # orjson reads integers beyond 64 bits as floats: ask json
            decoded = loads(line)
            if line.count("[") + line.count("{") > MAX_DEPTH:
                _check_depth(path, number, line, decoded)
            ops.append(from_dict(decoded))
            lines.append(number)
            continue
        except HistoryError:
            raise
        except ValueError:
            if not line.strip():
                continue
        # The slow way, for what orjson refuses (NaN, huge integers) and for clear messages.
        try:
            decoded = _slow_json(path, number, line)
        except HistoryError:
            if number == last:
                warnings.append(_torn_warning(path, number))
                break
            raise
        try:
            ops.append(from_dict(decoded))
        except ValueError as e:
            raise HistoryError(path, number, str(e)) from None
        lines.append(number)
    if torn is not None:
        warnings.append(_torn_warning(path, torn))
    return ops, lines


def _torn_warning(path: Path, line: int) -> str:
    return f"{path}:{line}: last line is incomplete (a crash or a full disk cut it); ignored"


def _read_json_array(path: Path, text: str) -> tuple[list[Op], list[int | None]]:
    """A JSON array of op objects, read item by item so each op's line is known."""
    decoder = json.JSONDecoder(parse_int=_parse_int)
    ops: list[Op] = []
    lines: list[int | None] = []
    pos = text.index("[") + 1
    line, counted = 1, 0
    space = re.compile(r"[\s,]*")
    while True:
        pos = space.match(text, pos).end()  # type: ignore[union-attr]
        line += text.count("\n", counted, pos)
        counted = pos
        if text.startswith("]", pos):
            break
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise HistoryError(path, e.lineno, f"not valid JSON ({e.msg} at column {e.colno})") from None
        except _TooLong as e:
            raise HistoryError(path, line, str(e)) from None
        except RecursionError:
            raise HistoryError(path, line, f"nested too deep (more than {MAX_DEPTH} levels)") from None
        _check_depth(path, line, text[pos:end], item)
        try:
            ops.append(Op.from_dict(item))
        except ValueError as e:
            raise HistoryError(path, line, str(e)) from None
        lines.append(line)
        pos = end
    rest = text[pos + 1:]
    if rest.strip():
        where = line + text.count("\n", pos, pos + 1 + len(rest) - len(rest.lstrip()))
        raise HistoryError(path, where, "unexpected text after the JSON array")
    return ops, lines


def _read_edn(path: Path, text: str) -> tuple[list[Op], Callable[[], list[int | None]]]:
    def lines() -> list[int | None]:
        return [line for line, _ in edn.records(text)]

    fast = edn.fast_records(text)
    if fast is not None:
        try:
            return [Op.from_dict(item) for item in fast], lines
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
    found = [line for line, _ in items]
    return ops, lambda: found


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
