"""The set workload: clients add unique integers; at the end every client reads the whole set.

Judged by the `set` checker: an acknowledged add missing from a final read is a lost write.
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.combinators import each_thread
from harness.generator.core import PENDING, Context, Generator, invocation
from harness.seams import WorkloadOptions


class UniqueAdds(Generator):
    """`add 0`, `add 1`, ... on whichever client thread is free: every element is unique."""

    __slots__ = ("next_element",)

    def __init__(self, next_element: int = 0):
        self.next_element = next_element

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        op = invocation("add", self.next_element, ctx.workers[thread], ctx.time)
        return op, UniqueAdds(self.next_element + 1)


class SetWorkload:
    name = "set"
    description = "clients add unique elements; final reads from every node must hold every acknowledged one"

    def generator(self, options: WorkloadOptions) -> Any:
        return UniqueAdds()

    def final_generator(self, options: WorkloadOptions) -> Any:
        # Client threads are bound to nodes round robin, so one read per thread reads every node
        # when there are at least as many clients as nodes.
        return each_thread({"f": "read"})

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"set": {}}
