"""A small EDN reader, enough for Jepsen histories.

Jepsen writes histories as EDN: a vector of maps, or one map a line. We read them into plain
Python values: keywords and symbols become strings without the colon (`:read` -> "read"), vectors
and lists become lists, sets become frozensets when their members are hashable, `nil` is None.
A tagged literal (`#object[...]`, `#jepsen.history.Op{...}`) becomes its value, with the tag
kept under "tag" when the value is a map or the value is not a map. Errors say where they are,
as a line number, so a malformed history names its bad line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterator


class EdnError(ValueError):
    """Malformed EDN; `line` is 1-based within the text that was parsed."""

    def __init__(self, message: str, line: int):
        super().__init__(f"line {line}: {message}")
        self.reason = message
        self.line = line


# One alternative per token kind. Whitespace includes commas; comments run to end of line.
_TOKEN = re.compile(
    r"""
    (?P<skip>(?:[\s,]+|;[^\n]*)+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<open>\#\{|[\[{(])
  | (?P<close>[\]})])
  | (?P<discard>\#_)
  | (?P<tag>\#[A-Za-z][^\s,\[\]{}()"]*)
  | (?P<char>\\(?:newline|space|tab|return|u[0-9A-Fa-f]{4}|.))
  | (?P<atom>[^\s,\[\]{}()";]+)
    """,
    re.VERBOSE | re.DOTALL,
)

_INT = re.compile(r"[+-]?\d+N?")
_HEX = re.compile(r"[+-]?0[xX][0-9A-Fa-f]+N?")  # Clojure prints #object[Class 0x1f2e "..."]
_FLOAT = re.compile(r"[+-]?(?:\d+\.\d*|\d*\.\d+|\d+)(?:[eE][+-]?\d+)?M?")
_RATIO = re.compile(r"[+-]?\d+/\d+")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "b": "\b", "f": "\f"}
_CLOSERS = {"[": "]", "(": ")", "{": "}", "#{": "}"}
# Deeper nesting is no history, and would exhaust the recursion of this reader and of checkers
# that walk values. Integers must fit in 64 bits (a Clojure long; bigger ones are no op field).
MAX_DEPTH = 100
_INT_MIN, _INT_END = -(1 << 63), 1 << 64


@dataclass(frozen=True, slots=True)
class _Close:
    char: str
    pos: int


class _Reader:
    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize()
        self.depth = 0

    def line_of(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _tokenize(self) -> Iterator[tuple[str, str, int]]:
        text, pos, end = self.text, 0, len(self.text)
        match = _TOKEN.match
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise EdnError(f"unexpected character {text[pos]!r}", self.line_of(pos))
            kind = m.lastgroup
            if kind != "skip":
                yield kind, m.group(), pos
            pos = m.end()

    def read(self) -> Any:
        """The next value, or raises StopIteration at the end of the text."""
        kind, tok, pos = next(self.tokens)
        return self._value(kind, tok, pos)

    def _value(self, kind: str, tok: str, pos: int) -> Any:
        if kind == "atom":
            return self._atom(tok, pos)
        if kind == "string":
            return _unescape(tok[1:-1])
        if kind == "open":
            return self._collection(tok, pos)
        if kind == "close":
            return _Close(tok, pos)
        if kind == "discard":
            self._must_read(pos)
            return self._must_read(pos)
        if kind == "tag":
            value = self._must_read(pos)
            if isinstance(value, dict):
                return value
            return {"tag": tok[1:], "value": value}
        if kind == "char":
            body = tok[1:]
            if body.startswith("u") and len(body) == 5:
                return chr(int(body[1:], 16))
            return _CHARS.get(body, body)
        raise EdnError(f"unexpected token {tok!r}", self.line_of(pos))

    def _must_read(self, pos: int) -> Any:
        try:
            value = self.read()
        except StopIteration:
            raise EdnError("input ends inside a value", self.line_of(len(self.text))) from None
        if isinstance(value, _Close):
            raise EdnError(f"unexpected {value.char!r}", self.line_of(value.pos))
        return value

    def _collection(self, opener: str, pos: int) -> Any:
        if self.depth >= MAX_DEPTH:
            raise EdnError(f"nested too deep (more than {MAX_DEPTH} levels)", self.line_of(pos))
        self.depth += 1
        try:
            return self._items(opener, pos)
        finally:
            self.depth -= 1

    def _items(self, opener: str, pos: int) -> Any:
        closer = _CLOSERS[opener]
        items: list[Any] = []
        while True:
            try:
                item = self.read()
            except StopIteration:
                raise EdnError(f"{opener!r} opened here is never closed", self.line_of(pos)) from None
            if isinstance(item, _Close):
                if item.char != closer:
                    # Name the opener's line: an unclosed map swallows the ops after it, so the
                    # mismatch is often noticed only at the end of the history.
                    raise EdnError(
                        f"{opener!r} opened here is never closed (found {item.char!r} on line "
                        f"{self.line_of(item.pos)} where {closer!r} was expected)",
                        self.line_of(pos),
                    )
                break
            items.append(item)
        if opener == "{":
            if len(items) % 2:
                raise EdnError("map has a key without a value", self.line_of(pos))
            return {_hashable(items[i]): items[i + 1] for i in range(0, len(items), 2)}
        if opener == "#{":
            try:
                return frozenset(items)
            except TypeError:
                return items
        return items

    def _atom(self, tok: str, pos: int) -> Any:
        if tok[0] == ":":
            return tok[1:]
        if tok == "nil":
            return None
        if tok == "true":
            return True
        if tok == "false":
            return False
        first = tok[0]
        if first.isdigit() or (first in "+-" and len(tok) > 1 and tok[1].isdigit()):
            if _INT.fullmatch(tok) or _HEX.fullmatch(tok):
                return self._int(tok, pos)
            if _FLOAT.fullmatch(tok):
                return float(tok.rstrip("M"))
            if _RATIO.fullmatch(tok):
                num, den = tok.split("/")
                if len(tok) > 40:
                    raise EdnError(f"number too long ({len(tok)} characters)", self.line_of(pos))
                if int(den) == 0:
                    raise EdnError(f"ratio {tok!r} divides by zero", self.line_of(pos))
                return int(num) / int(den)
            raise EdnError(f"malformed number {tok!r}", self.line_of(pos))
        return tok  # a symbol

    def _int(self, tok: str, pos: int) -> int:
        body = tok.rstrip("N")
        if len(body) > 21:  # checked before converting: Python refuses 4,300 digits and more
            raise EdnError(f"number too long ({len(body)} characters); integers must fit in 64 bits",
                           self.line_of(pos))
        number = int(body, 16) if "x" in body or "X" in body else int(body)
        if not _INT_MIN <= number < _INT_END:
            raise EdnError(f"number too long ({body}); integers must fit in 64 bits", self.line_of(pos))
        return number


def _unescape(body: str) -> str:
    if "\\" not in body:
        return body
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
                continue
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def loads_all(text: str) -> list[Any]:
    """Every top-level value in `text`, in order."""
    reader = _Reader(text)
    values = []
    while True:
        try:
            value = reader.read()
        except StopIteration:
            return values
        if isinstance(value, _Close):
            raise EdnError(f"unexpected {value.char!r}", reader.line_of(value.pos))
        values.append(value)


def records(text: str) -> list[tuple[int, Any]]:
    """Jepsen's history layouts, as (line, value) pairs: the items of one top-level vector (or
    list), or every top-level value (one map a line). The line is where the value starts."""
    reader = _Reader(text)
    out: list[tuple[int, Any]] = []
    line, counted_to = 1, 0

    def line_at(pos: int) -> int:
        nonlocal line, counted_to
        line += text.count("\n", counted_to, pos)
        counted_to = pos
        return line

    try:
        kind, tok, pos = next(reader.tokens)
    except StopIteration:
        return out
    if tok in ("[", "("):
        closer = _CLOSERS[tok]
        rest = reader.tokens
        while True:
            try:
                kind, tok, pos = next(rest)
            except StopIteration:
                raise EdnError("the history vector is never closed", line_at(len(text))) from None
            if kind == "close":
                if tok == closer:
                    break
                raise EdnError(f"unexpected {tok!r}", line_at(pos))
            out.append((line_at(pos), reader._value(kind, tok, pos)))
        for kind, tok, pos in rest:
            raise EdnError(f"unexpected {tok!r} after the history vector", line_at(pos))
        return out
    while True:
        value = reader._value(kind, tok, pos)
        if isinstance(value, _Close):
            raise EdnError(f"unexpected {value.char!r}", line_at(pos))
        out.append((line_at(pos), value))
        try:
            kind, tok, pos = next(reader.tokens)
        except StopIteration:
            return out


def loads(text: str) -> Any:
    """Exactly one top-level value."""
    values = loads_all(text)
    if len(values) != 1:
        raise EdnError(f"expected one value, found {len(values)}", 1)
    return values[0]


# --- a fast path for the common case -----------------------------------------------------------
# Most histories use only maps, vectors, keywords, strings, integers, floats, nil/true/false. For
# those, one regex pass and a loop with an explicit stack build the values several times faster
# than the general reader. Anything else (sets, tags, chars, symbols, odd numbers, malformed
# input) makes `fast_records` return None, and the caller uses `records`, which also gives the
# error messages with their lines.

_FAST_TOKEN = re.compile(
    r"""(?:[\s,]|;[^\n]*)*+(?:([\[{(])|([\]})])|("(?:[^"\\]|\\.)*")|:([^\s,\[\]{}()";]+)|([-+0-9][^\s,\[\]{}()";]*|nil|true|false)|([^\s,])|\Z)""",
    re.DOTALL,
)
_FAST_ATOMS = {"nil": None, "true": True, "false": False}
_DIGITS = re.compile(r"[+-]?\d+")


class _NotFast(Exception):
    pass


def fast_records(text: str) -> list[Any] | None:
    """The records of `records(text)`, without their lines, or None outside the fast subset."""
    try:
        return _fast_records(text)
    except (_NotFast, TypeError, ValueError, IndexError):
        return None


def _fast_records(text: str) -> list[Any]:
    top: list[Any] = []
    current = top
    stack: list[tuple[list, str]] = []
    append = current.append
    for opener, closer, string, keyword, atom, other in _FAST_TOKEN.findall(text):
        if keyword:
            append(keyword)
        elif atom:
            if atom in _FAST_ATOMS:
                append(_FAST_ATOMS[atom])
            elif _DIGITS.fullmatch(atom):
                if len(atom) > 18:
                    raise _NotFast  # maybe beyond 64 bits: the general reader says so
                append(int(atom))
            elif _FLOAT.fullmatch(atom) and not atom.endswith("M"):
                append(float(atom))
            else:
                raise _NotFast
        elif string:
            body = string[1:-1]
            append(_unescape(body) if "\\" in body else body)
        elif opener:
            if len(stack) >= MAX_DEPTH:
                raise _NotFast
            stack.append((current, opener))
            current = []
            append = current.append
        elif closer:
            items = current
            current, opener = stack.pop()
            append = current.append
            if _CLOSERS[opener] != closer:
                raise _NotFast
            if opener == "{":
                if len(items) % 2:
                    raise _NotFast
                append(dict(zip(items[::2], items[1::2])))
            else:
                append(items)
        elif other:
            raise _NotFast
    if stack:
        raise _NotFast
    if len(top) == 1 and isinstance(top[0], list):
        return top[0]  # the history vector
    if any(not isinstance(item, dict) for item in top):
        raise _NotFast
    return top
