"""How many ops/s the runner records: 10 client processes against an in-process no-op client
(the harness alone), and against seedkv on a real 3-node local cluster.

    .venv/bin/python benchmarks/runner_overhead.py [--ops 200000] [--seconds 10] [--skip-cluster]

Prints the figures; asserts nothing (targets are read by a person: >= 20,000 ops/s no-op).
"""

from __future__ import annotations

import argparse
import os
import logging
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.generator.combinators import clients, limit
from harness.history import Op
from harness.journal import HistoryWriter
from harness.interpreter import Interpreter
from harness.lifecycle import run_test
from harness.spec import RunStatus, TestSpec
from workloads.set import UniqueAdds


@dataclass
class _Node:
    name: str


@dataclass
class _NoCluster:
    nodes: list = field(default_factory=lambda: [_Node("n1"), _Node("n2"), _Node("n3")])


class _NoopClient:
    def open(self, cluster, node) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        return op.complete("ok")

    def close(self) -> None:
        pass


class _NoopSystem:
    def client(self, cluster) -> _NoopClient:
        return _NoopClient()


def noop_ops_per_second(ops: int, concurrency: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = TestSpec(system="noop", workload="set", concurrency=concurrency, time_limit=3600)
        journal = HistoryWriter(Path(tmp) / "history.jsonl", flush_each=False)
        log = logging.getLogger("benchmark")
        interpreter = Interpreter(spec, _NoCluster(), _NoopSystem(), [], journal, RunStatus(), log)
        started, cpu_started = time.perf_counter(), time.process_time()
        interpreter.run(clients(limit(ops, UniqueAdds())))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        journal.close()
        recorded = sum(1 for op in journal.ops if op.type == "ok")
        return recorded / elapsed, recorded / cpu, len(journal.ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit of the seedkv run")
    parser.add_argument("--skip-cluster", action="store_true", help="only the no-op measurement (no root needed)")
    args = parser.parse_args()

    rate, cpu_rate, events = noop_ops_per_second(args.ops, 10)
    print(f"no-op client, 10 processes: {rate:,.0f} ops/s wall clock, {cpu_rate:,.0f} ops per CPU-second "
          f"({args.ops:,} ops, {events:,} history events; load average {os.getloadavg()[0]:.1f})")
    if args.skip_cluster:
        return
    with tempfile.TemporaryDirectory() as store:
        spec = TestSpec(system="seedkv", mode="seed", workload="set", nodes=3, concurrency=10,
                        time_limit=args.seconds, rate=0, store=store, seed=1)
        status = RunStatus()
        outcome = run_test(spec, status)
        stats = outcome.results["stats"]
        print(f"seedkv seed mode, 3 nodes, 10 processes, unthrottled: "
              f"{stats['ops'] / args.seconds:,.0f} ops/s ({stats['ops']:,} ops in {args.seconds:g} s main phase)")


if __name__ == "__main__":
    main()
