"""The list-append workload (Elle's): transactions that append unique values to lists and read
whole lists, so every read reveals its key's version order. Generator: `workloads.transactions`;
judged by the `list-append` checker for strict serializability (checkers/txn)."""

from __future__ import annotations

from typing import Any, Mapping

from harness.seams import WorkloadOptions
from workloads.transactions import txn_generator


class ListAppendWorkload:
    name = "list-append"
    description = ("Elle-style transactions of 1-4 appends and whole-list reads on a few hot keys; "
                   "checked for dependency cycles and the anomalies each isolation level forbids")

    def generator(self, options: WorkloadOptions) -> Any:
        return txn_generator("append", options)

    def final_generator(self, options: WorkloadOptions) -> Any | None:
        return None

    def checkers(self) -> Mapping[str, Mapping[str, Any]]:
        return {"list-append": {"model": "strict-serializable"}}
