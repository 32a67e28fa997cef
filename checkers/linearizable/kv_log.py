"""The lean path for Porcupine's kv logs: one fixed line form, read without the EDN reader.

Porcupine's kv test histories (and the files that copy its form) are EDN maps, one a line, in
exactly this form:

    {:process 6, :type :invoke, :f :append, :key "0", :value "x 6 0 y"}

The general path reads them with the EDN reader, which builds every map and its keywords in
Python and then an `Op` from each map; on a 3,000-line log that, and importing the reader,
costs more than the check. This module takes each line with one regular expression straight to
the same `Op` the general reader gives (a test holds them equal), applies the same shape rules
(`harness.history_check`), and runs the checker's own `check` on them. So the verdict is the
general path's by construction; like `lean`, it only ever answers "valid": on an invalid or
undecided history, or any line not in that form (an escape in a string, a blank line, another
field), it returns None and the general path reads the file, so the evidence and the messages,
which name lines, come from there.
"""

from __future__ import annotations

import gc
import re
from pathlib import Path
from typing import Any, Callable, Mapping

from harness.history import BadOp, HistoryError, Op
from harness.history_check import check_shape

# Strings without an escape or a quote only: those read the same in EDN as they are written.
_LINE = re.compile(r'\{:process (0|[1-9][0-9]{0,17}), :type :(invoke|ok|fail|info), :f :(get|put|append), '
                   r':key "([^"\\\n]*)", :value (?:nil|"([^"\\\n]*)")\}')
_START = b"{:process "
# The lean attempt gets at most this long: a log that needs more is left to the general path,
# which then has the whole time limit (so a hard log costs this much extra at most, not twice
# the limit).
LEAN_SECONDS = 10.0


def check_file(path: Path, options: Mapping[str, Any], check: Callable[..., dict]) -> tuple[dict, dict] | None:
    """(the result of `check`, the history's stats) when `path` is a kv log in Porcupine's form
    that `check` finds valid; None when the general path must read and decide it."""
    collecting = gc.isenabled()
    gc.disable()  # thousands of ops and maps, none cyclic: the collector would only walk them
    try:
        ops = read(path)
        if ops is None:
            return None
        limit = options.get("time_limit")
        lean_limit = LEAN_SECONDS if limit is None else min(float(limit), LEAN_SECONDS)
        result = check(ops, {**options, "time_limit": lean_limit})
    except BadOp:
        return None  # the general path names the op's line
    finally:
        if collecting:
            gc.enable()
    if result.get("valid") is not True:
        return None
    counts = {"invoke": 0, "ok": 0, "fail": 0, "info": 0}
    for op in ops:
        counts[op.type] += 1
    stats = {"ops": counts["invoke"], "ok": counts["ok"], "fail": counts["fail"], "info": counts["info"],
             "nemesis_events": 0, "duration_s": 0.0}
    return result, stats


def read(path: Path) -> list[Op] | None:
    """The ops of a kv log in Porcupine's line form, as `read_history` gives them; None when the
    file is anything else or breaks a shape rule (the general reader then says where)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if not data.startswith(_START):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    ops = []
    match = _LINE.fullmatch
    for line in lines:
        m = match(line)
        if m is None:
            return None
        process, type_, f, key, value = m.groups()
        ops.append(Op(type_, f, value, int(process), extra={"key": key}))
    try:
        check_shape(path, ops, lambda position: position + 1)  # also gives each op its position as index
    except HistoryError:
        return None
    return ops
