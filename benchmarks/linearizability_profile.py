"""Where the linearizability checker's time and memory go, stage by stage, on a generated keyed
register history (1000 keys), for the general path and the lean one.

    .venv/bin/python benchmarks/linearizability_profile.py [--ops 100000] [--processes 20]

General path: reading the file into ops (with the shape check), pairing and splitting by key
into entries, the reads-from checks and searches per key, the history's stats. Lean path
(checkers/linearizable/lean.py): decoding the file a block at a time while checking, pairing
and splitting the maps, then the C searches. Each line gives the stage's wall time and the resident size after it; the peak
is the process's at the end. Run each path in its own process (the default does) so neither
inherits the other's memory.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20


class Stages:
    def __init__(self) -> None:
        self.last = time.perf_counter()

    def mark(self, name: str) -> None:
        now = time.perf_counter()
        print(f"  {name:44s} {now - self.last:8.3f} s   resident {_resident_mib():7.0f} MiB", flush=True)
        self.last = now


def general(path: Path) -> None:
    stages = Stages()
    from checkers.linearizable import checker, models, readsfrom
    from checkers.linearizable.prepare import partitions
    from checkers.linearizable.wgl import Budget
    from harness.history import with_indices
    from harness.history_reader import read_history
    from harness.judge import history_stats
    stages.mark("imports")
    history = read_history(path)
    stages.mark("read_history (ops, shape check)")
    ops = with_indices(list(history))
    parts = partitions(ops, models.cas_register, keyed=True)
    stages.mark(f"pair and split into {len(parts)} partitions")
    for part in parts:
        part.entries = readsfrom.drop_unobserved_writes(part.entries)
    stages.mark("drop unobserved writes")
    budget = Budget(None, checker.default_memory_limit())
    statuses = [checker.check_partition(part, models.cas_register, budget, True)[0].status for part in parts]
    stages.mark(f"check each key ({statuses.count('valid')} valid)")
    history_stats(history)
    stages.mark("history stats")


def lean(path: Path) -> None:
    stages = Stages()
    import orjson

    from checkers.linearizable import lean as lean_path
    from checkers.linearizable import models
    from checkers.linearizable.wgl import Budget, advance_c, start_c_register
    stages.mark("imports")
    gc.disable()
    with open(path, "rb") as f:
        data = f.read()
    rows = orjson.loads(b"[" + data.rstrip(b"\n").replace(b"\n", b",") + b"]")
    stages.mark(f"(for scale: decode all {len(rows)} lines at once)")
    del rows, data
    with open(path, "rb") as f:
        parts, _ = lean_path._split(lean_path._decoded_blocks(f), models.cas_register, "absent")
    stages.mark(f"decode by blocks, check, pair, split: {len(parts)} keys")
    budget = Budget(None, None, None, lean_path.KEY_STEPS)
    statuses = []
    for values, spec, determinate, events in parts.values():
        statuses.append(advance_c(start_c_register(values, spec, determinate, events), budget))
    stages.mark(f"C search per key ({statuses.count('valid')} valid)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--path", choices=["general", "lean"], help="profile one path in this process")
    parser.add_argument("--file", type=Path, help="with --path: the history to profile")
    args = parser.parse_args()
    if args.path:
        {"general": general, "lean": lean}[args.path](args.file)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"  {'peak resident':44s} {'':10s} {peak:16.0f} MiB")
        return
    from benchmarks.linearizability import generated_register
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "register.jsonl"
        with open(path, "w") as f:
            for op in generated_register(args.ops, 1000, args.processes):
                f.write(json.dumps(op.to_dict()) + "\n")
        for which in ("general", "lean"):
            print(f"{which} path, {args.ops} ops, 1000 keys, {args.processes} processes")
            subprocess.run([sys.executable, __file__, "--path", which, "--file", str(path)], check=True)


if __name__ == "__main__":
    main()
