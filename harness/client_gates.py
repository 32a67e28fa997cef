"""Client pauses: one gate per client worker thread, which a nemesis closes to stall that client
in the middle of an operation, as SIGSTOP or a long GC pause stalls a client process.

Our clients are threads of the controller, so a client "process" pause is done here rather than
with a signal. A worker passes its gate at two points of every op:

- after the invocation is recorded, before the request is sent ("before-send"): a client that
  was idle when paused has decided to act but says nothing until it wakes;
- after the reply has arrived, before the completion is recorded ("after-reply"): the classic
  lease hazard. The client has been granted a lock or lease, stalls past its expiry, then wakes
  believing it still holds it; its completion (and whatever it does next) is recorded late.

A paused process stops wherever it happens to be, so both points are always used: an op in
flight when the gate closes stalls after its reply, an op handed over during the pause stalls
before it is sent. Either way the history shows what a real pause shows: an invocation, silence,
then a late completion.

A gate reopens on its own after the pause's length (so a busy nemesis thread cannot stretch it),
when the nemesis resumes it, or when the run ends.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from harness.history import Op

BEFORE_SEND = "before-send"
AFTER_REPLY = "after-reply"


@dataclass
class Stall:
    """One op held at a gate; `seconds` is filled in when it is let go."""

    thread: int
    process: Any
    op: int | None  # the invocation's index in the history
    f: Any
    where: str  # BEFORE_SEND or AFTER_REPLY
    arrived: float  # monotonic seconds
    seconds: float | None = None

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        del out["arrived"]
        return out


class Gates:
    """The runner's implementation of `harness.seams.ClientGates`."""

    def __init__(self, threads: Sequence[int], process_of: Callable[[int], Any]):
        self.threads = tuple(threads)
        self._process_of = process_of
        self._changed = threading.Condition()
        self._until: dict[int, float] = {}  # thread -> monotonic deadline while its gate is closed
        self._stalls: list[Stall] = []  # not yet reported by `open`

    def close(self, threads: Sequence[int], seconds: float) -> dict[int, Any]:
        unknown = [t for t in threads if t not in self.threads]
        if unknown:
            raise ValueError(f"no client thread {unknown}; this run has threads 0..{len(self.threads) - 1}")
        if seconds < 0:
            raise ValueError(f"a pause cannot last {seconds} s")
        until = time.monotonic() + seconds
        with self._changed:
            for thread in threads:
                self._until[thread] = until
        return {thread: self._process_of(thread) for thread in threads}

    def open(self, threads: Sequence[int] | None = None) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._changed:
            for thread in list(self._until) if threads is None else threads:
                self._until.pop(thread, None)
            self._changed.notify_all()
            ended = [s for s in self._stalls if threads is None or s.thread in threads]
            self._stalls = [s for s in self._stalls if not (threads is None or s.thread in threads)]
            for stall in ended:
                if stall.seconds is None:  # still waiting: it wakes just after this
                    stall.seconds = round(now - stall.arrived, 6)
            return [stall.describe() for stall in ended]

    def closed(self) -> list[int]:
        """Threads whose gate is closed now (a lapsed pause counts as open)."""
        now = time.monotonic()
        with self._changed:
            return sorted(t for t, until in self._until.items() if until > now)

    def stalled(self) -> list[int]:
        """Threads held at their gate right now."""
        with self._changed:
            return sorted({s.thread for s in self._stalls if s.seconds is None})

    def wait(self, thread: int, op: Op, where: str) -> None:
        """Called by the worker of `thread` at each of its gate points; returns at once when the
        gate is open, else when it opens."""
        if thread not in self._until:
            return  # the common case, every op: no lock (a dict lookup is atomic under the GIL)
        with self._changed:
            until = self._until.get(thread)
            if until is None or until <= time.monotonic():
                return
            stall = Stall(thread, op.process, op.index, op.f, where, time.monotonic())
            self._stalls.append(stall)
            while True:
                until = self._until.get(thread)
                left = until - time.monotonic() if until is not None else 0.0
                if left <= 0:
                    break
                self._changed.wait(timeout=left)
            self._until.pop(thread, None)
            if stall.seconds is None:
                stall.seconds = round(time.monotonic() - stall.arrived, 6)
