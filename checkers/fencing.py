"""Fencing: the store never takes a write with an older token after one with a newer token.

Ok `write` ops of the `lock` workload carry `{token, owner, seq}`. Write W is
`stale-token-accepted` when some ok write V with a higher token completed before W was even
invoked: V was certainly accepted first, so a fenced store (which keeps the highest token it has
seen) had to refuse W. Only ok writes count: a failed write was refused, and an `info` write may
never have landed, so neither can be blamed. The first anomaly is W's completion (the write that
should have been refused).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import OK, Op, pair_calls

NS = 1_000_000_000


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    writes = [c for c in pair_calls(history)
              if c.invoke.f == "write" and c.outcome == OK and c.invoke.time is not None and c.completion.time is not None]
    by_completion = sorted(writes, key=lambda c: c.completion.time)
    by_invocation = sorted(writes, key=lambda c: c.invoke.time)
    stale: list[tuple[Any, Any]] = []
    best = None  # the highest-token write completed before the current invocation
    j = 0
    for w in by_invocation:
        while j < len(by_completion) and by_completion[j].completion.time < w.invoke.time:
            v = by_completion[j]
            if best is None or v.completion.value["token"] > best.completion.value["token"]:
                best = v
            j += 1
        if best is not None and w.completion.value["token"] < best.completion.value["token"]:
            stale.append((w, best))
    if not stale:
        return {"valid": True, "writes_checked": len(writes),
                "reason": f"{len(writes)} accepted writes, none with an older token after a newer one"}
    stale.sort(key=lambda p: p[0].completion.time)
    # The two holders: the ok acquire that handed each write its token.
    granted = {(c.completion.value or {}).get("token"): c for c in pair_calls(history)
               if c.invoke.f == "acquire" and c.outcome == OK}

    def holder(write: Any) -> Any:
        acquire = granted.get(write.completion.value["token"])
        return acquire.completion.index if acquire is not None else None

    w, v = stale[0]
    drawn = _believed_holds(w, v, granted)
    rows = [[holder(s), s.completion.index, s.completion.value["token"], s.completion.value.get("owner"), round(s.invoke.time / NS, 3),
             holder(n), n.completion.index, n.completion.value["token"], round(n.completion.time / NS, 3)] for s, n in stale]
    return {
        "valid": False,
        "anomalies": ["stale-token-accepted"],
        "reason": (f"{len(stale)} writes accepted with a token older than one already accepted; first: token "
                   f"{w.completion.value['token']} at {w.invoke.time / NS:.3f} s after token {v.completion.value['token']}"),
        "first_anomaly_index": w.completion.index,
        "writes_checked": len(writes),
        "violation_count": len(stale),
        "evidence": drawn + [evidence.table("writes the store should have refused", ["old holder's acquire", "stale write", "token", "owner", "invoked s",
                                     "new holder's acquire", "newer write", "newer token", "newer done s"],
                                    rows, op_columns=["old holder's acquire", "stale write", "new holder's acquire", "newer write"])],
    }


def _believed_holds(stale: Any, newer: Any, granted: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """The two holders as intervals: each from its acquire to its write (solid from the grant's
    completion), overlapping from the new holder's grant to the stale write, which is marked."""
    old_acquire = granted.get(stale.completion.value["token"])
    new_acquire = granted.get(newer.completion.value["token"])
    if old_acquire is None or new_acquire is None:
        return []
    def lease_end(acquire: Any, write: Any) -> int:
        ttl = (acquire.completion.value or {}).get("ttl")
        end = write.invoke.time if ttl is None else min(write.invoke.time, acquire.invoke.time + int(float(ttl) * NS))
        return max(acquire.completion.time, end)

    bars = [evidence.interval(f"token {write.completion.value['token']} holder", acquire.completion.time, lease_end(acquire, write),
                              acquire.invoke.time, write.completion.time, [acquire.completion.index, write.completion.index],
                              lane=str(acquire.invoke.process))
            for acquire, write in ((old_acquire, stale), (new_acquire, newer))]
    return [evidence.intervals("two clients acted as holder at once; the stale write should have been refused "
                               "(solid: the lease certainly held; pale: the client still acted as holder)", bars,
                               (new_acquire.completion.time, stale.invoke.time),
                               marks=[(stale.completion.index, "stale write, accepted"),
                                      (newer.completion.index, "newer write, accepted first")])]
