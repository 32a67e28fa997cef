"""Mutual exclusion of a lease lock: no two clients hold it at once.

A direct interval check with lease bounds, not linearizability against the `mutex` model: a
lease lock is not a linearizable mutex (a holder loses it by expiry, with no op in the history),
so the model would call every correct expiry a violation. Instead each ok acquire gets the
interval over which its client *certainly* held the lock, and a later grant inside that interval
is two holders:

- the grant took effect somewhere in [acquire invoked, acquire completed], and the server's
  lease runs `ttl` from that moment, so the lock was certainly held from the acquire's
  completion until `ttl` after its invocation;
- an ok `extend` by the same holder (owner-checked: accepted only while its lease was live)
  lengthens it to at least `ttl` after the extend's invocation; an extend that failed or may
  not have happened (info) lengthens nothing;
- it ends early at the invocation of the process's next release that may have taken effect
  (ok, info, or never completed); a release that failed (refused, nothing sent) ends nothing.

A second ok acquire whose whole [invoked, completed] span lies inside that interval was certainly
granted while the first holder held: `two-holders`. An `info` acquire (may or may not have been
granted) never makes an interval, so it can hide a violation but never invent one; likewise a
grant is blamed only when its whole span lies inside, so the verdict is sound whatever the
message delays. The lease bound assumes the server's clock runs at real rate, which is the claim
under test (a server timing leases on a jumped wall clock breaks it, and is caught).

Ops (the `lock` workload): `acquire` ok with `{name, ttl, token, owner}`; `extend` ok with
`{name, ttl, ...}`; `release`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import INFO, OK, Call, Op, pair_calls

NS = 1_000_000_000


@dataclass(frozen=True)
class Hold:
    """The span over which one grant certainly held the lock, in history nanoseconds."""

    acquire: Call
    start: int  # the acquire's completion
    end: int  # ttl after its invocation, or the invocation of a release that may have worked

    @property
    def token(self) -> Any:
        return (self.acquire.completion.value or {}).get("token")


def holds(history: Sequence[Op]) -> dict[Any, list[Hold]]:
    """Lock name -> the certain holds, in order of start."""
    calls = [c for c in pair_calls(history) if c.invoke.time is not None]
    by_process: dict[Any, list[Call]] = {}
    for call in calls:
        by_process.setdefault(call.invoke.process, []).append(call)
    result: dict[Any, list[Hold]] = {}
    for process_calls in by_process.values():
        for i, call in enumerate(process_calls):
            if call.invoke.f != "acquire" or call.outcome != OK or call.completion.time is None:
                continue
            value = call.completion.value or {}
            end = call.invoke.time + int(float(value.get("ttl", call.invoke.value["ttl"])) * NS)
            for later in process_calls[i + 1:]:
                if later.invoke.f == "acquire":
                    break
                if later.invoke.f == "extend" and later.outcome == OK:
                    # Accepted only while the lease was live, and renewed from then on.
                    end = max(end, later.invoke.time + int(float((later.completion.value or {}).get("ttl", later.invoke.value["ttl"])) * NS))
                if later.invoke.f == "release" and later.outcome in (OK, INFO):
                    end = min(end, later.invoke.time)
                    break
            if end > call.completion.time:
                name = value.get("name", call.invoke.value.get("name"))
                result.setdefault(name, []).append(Hold(call, call.completion.time, end))
    for spans in result.values():
        spans.sort(key=lambda h: h.start)
    return result


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    all_holds = holds(history)
    grants = [h for spans in all_holds.values() for h in spans]
    pairs: list[tuple[Hold, Hold]] = []
    for spans in all_holds.values():
        for i, first in enumerate(spans):
            for second in spans[i + 1:]:
                if second.acquire.invoke.time >= first.end:
                    break
                if second.acquire.invoke.time >= first.start and second.acquire.completion.time <= first.end:
                    pairs.append((first, second))
    if not pairs:
        return {"valid": True, "grants_checked": len(grants),
                "reason": f"{len(grants)} grants, none inside another's certain hold"}
    pairs.sort(key=lambda p: p[1].acquire.completion.time)
    first, second = pairs[0]
    rows = [[a.acquire.completion.index, a.token, round(a.start / NS, 3), round(a.end / NS, 3),
             b.acquire.completion.index, b.token, round(b.acquire.invoke.time / NS, 3), round(b.acquire.completion.time / NS, 3)]
            for a, b in pairs]
    return {
        "valid": False,
        "anomalies": ["two-holders"],
        "reason": (f"{len(pairs)} grants while another client certainly held the lock; first: token "
                   f"{second.token} granted while token {first.token} held it until {first.end / NS:.3f} s"),
        "first_anomaly_index": second.acquire.completion.index,
        "grants_checked": len(grants),
        "violation_count": len(pairs),
        "evidence": [
            evidence.intervals(
                f"token {first.token} and token {second.token} held the lock at once (solid: certainly held; pale: acquire in flight)",
                [evidence.interval(f"token {h.token} ({h.acquire.invoke.process})", h.start, h.end, h.acquire.invoke.time, h.end,
                                   [h.acquire.completion.index], lane=str(h.acquire.invoke.process)) for h in (first, second)],
                (second.start, min(first.end, second.end)),
                marks=[(second.acquire.completion.index, "granted while the first held")]),
            evidence.table("two holders at once (first holder certainly held from its acquire's completion to its end)",
                           ["holder acquire", "token", "held from s", "held until s",
                            "second acquire", "second token", "invoked s", "granted by s"],
                           rows, op_columns=["holder acquire", "second acquire"]),
        ],
    }
