"""How fast the linearizability checker answers, and how much memory it takes.

    .venv/bin/python benchmarks/linearizability.py [--engine c|python] [--ops 100000]

Prints, per file of the shared corpora and for a generated keyed register history: the time to
read the file, the time to check it (wall clock and CPU of this process and its workers), the
verdict, and at the end the peak resident size of this process and of any worker. Targets (issue
3): porcupine-kv c50-ok.txt under 140 ms, the knossos cas-register corpus under 10 s, the
generated 100,000-op history under 10 s, nothing above 2 GB resident. Also shown: the same
number of ops on one register, one long partition.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import Op

from harness.history_reader import read_history
from checkers.linearizable import check  # noqa: E402

CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"
if not CORPORA.is_dir():
    CORPORA = Path("/work/shared/corpora")


def cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(path: Path, options: dict) -> dict:
    t0, c0 = time.perf_counter(), cpu()
    history = read_history(path)
    t1, c1 = time.perf_counter(), cpu()
    result = check(history, options)
    t2, c2 = time.perf_counter(), cpu()
    return {"read_ms": (t1 - t0) * 1e3, "check_ms": (t2 - t1) * 1e3, "check_cpu_ms": (c2 - c1) * 1e3,
            "read_cpu_ms": (c1 - c0) * 1e3, "valid": result["valid"], "algorithm": result["algorithm"]}


def row(name: str, m: dict) -> str:
    return (f"  {name:44s} read {m['read_ms']:8.1f} ms  check {m['check_ms']:8.1f} ms "
            f"(cpu {m['check_cpu_ms']:8.1f})  total {m['read_ms'] + m['check_ms']:8.1f} ms  "
            f"{str(m['valid']):7s} {m['algorithm']}")


def corpus(title: str, files: list[Path], options: dict) -> None:
    print(title)
    totals = {"read_ms": 0.0, "check_ms": 0.0, "check_cpu_ms": 0.0, "read_cpu_ms": 0.0}
    for path in files:
        m = measure(path, options)
        for k in totals:
            totals[k] += m[k]
        print(row(path.name, m))
    print(f"  {'TOTAL (' + str(len(files)) + ' files)':44s} read {totals['read_ms']:8.1f} ms  check "
          f"{totals['check_ms']:8.1f} ms (cpu {totals['check_cpu_ms']:8.1f})  total "
          f"{totals['read_ms'] + totals['check_ms']:8.1f} ms")


def generated_register(n_ops: int, n_keys: int, n_procs: int, seed: int = 1) -> list[Op]:
    """A keyed read/write/cas history, linearizable by construction: each op takes effect at a
    random moment while it is in flight. Keys are used a few at a time (a sliding window), values
    are unique per key, about 1% of ops crash (info) and some cas fail."""
    rng = random.Random(seed)
    per_key = n_ops // n_keys
    window = min(10, n_keys)
    next_key, active = window, list(range(window))
    used = {k: 0 for k in range(n_keys)}
    value = {k: None for k in range(n_keys)}
    counter = {k: 0 for k in range(n_keys)}
    ops: list[Op] = []
    idle = list(range(n_procs))
    next_process = n_procs
    inflight: dict[int, dict] = {}
    started = 0
    while started < n_ops or inflight:
        if idle and started < n_ops and active and (not inflight or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle)))
            key = rng.choice(active)
            used[key] += 1
            if used[key] >= per_key:
                active.remove(key)
                if next_key < n_keys:
                    active.append(next_key)
                    next_key += 1
            f = rng.choice(("read", "write", "cas"))
            if f == "write":
                counter[key] += 1
                v = counter[key]
            elif f == "cas":
                counter[key] += 1
                v = [value[key] if rng.random() < 0.7 else rng.randint(1, counter[key]), counter[key]]
            else:
                v = None
            inflight[p] = {"key": key, "f": f, "v": v, "done": False}
            ops.append(Op("invoke", f, [key, v], p, time=len(ops)))
            started += 1
            continue
        p = rng.choice(list(inflight))
        rec = inflight[p]
        if not rec["done"]:
            key, f, v = rec["key"], rec["f"], rec["v"]
            if f == "read":
                rec["out"], rec["type"] = value[key], "ok"
            elif f == "write":
                value[key], rec["out"], rec["type"] = v, v, "ok"
            elif value[key] == v[0]:
                value[key], rec["out"], rec["type"] = v[1], v, "ok"
            else:
                rec["out"], rec["type"] = v, "fail"
            rec["done"] = True
            if rng.random() < 0.5:
                continue
        del inflight[p]
        if rng.random() < 0.01:
            ops.append(Op("info", rec["f"], [rec["key"], rec["v"]], p, time=len(ops)))
            idle.append(next_process)
            next_process += 1
        else:
            ops.append(Op(rec["type"], rec["f"], [rec["key"], rec["out"]], p, time=len(ops)))
            idle.append(p)
    return ops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="auto", choices=["auto", "c", "python"])
    parser.add_argument("--ops", type=int, default=100_000)
    args = parser.parse_args()
    engine = {"auto": "auto", "c": "auto", "python": "python"}[args.engine]

    knossos = CORPORA / "knossos"
    corpus("porcupine-kv (model kv)", sorted((CORPORA / "porcupine-kv").glob("*.txt")),
           {"model": "kv", "engine": engine})
    corpus("knossos cas-register (model cas-register)",
           sorted((knossos / "cas-register").glob("*/*.edn")), {"model": "cas-register", "engine": engine})
    corpus("knossos mutex", sorted((knossos / "mutex").glob("*/*.edn")), {"model": "mutex", "engine": engine})

    print(f"generated register history: {args.ops} ops over 1000 keys, 20 processes")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "register.jsonl"
        history = generated_register(args.ops, 1000, 20)
        with open(path, "w") as f:
            for op in history:
                f.write(json.dumps(op.to_dict()) + "\n")
        m = measure(path, {"model": "cas-register", "keyed": True, "engine": engine})
        print(row(f"register-{args.ops}.jsonl ({len(history)} events)", m))

    print(f"the same ops on one register (not keyed): one long partition")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one-register.jsonl"
        with open(path, "w") as f:
            for op in generated_register(args.ops, 1, 20):
                f.write(json.dumps({**op.to_dict(), "value": op.value[1]}) + "\n")
        m = measure(path, {"model": "cas-register", "engine": engine, "time_limit": 60})
        print(row(f"one-register-{args.ops}.jsonl", m))

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak resident: this process {own:.0f} MiB, largest worker {kids:.0f} MiB")


if __name__ == "__main__":
    main()
