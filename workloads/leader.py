"""The leader workload: each node's belief of leadership over time, reported as ops.

Clients poll the nodes in turn with `status {node}`; an ok status completes with
`{node, leader, epoch}`: whether that node believed it led, and in which epoch, at some instant
between the op's invocation and completion. Every `resign_every`-th op (default 40) is instead
`resign {node}` to the next node in turn, which makes it step down if it leads: a cluster where
leadership never changes exercises no election. Checked by `leader` (at most one leader at a
time and per epoch; epochs only grow).

Parameters (`System.workload_params["leader"]`): `resign_every` (0 = never resign).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.seams import WorkloadOptions


class LeaderOps(Generator):
    """Polls node after node; pure, like every generator: the count is its whole state."""

    __slots__ = ("nodes", "resign_every", "count")

    def __init__(self, nodes: Sequence[str], resign_every: int, count: int = 0):
        self.nodes, self.resign_every, self.count = tuple(nodes), resign_every, count

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        resign = self.resign_every > 0 and self.count % self.resign_every == self.resign_every - 1
        if resign:
            node = self.nodes[(self.count // self.resign_every) % len(self.nodes)]
        else:
            node = self.nodes[self.count % len(self.nodes)]
        op = invocation("resign" if resign else "status", {"node": node}, ctx.workers[thread], ctx.time)
        return op, LeaderOps(self.nodes, self.resign_every, self.count + 1)


class LeaderWorkload:
    name = "leader"
    description = "clients poll every node's leadership belief and now and then ask one to resign; checked for split brain"

    def generator(self, options: WorkloadOptions) -> Any:
        return LeaderOps(options.nodes, int(options.params.get("resign_every", 40)))

    def final_generator(self, options: WorkloadOptions) -> Any:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"leader": {}}
