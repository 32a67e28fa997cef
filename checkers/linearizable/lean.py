"""The lean path from a journal's bytes to a "valid" verdict, for keyed register histories.

The general path builds an `Op` per line, checks the history's shape, pairs the ops into
`Entry` records and splits them by key: on a 1M-op history that is most of the time and memory,
while the search itself is a small part. Most keyed histories are valid and easy, so this path
first gives the file to the C reader (journal.py, `_wglc.check_journal`: the bytes parsed in C,
a few numbers per op, hard keys checked the general way on their own lines). A file that reader
does not take as it is (it takes a strict subset) is decoded a block of lines at a time (one orjson call a block, the cycle collector off),
checks the same shape rules on the decoded maps while pairing invocations with completions in
one pass in C (`_wglc.scan_rows`), keeps small call records instead of the maps, splits them by
key and gives each key's ops straight to the C search.

It only ever answers "valid". Anything else sends the caller to the general path, which then
gives the answer, the evidence and the error messages: a line it does not take as it is (not
the journal's form, an extra field, a value that is not [key, value] of plain values, any
break of `harness.history_check`'s rules), a key the search finds invalid, or, on the orjson
way, one that takes more than KEY_STEPS steps (a hard key). What that costs at most is two
passes over the file and KEY_STEPS steps a key. The verdicts are the same as the general path's because the search is exact
and the ops are built as `prepare.partitions` builds them, with the model's own step function.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

from . import journal, models
from .journal import KEY_STEPS
from .wgl import VALID, Budget, _wglc, accelerated, advance_c, start_c_register

BLOCK_BYTES = 1 << 20


def check_file(path: Path, options: Mapping[str, Any]) -> tuple[dict, dict] | None:
    """(the checker's result, the history's stats) when the file is a keyed register journal
    that is linearizable, found the lean way; None when the general path must decide."""
    # Millions of new maps and tuples, none of them cyclic: the cycle collector, woken every
    # few hundred allocations, would take two thirds of the decoding time for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _check_file(path, options)
    finally:
        if collecting:
            gc.enable()


def _check_file(path: Path, options: Mapping[str, Any]) -> tuple[dict, dict] | None:
    model = models.MODELS.get(options.get("model") or "cas-register")
    if model not in (models.register, models.cas_register) or not options.get("keyed"):
        return None
    if options.get("initial") is not None or options.get("engine") == "python" or not accelerated():
        return None
    failed_cas = options.get("failed_cas") or "absent"
    deadline = time.monotonic() + float(options["time_limit"]) if options.get("time_limit") is not None else None
    read_in_c = _check_in_c(path, model, failed_cas, options)
    if read_in_c is not _NOT_TAKEN:
        return read_in_c
    try:
        with open(path, "rb") as f:
            if f.read(2) != b'{"':
                return None
            f.seek(0)
            split = _split(_decoded_blocks(f), model, failed_cas)
    except OSError:
        return None
    if split is None:
        return None
    parts, stats = split
    budget = Budget(deadline, options.get("memory_limit"), None, KEY_STEPS)
    op_count = 0
    for values, spec, determinate, events in parts.values():
        op_count += len(determinate)
        if not any(determinate):
            continue
        if advance_c(start_c_register(values, spec, determinate, events), budget) != VALID:
            return None
    return _valid(model, op_count, len(parts)), stats


_NOT_TAKEN = journal.NOT_TAKEN


def _check_in_c(path: Path, model: models.Model, failed_cas: str, options: Mapping[str, Any]) -> Any:
    """The C reader's answer (journal.check): the result and stats, None when a key is not found
    valid (the general path decides; decoding the file again the orjson way would find the
    same), or _NOT_TAKEN for a file it does not take as it is."""
    return journal.check(str(path), model.name, failed_cas, options.get("time_limit"), options.get("memory_limit"))


def _valid(model: models.Model, op_count: int, keys: int) -> dict:
    return journal.valid(model.name, op_count, keys)


def _decoded_blocks(f: Any) -> Iterator[list | None]:
    """The file's lines decoded, a block of lines at a time (so the decoded maps of the whole
    file never live at once); None, and the end, at a block orjson refuses."""
    import orjson

    rest = b""
    while True:
        block = f.read(BLOCK_BYTES)
        if not block:
            break
        block = rest + block
        cut = block.rfind(b"\n") + 1
        if cut == 0:
            rest = block
            continue
        block, rest = block[:cut - 1], block[cut:]
        try:
            rows = orjson.loads(b"[" + block.replace(b"\n", b",") + b"]")
        except orjson.JSONDecodeError:
            yield None  # a blank line, bad JSON: the general reader says which
            return
        if len(rows) != block.count(b"\n") + 1:  # a line holding two values, "{...}, {...}"
            yield None
            return
        yield rows
    if rest:
        try:
            yield [orjson.loads(rest)]  # a last line without a newline
        except orjson.JSONDecodeError:
            yield None  # a torn last line: the general reader warns of it


def _split(blocks: Iterator[list | None], model: models.Model, failed_cas: str) -> tuple[dict, dict] | None:
    """Check the shape rules, pair and split by key: {key: (values, register spec, determinate
    bytes, event codes in history order)} and the history's stats; None at the first thing not
    taken (a value that is not an int, a str or None, or a pair of those; a key that is not an
    int or a str; an op the model does not take)."""
    # position, has index, last index, nemesis events, invoke, ok, fail, info, last time
    state: list[Any] = [-1, None, -1, 0, 0, 0, 0, 0, None]
    open_calls: dict[int, list] = {}
    calls: list[list] = []  # [f, invocation's value, position, time, outcome, completion's value, position]
    for rows in blocks:
        if rows is None or not _wglc.scan_rows(rows, state, open_calls, calls):
            return None  # the C pass applies harness.history_check's rules to each decoded map
    pos, _, _, nemesis, invokes, oks, fails, infos, last_time = state
    if pos < 0:
        return None
    stats = {"ops": invokes, "ok": oks, "fail": fails, "info": infos,
             "nemesis_events": nemesis, "duration_s": round((last_time or 0) / 1e9, 3)}

    # Pairing done, the C pass splits by key, numbers each key's values and sorts its events:
    # the same ops as prepare.partitions gives, as the C search's register model takes them.
    parts = _wglc.split_register(calls, pos + 1, model is models.cas_register, failed_cas == "observed")
    if parts is None:
        return None
    return parts, stats
