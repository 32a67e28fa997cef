"""Find, in a recorded history, the window that makes a buggy mode's anomaly certain.

A test that runs a buggy mode under a seeded nemesis and asserts "invalid" depends on two
things: the schedule (deterministic per seed) and the system's timing (not). Such a test first
checks, with these functions, that the run really contained the ops that expose the bug, so a
change to the schedule or a run too short fails by name, and only then checks the verdict. Each
function says why its window makes the anomaly certain; given the window, a valid verdict is a
checker or harness bug, not bad luck.

Positions are indexes into the history list: the journal's order is real-time order (as the
stale-read checker also assumes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

from harness.history import INFO, OK, Op, pair_calls


@dataclass(frozen=True)
class Cut:
    """A partition in force from `start` (its op completed: the rules are in place) to `end`
    (the invocation of the heal, or of the next partition, which heals first)."""

    start: int
    end: int
    sides: tuple[frozenset[str], ...]

    def side_of(self, node: str) -> frozenset[str]:
        return next(side for side in self.sides if node in side)


def sides_of(grudge: dict[str, Sequence[str]]) -> tuple[frozenset[str], ...]:
    """The groups of a complete grudge: each node with every node it still hears."""
    everyone = set(grudge) | {n for enemies in grudge.values() for n in enemies}
    sides = {frozenset(everyone - set(grudge.get(node, ()))) for node in everyone}
    return tuple(sorted(sides, key=sorted))


def cuts(history: Sequence[Op]) -> list[Cut]:
    """Every partition the nemesis put in force, with the position its window closes."""
    found: list[Cut] = []
    opened: tuple[int, Any] | None = None
    for i, op in enumerate(history):
        if op.process != "nemesis" or op.f not in ("partition", "heal"):
            continue
        if op.type != INFO and opened is not None:  # any heal or partition invocation ends it
            found.append(Cut(opened[0], i, sides_of(opened[1])))
            opened = None
        if op.type == INFO and op.f == "partition" and isinstance(op.value, dict) and not op.error:
            opened = (i, op.value["grudge"])
    if opened is not None:
        found.append(Cut(opened[0], len(history), sides_of(opened[1])))
    return found


@dataclass(frozen=True)
class Span:
    op: Op
    start: int  # position of the invocation
    end: float  # position of the completion; inf if it never completed or ended `info`
    outcome: str


def client_spans(history: Sequence[Op]) -> list[Span]:
    position = {id(op): i for i, op in enumerate(history)}
    spans = []
    for call in pair_calls([op for op in history if op.is_client]):
        # An op that ended `info` may take effect at any later time: it never ends.
        end = position[id(call.completion)] if call.outcome != INFO else float("inf")  # type: ignore[arg-type]
        spans.append(Span(call.invoke, position[id(call.invoke)], end, call.outcome))
    return spans


WriteSide = Callable[[Cut, Op], frozenset[str]]
"""Where, during a cut, the effect of an acknowledged write invoked after the cut can be: the
nodes of one side. Per system: raftkv commits only on the side with a majority; dynkv stores a
write on the coordinator's side (the node the client sent it to); Redis writes at the primary."""


def majority_side(cut: Cut, write: Op) -> frozenset[str]:
    total = sum(len(side) for side in cut.sides)
    return next(side for side in cut.sides if 2 * len(side) > total)


def coordinator_side(cut: Cut, write: Op) -> frozenset[str]:
    return cut.side_of(str(write.node))


def side_of_node(name: str) -> WriteSide:
    return lambda cut, write: cut.side_of(name)


def blind_read(history: Sequence[Op], write_side: WriteSide) -> str | None:
    """A read that cannot have seen a write acknowledged before it began: the certain stale
    read (or, for a value whose write failed, the certain non-linearizable one).

    Within one cut: an acknowledged write W of key k, invoked after the cut was in place; a read
    R of k that completed ok, at a node on the other side from W's effect, invoked after W
    completed and completed before the cut ended. R cannot hold W's value: nothing crosses the
    cut, and W did not exist before it. So R returned a value V that some node on R's side held.
    The window also needs every other write of k that could have put V there (any invoked before
    the cut, and those invoked during it on R's side) to have completed before W was invoked.
    Then V is the initial value or a write that ended before W began, and W ended before R
    began: V was overwritten in real time before R started, which the stale-read checker names.
    (A failed write has no effect in these systems, so V being one is impossible; were it
    possible, reading it is non-linearizable anyway.)

    Returns a description of the first such pair, or None when the run had no such window.
    """
    spans = client_spans(history)
    by_key: dict[str, list[Span]] = {}
    for span in spans:
        if span.op.f in ("read", "write", "cas") and isinstance(span.op.value, (list, tuple)):
            by_key.setdefault(repr(span.op.value[0]), []).append(span)
    for cut in cuts(history):
        for key, ops in by_key.items():
            writes = [s for s in ops if s.op.f != "read"]
            for w in writes:
                if w.outcome != OK or not cut.start < w.start or not w.end < cut.end:
                    continue
                effect = write_side(cut, w.op)
                for r in ops:
                    if (r.op.f != "read" or r.outcome != OK or not w.end < r.start or not r.end < cut.end
                            or r.op.node is None or r.op.node in effect):
                        continue
                    visible = [s for s in writes if s is not w and s.start < r.end
                               and (s.start < cut.start or str(s.op.node) not in effect)]
                    if all(s.end < w.start for s in visible):
                        return (f"key {key}: write {w.op.value} (positions {w.start}-{w.end}) on side "
                                f"{sorted(effect)}, read at {r.op.node} (positions {r.start}-{r.end}) "
                                f"within the cut {cut.start}-{cut.end}")
    return None


def lost_after_kill(history: Sequence[Op]) -> str | None:
    """For seedkv's seed mode (memory only): an add acknowledged before a node was killed, and
    a read at that node that completed ok after the kill. The restarted process starts empty,
    and nothing sends it that element again (adds are unique, and replication to it finished or
    gave up before the add was acknowledged, in the killed process), so the read lacks it:
    the set checker's `lost`. Returns a description, or None."""
    spans = client_spans(history)
    acked_adds = [s for s in spans if s.op.f == "add" and s.outcome == OK]
    kill_invoked: int | None = None
    for i, op in enumerate(history):
        if op.process != "nemesis" or op.f != "kill":
            continue
        if op.type != INFO:
            kill_invoked = i
            continue
        killed = (op.value or {}).get("killed") or []
        if kill_invoked is None or not killed:
            continue
        before = [s for s in acked_adds if s.end < kill_invoked]
        reads = [s for s in spans if s.op.f == "read" and s.outcome == OK and s.start > i and s.op.node in killed]
        if before and reads:
            return (f"add {before[0].op.value} acknowledged at position {before[0].end}, {killed} killed at "
                    f"{kill_invoked}, read at {reads[0].op.node} from position {reads[0].start}")
    return None
