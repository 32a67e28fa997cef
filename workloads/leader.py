"""The leader workload: each node's belief of leadership over time, reported as ops.

Clients poll the nodes in turn with `status {node}`; an ok status completes with
`{node, leader, epoch}`: whether that node believed it led, and in which epoch, at some instant
between the op's invocation and completion. Every `resign_seconds` (default 1.5) the next op is
instead `resign {node}` to the next node in turn, which makes it step down if it leads: a cluster
where leadership never changes exercises no election. The cadence is in seconds, not ops: counted
in ops (it was every 40th) a fast client load resigned every leader within a second, and under
`--nemesis all`'s unthrottled bursts within milliseconds, so no leader lived long enough for a
fault to outlast its lease (electd renew-without-owner-check was never caught at the spec's
default 100 ops/s). Checked by `leader` (at most one leader at a time and per epoch; epochs only
grow).

Parameters (`System.workload_params["leader"]`): `resign_seconds` (0 = never resign).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from harness.generator.core import PENDING, Context, Generator, invocation
from harness.seams import WorkloadOptions


class LeaderOps(Generator):
    """Polls node after node; pure, like every generator: its fields are its whole state."""

    __slots__ = ("nodes", "resign_ns", "count", "resigns", "next_resign")

    def __init__(self, nodes: Sequence[str], resign_ns: int, count: int = 0, resigns: int = 0,
                 next_resign: int | None = None):
        self.nodes, self.resign_ns, self.count, self.resigns = tuple(nodes), resign_ns, count, resigns
        self.next_resign = resign_ns if next_resign is None else next_resign  # ns since the start

    def op(self, ctx: Context):
        thread = ctx.some_free_thread()
        if thread is None:
            return PENDING, self
        if self.resign_ns > 0 and ctx.time >= self.next_resign:
            node = self.nodes[self.resigns % len(self.nodes)]
            op = invocation("resign", {"node": node}, ctx.workers[thread], ctx.time)
            return op, LeaderOps(self.nodes, self.resign_ns, self.count, self.resigns + 1, ctx.time + self.resign_ns)
        node = self.nodes[self.count % len(self.nodes)]
        op = invocation("status", {"node": node}, ctx.workers[thread], ctx.time)
        return op, LeaderOps(self.nodes, self.resign_ns, self.count + 1, self.resigns, self.next_resign)


class LeaderWorkload:
    name = "leader"
    description = "clients poll every node's leadership belief and now and then ask one to resign; checked for split brain"

    def generator(self, options: WorkloadOptions) -> Any:
        return LeaderOps(options.nodes, int(float(options.params.get("resign_seconds", 1.5)) * 1e9))

    def final_generator(self, options: WorkloadOptions) -> Any:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"leader": {}}
