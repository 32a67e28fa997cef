"""Leader safety from the nodes' own beliefs: at most one leader at any real-time instant and
per epoch, and epochs that only grow.

Ops (the `leader` workload): `status {node}` ok with `{node, leader, epoch}`: that node believed
(or not) that it led in that epoch at some instant between the op's invocation and completion.
Only ok statuses that say `leader` count; an `info` or failed status says nothing, so it can
hide a violation but never invent one.

A *stretch* is one node's leadership in one epoch. The check assumes what every epoch-based
election promises of itself: a node leads in a given epoch over one stretch of time (it never
steps down and comes back in the same epoch). The stretch holds an instant of every one of its
samples' windows, so it certainly covers the span from its earliest sample completion to its
latest sample invocation (its *certain span*, empty with a single sample). The lease is not
trusted to stretch the span further: how long a leader keeps believing is the claim under test.

Anomalies:
- `two-leaders`: two stretches of different nodes certainly overlap in real time (their certain
  spans intersect, or one's sample window lies wholly inside the other's certain span), or two
  different nodes led in the same epoch (at any times).
- `epoch-regression`: a leader sample with a lower epoch than a leader sample that completed
  before it was invoked.

`first_anomaly_index` is the op that showed the second leader (or the lower epoch). Evidence:
the overlapping stretches drawn as intervals, and a table of the violations.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from checkers import evidence
from harness.history import OK, Call, Op, pair_calls

NS = 1_000_000_000


@dataclass
class Stretch:
    """One node's leadership in one epoch, from its leader samples."""

    node: Any
    epoch: Any
    samples: list[Call] = field(default_factory=list)

    @property
    def start(self) -> int:  # the certain span: earliest completion ...
        return min(s.completion.time for s in self.samples)

    @property
    def end(self) -> int:  # ... to latest invocation
        return max(s.invoke.time for s in self.samples)

    @property
    def first(self) -> Call:
        return min(self.samples, key=lambda s: s.completion.time)

    @property
    def last(self) -> Call:
        return max(self.samples, key=lambda s: s.invoke.time)

    def label(self) -> str:
        return f"{self.node} epoch {self.epoch}"


@dataclass(frozen=True)
class Violation:
    anomaly: str
    what: str
    shown_by: Call  # the op that showed it
    stretches: tuple[Stretch, ...]
    window: tuple[int, int] | None = None  # the instants both certainly led


def leader_samples(history: Sequence[Op]) -> list[Call]:
    return [c for c in pair_calls(history)
            if c.invoke.f == "status" and c.outcome == OK and c.invoke.time is not None and c.completion.time is not None
            and (c.completion.value or {}).get("leader")]


def stretches(samples: Sequence[Call]) -> list[Stretch]:
    by_key: dict[tuple[Any, Any], Stretch] = {}
    for s in samples:
        value = s.completion.value
        key = (value["node"], value.get("epoch"))
        by_key.setdefault(key, Stretch(*key)).samples.append(s)
    return sorted(by_key.values(), key=lambda st: st.start)


def overlaps(all_stretches: Sequence[Stretch], samples: Sequence[Call]) -> list[Violation]:
    found: list[Violation] = []
    # Certain spans that intersect.
    spans = [st for st in all_stretches if st.start < st.end]
    for i, a in enumerate(spans):
        for b in spans[i + 1:]:
            if b.start >= a.end:
                break
            if a.node != b.node and b.start < b.end:
                found.append(Violation("two-leaders", "both certainly led at once", b.first, (a, b), (b.start, min(a.end, b.end))))
    # A sample of another node wholly inside a certain span.
    by_invoke = sorted(samples, key=lambda s: s.invoke.time)
    invokes = [s.invoke.time for s in by_invoke]
    for a in spans:
        for s in by_invoke[bisect_left(invokes, a.start):]:
            if s.invoke.time >= a.end:
                break
            if s.completion.value["node"] != a.node and s.completion.time <= a.end:
                other = next(st for st in all_stretches if (st.node, st.epoch) == (s.completion.value["node"], s.completion.value.get("epoch")))
                found.append(Violation("two-leaders", "a leader answered while another certainly led", s, (a, other),
                                       (s.invoke.time, s.completion.time)))
    return found


def same_epoch(all_stretches: Sequence[Stretch]) -> list[Violation]:
    by_epoch: dict[Any, list[Stretch]] = {}
    for st in all_stretches:
        if st.epoch is not None:
            by_epoch.setdefault(st.epoch, []).append(st)
    found = []
    for epoch, group in by_epoch.items():
        if len(group) > 1:
            group.sort(key=lambda st: st.first.completion.time)
            for later in group[1:]:
                found.append(Violation("two-leaders", f"two nodes led in epoch {epoch}", later.first, (group[0], later)))
    return found


def regressions(samples: Sequence[Call], all_stretches: Sequence[Stretch]) -> list[Violation]:
    """Samples with a lower epoch than one completed before they were invoked."""
    with_epoch = [s for s in samples if isinstance(s.completion.value.get("epoch"), (int, float))]
    by_completion = sorted(with_epoch, key=lambda s: s.completion.time)
    found = []
    best: Call | None = None
    j = 0
    for s in sorted(with_epoch, key=lambda s: s.invoke.time):
        while j < len(by_completion) and by_completion[j].completion.time < s.invoke.time:
            if best is None or by_completion[j].completion.value["epoch"] > best.completion.value["epoch"]:
                best = by_completion[j]
            j += 1
        if best is not None and s.completion.value["epoch"] < best.completion.value["epoch"]:
            key = {(st.node, st.epoch): st for st in all_stretches}
            newer = key[(best.completion.value["node"], best.completion.value["epoch"])]
            older = key[(s.completion.value["node"], s.completion.value["epoch"])]
            found.append(Violation("epoch-regression", f"epoch {older.epoch} led after epoch {newer.epoch} had", s, (newer, older)))
    return found


def check(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    samples = leader_samples(history)
    all_stretches = stretches(samples)
    violations = overlaps(all_stretches, samples) + same_epoch(all_stretches) + regressions(samples, all_stretches)
    checked = {"leader_samples": len(samples), "stretches": len(all_stretches)}
    if not violations:
        return {"valid": True, **checked,
                "reason": f"{len(all_stretches)} leaderships from {len(samples)} leader answers, none overlapping, "
                          "one node per epoch, epochs only growing"}
    violations.sort(key=lambda v: v.shown_by.completion.time)
    first = violations[0]
    anomalies = sorted({v.anomaly for v in violations})
    rows = [[v.anomaly, v.what, v.stretches[0].label(), v.stretches[1].label(), v.shown_by.completion.index,
             round(v.shown_by.completion.time / NS, 3)] for v in violations]
    return {
        "valid": False,
        "anomalies": anomalies,
        "reason": f"{len(violations)} violations; first: {first.what} ({first.stretches[0].label()} and {first.stretches[1].label()})",
        "first_anomaly_index": first.shown_by.completion.index,
        "violation_count": len(violations),
        **checked,
        "evidence": [
            intervals_evidence(first, all_stretches),
            evidence.table("leadership violations", ["anomaly", "what", "first leader", "second leader", "shown by op", "at s"],
                           rows, op_columns=["shown by op"]),
        ],
    }


def intervals_evidence(first: Violation, all_stretches: Sequence[Stretch]) -> dict[str, Any]:
    """The two stretches of the first violation, with the stretches around them, as bars."""
    lo = min(st.first.invoke.time for st in first.stretches)
    hi = max(st.last.completion.time for st in first.stretches)
    shown = list(first.stretches) + [st for st in all_stretches if st not in first.stretches
                                     and st.last.completion.time >= lo and st.first.invoke.time <= hi][:8]
    bars = [evidence.interval(st.label(), st.start, max(st.start, st.end), st.first.invoke.time, st.last.completion.time,
                              [st.first.completion.index, st.last.completion.index], lane=str(st.node))
            for st in sorted(shown, key=lambda st: st.first.invoke.time)]
    return evidence.intervals(f"leaderships: {first.what} (solid: certainly led; pale: may have led)", bars, first.window,
                              marks=[(first.shown_by.completion.index, "the second leader's answer")])
