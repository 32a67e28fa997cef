"""The C reader's way from a keyed register journal to a "valid" verdict, importing nothing but
the accelerator, so that `faultline analyze`'s quick path (harness/launch.py) can use it before
anything else is imported. lean.py calls it first; see `_wglc.check_journal` for what it takes.
"""

from __future__ import annotations

try:
    from . import _wglc
except ImportError:  # no compiler when installed: the general path gives the same verdicts
    _wglc = None

# A key whose search has not ended after this many steps is left to the general path, which
# has the fast reads-from checks and worker processes for it.
KEY_STEPS = 200_000

NOT_TAKEN = object()  # the file is not in the form the C reader takes


def check(path: str, model: str, failed_cas: str, time_limit: float | None,
          memory_limit: int | None) -> tuple[dict, dict] | None | object:
    """(the checker's result, the history's stats) when every key of the journal at `path` is
    linearizable under `model` ("register" or "cas-register"); None when one is not found so
    within KEY_STEPS or the limits (the general path decides); NOT_TAKEN for a file the C reader
    does not take, or when the accelerator is not built."""
    if _wglc is None or model not in ("register", "cas-register"):
        return NOT_TAKEN
    from time import monotonic
    started = monotonic()
    answer = _wglc.check_journal(path, model == "cas-register", failed_cas == "observed", KEY_STEPS,
                                 -1.0 if time_limit is None else float(time_limit), int(memory_limit or 0))
    if answer is None:
        return NOT_TAKEN
    if answer is False:
        return None
    op_count, keys, invokes, oks, fails, infos, nemesis, last_time, hard = answer
    result = valid(model, op_count, keys)
    if hard:
        left = None if time_limit is None else max(float(time_limit) - (monotonic() - started), 0.0)
        algorithms = _check_hard_keys(path, set(hard), model, failed_cas, left, memory_limit)
        if algorithms is None:
            return None
        result["algorithm"] = "+".join(sorted({"wgl", *algorithms}))
    return result, {"ops": invokes, "ok": oks, "fail": fails, "info": infos, "nemesis_events": nemesis,
                    "duration_s": round((last_time or 0) / 1e9, 3)}


def _check_hard_keys(path: str, hard: set, model: str, failed_cas: str, time_limit: float | None,
                     memory_limit: int | None) -> set[str] | None:
    """The algorithms that found the keys in `hard` linearizable, checked the general way (the
    reads-from fast path, symmetry, workers) on their lines alone; None if one is not.

    Why this is the same verdict as the general path's on the whole file: linearizability is
    per key (P-compositionality), and the C reader took the file only if every completion names
    its invocation's key, so a key's lines are exactly its ops, in the file's order (crashed ops
    still return after the end). Reading only those lines keeps a history whose hard key is at
    its end (most processes on one register) from costing a read of the whole file into ops."""
    import orjson

    from harness.history import Op

    from .checker import check
    # A line of key k holds k's digits, or k quoted: only such lines are decoded (the test on
    # the decoded row below decides; this only skips lines that cannot be k's).
    needles = [str(k).encode() if isinstance(k, int) else b'"' + k.encode() + b'"' for k in hard]
    ops = []
    with open(path, "rb") as f:
        for line in f:
            if not any(needle in line for needle in needles):
                continue
            row = orjson.loads(line)
            value, process = row.get("value"), row.get("process")
            if isinstance(process, int) and isinstance(value, list) and value and value[0] in hard:
                ops.append(Op.from_dict(row))
    options = {"model": model, "keyed": True, "failed_cas": failed_cas, "time_limit": time_limit,
               "memory_limit": memory_limit}
    result = check(ops, {k: v for k, v in options.items() if v is not None})
    if result.get("valid") is not True or result.get("keys_checked") != len(hard):
        return None
    return set(result["algorithm"].split("+"))


def valid(model: str, op_count: int, keys: int) -> dict[str, object]:
    """The result for a history every key of which is linearizable (the lean paths' only answer)."""
    return {"model": model, "op_count": op_count, "keys_checked": keys, "valid": True, "algorithm": "wgl",
            "reason": f"linearizable: all {op_count} operations in {keys} partition(s) fit the {model} model"}
