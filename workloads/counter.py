"""The counter workload: increments and reads of one counter.

Clients: `add 1` increments (ok: applied; a client may retry on timeout under one idempotency
key, and reports info if it never learnt the outcome), `read` completes ok with the count.
Judged by the `counter` checker: each read must lie between the increments acknowledged before
it began and those attempted before it ended.
"""

from __future__ import annotations

from typing import Any, Mapping

from harness.generator.combinators import cycle, mix
from harness.seams import WorkloadOptions


class CounterWorkload:
    name = "counter"
    description = "increments and reads of one counter; reads must lie between acknowledged and attempted sums"

    def generator(self, options: WorkloadOptions) -> Any:
        # Three adds to a read: enough reads to catch a drift soon, enough adds to make one.
        return mix([cycle({"f": "add", "value": 1})] * 3 + [cycle({"f": "read"})], seed=f"{options.seed}:counter")

    def final_generator(self, options: WorkloadOptions) -> Any:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"counter": {}}
