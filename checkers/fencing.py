"""Fencing: the store never takes a write with an older token after one with a newer token.

Ok `write` ops of the `lock` workload carry `{token, owner, seq}`. Write W is
`stale-token-accepted` when some ok write V with a higher token completed before W was even
invoked: V was certainly accepted first, so a fenced store (which keeps the highest token it has
seen) had to refuse W. Only ok writes count: a failed write was refused, and an `info` write may
never have landed, so neither can be blamed. The first anomaly is W's completion (the write that
should have been refused).

"Invoked" means sent, as far as the history can tell. A client paused by the harness
(`pause-client`, harness/client_gates.py) may stall *after* W's invocation is recorded and
before its request leaves ("before-send"): a holder that decided to write, stalled past its
lease, and then sent the write with its old token. The nemesis's completion that reopens the
gate lists each such stall (`{"stalls": [{"op": invocation index, "where": "before-send",
"seconds": s}, ...]}`), and the request cannot have left before the stall ended, so W counts as
invoked `s` seconds after its recorded invocation (a lower bound: the stall began just after
it). Without this the classic stale-holder write is invisible whenever the pause catches the
client between ops, which is where a client spends most of its time.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import OK, Op, pair_calls

NS = 1_000_000_000


BEFORE_SEND = "before-send"  # harness.client_gates.BEFORE_SEND: the stall came before the request left


def held_before_send(history: Sequence[Op]) -> dict[int, int]:
    """Invocation index -> nanoseconds the op was held at its client's gate before its request
    was sent, from the stall lists that nemesis completions report (`pause-client`'s resume)."""
    held: dict[int, int] = {}
    for op in history:
        value = op.value if op.process == "nemesis" and op.type != "invoke" else None
        stalls = value.get("stalls") if isinstance(value, dict) else None
        for stall in stalls if isinstance(stalls, list) else ():
            if isinstance(stall, dict) and stall.get("where") == BEFORE_SEND and isinstance(stall.get("op"), int) \
                    and isinstance(stall.get("seconds"), (int, float)):
                held[stall["op"]] = max(held.get(stall["op"], 0), int(stall["seconds"] * NS))
    return held


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    writes = [c for c in pair_calls(history)
              if c.invoke.f == "write" and c.outcome == OK and c.invoke.time is not None and c.completion.time is not None]
    held = held_before_send(history)

    def sent(call: Any) -> int:
        """No earlier than this the request left the client."""
        return call.invoke.time + held.get(call.invoke.index, 0)

    by_completion = sorted(writes, key=lambda c: c.completion.time)
    by_invocation = sorted(writes, key=sent)
    stale: list[tuple[Any, Any]] = []
    best = None  # the highest-token write completed before the current write was sent
    j = 0
    for w in by_invocation:
        while j < len(by_completion) and by_completion[j].completion.time < sent(w):
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
    drawn = _believed_holds(w, v, granted, sent(w))
    rows = [[holder(s), s.completion.index, s.completion.value["token"], s.completion.value.get("owner"), round(sent(s) / NS, 3),
             holder(n), n.completion.index, n.completion.value["token"], round(n.completion.time / NS, 3)] for s, n in stale]
    return {
        "valid": False,
        "anomalies": ["stale-token-accepted"],
        "reason": (f"{len(stale)} writes accepted with a token older than one already accepted; first: token "
                   f"{w.completion.value['token']} sent at {sent(w) / NS:.3f} s after token {v.completion.value['token']}"
                   + (f" (held {held[w.invoke.index] / NS:.3f} s at its paused client's gate before it was sent)"
                      if w.invoke.index in held else "")),
        "first_anomaly_index": w.completion.index,
        "writes_checked": len(writes),
        "violation_count": len(stale),
        "evidence": drawn + [evidence.table("writes the store should have refused", ["old holder's acquire", "stale write", "token", "owner", "sent s",
                                     "new holder's acquire", "newer write", "newer token", "newer done s"],
                                    rows, op_columns=["old holder's acquire", "stale write", "new holder's acquire", "newer write"])],
    }


def _believed_holds(stale: Any, newer: Any, granted: Mapping[Any, Any], stale_sent: int) -> list[dict[str, Any]]:
    """The two holders as intervals: each from its acquire to its write (solid from the grant's
    completion), overlapping from the new holder's grant to the stale write's sending (its
    invocation, or later when it was held at a paused client's gate), which is marked."""
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
                               (new_acquire.completion.time, stale_sent),
                               marks=[(stale.completion.index, "stale write, accepted"),
                                      (newer.completion.index, "newer write, accepted first")])]
