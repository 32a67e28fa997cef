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
    answer = _wglc.check_journal(path, model == "cas-register", failed_cas == "observed", KEY_STEPS,
                                 -1.0 if time_limit is None else float(time_limit), int(memory_limit or 0))
    if answer is None:
        return NOT_TAKEN
    if answer is False:
        return None
    op_count, keys, invokes, oks, fails, infos, nemesis, last_time = answer
    return valid(model, op_count, keys), {"ops": invokes, "ok": oks, "fail": fails, "info": infos,
                                          "nemesis_events": nemesis,
                                          "duration_s": round((last_time or 0) / 1e9, 3)}


def valid(model: str, op_count: int, keys: int) -> dict[str, object]:
    """The result for a history every key of which is linearizable (the lean paths' only answer)."""
    return {"model": model, "op_count": op_count, "keys_checked": keys, "valid": True, "algorithm": "wgl",
            "reason": f"linearizable: all {op_count} operations in {keys} partition(s) fit the {model} model"}
