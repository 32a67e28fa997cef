"""The queue workload (Jepsen's total-queue): enqueue unique integers, dequeue with ack, drain.

Clients: `enqueue v` puts v; `dequeue` takes one message and acknowledges it, completing ok with
the message (nil if the queue was empty), or info with the message if the ack's fate is unknown;
`drain` dequeues and acknowledges until the queue is empty, completing with the list taken.
Judged by the `queue` checker with `leased` (a dequeue never acknowledged consumes nothing, so
every missing acknowledged message is lost); order is not checked, since redelivery legitimately
reorders (a system that promises order can add the checker with `fifo` through its own checkers).
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.combinators import cycle, each_thread, mix
from harness.generator.core import PENDING, Context, Generator, invocation
from harness.seams import WorkloadOptions


class UniqueEnqueues(Generator):
    """`enqueue 0`, `enqueue 1`, ... on whichever client thread is free."""

    __slots__ = ("next_value",)

    def __init__(self, next_value: int = 0):
        self.next_value = next_value

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        return invocation("enqueue", self.next_value, ctx.workers[thread], ctx.time), UniqueEnqueues(self.next_value + 1)


class QueueWorkload:
    name = "queue"
    description = "enqueue unique values, dequeue with ack, drain at the end; no acknowledged message lost or delivered twice"

    def generator(self, options: WorkloadOptions) -> Any:
        return mix([UniqueEnqueues(), cycle({"f": "dequeue"})], seed=f"{options.seed}:queue")

    def final_generator(self, options: WorkloadOptions) -> Any:
        return each_thread({"f": "drain"})

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"queue": {"leased": True}}
