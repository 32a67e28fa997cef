"""The rw-register workload (Elle's): transactions that write unique values to registers and
read them. Reads reveal less of the version order than list-append's, so the checker infers it
from the initial state, writes-follow-reads, process and real-time order. Generator:
`workloads.transactions`; judged by the `rw-register` checker for strict serializability."""

from __future__ import annotations

from typing import Any, Mapping

from harness.seams import WorkloadOptions
from workloads.transactions import txn_generator


class RWRegisterWorkload:
    name = "rw-register"
    description = ("Elle-style transactions of 1-4 register writes (unique values) and reads on a few "
                   "hot keys; checked for dependency cycles and the anomalies each isolation level forbids")

    def generator(self, options: WorkloadOptions) -> Any:
        return txn_generator("w", options)

    def final_generator(self, options: WorkloadOptions) -> Any | None:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"rw-register": {"model": "strict-serializable"}}
