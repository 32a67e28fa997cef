"""Reading history files: JSON Lines (the journal), a JSON array of ops (as Porcupine and other
tools write them) or Jepsen EDN. The shape of the ops is checked (`harness.history_check`) and
anything malformed is named by file and line; a journal's torn last line, which a crash or a
full disk leaves, is skipped with a warning."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Callable

import orjson

from harness import edn
from harness.history import History, HistoryError, Op
from harness.history_check import check_shape


_JSON_START = re.compile(r'\s*\{\s*("|\}|$)')
_JSON_ARRAY_START = re.compile(r'\s*\[\s*(\{\s*("|\})|\]\s*$)')
_BOM = b"\xef\xbb\xbf"
# Nesting deeper than this is no history, and would exhaust the recursion of checkers that walk
# values; integers must fit in 64 bits, as in Jepsen (a Clojure long) and orjson.
MAX_DEPTH = edn.MAX_DEPTH
_INT_LIMITS = (-(1 << 63), 1 << 64)
_LONG_NUMBER = re.compile(r"\d{20}")


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
