"""Hard single-key cas-register histories, checked with and without the C search's symmetry rule
for crashed ops (wgl._twins), in one process: verdict and seconds of each.

    .venv/bin/python benchmarks/linearizability_symmetry.py
"""
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.history import Op, with_indices
from checkers.linearizable import check, wgl

def crashed_writes_then_reads(reads):
    """30 crashed writes of 1 or 2, then reads alternating 1, 2: 30 reads fit, 31 do not."""
    ops = [Op("invoke", "write", 1 + p % 2, p) for p in range(30)]
    for j in range(reads):
        ops += [Op("invoke", "read", None, 100), Op("ok", "read", 1 + j % 2, 100)]
    return ops


def jepsen_like(n, procs, values, crash, seed):
    """A linearizable cas-register history with a small value range (as Jepsen's 0..4) and a
    share of writes and cas that crash."""
    rng = random.Random(seed); ops = []; value = None; idle = list(range(procs)); nxt = procs; inflight = {}
    started = 0
    while started < n or inflight:
        if idle and started < n and (not inflight or rng.random() < 0.5):
            p = idle.pop(rng.randrange(len(idle))); f = rng.choice(("read", "write", "cas"))
            v = None if f == "read" else rng.randrange(values) if f == "write" else [rng.randrange(values), rng.randrange(values)]
            inflight[p] = [f, v, None]; ops.append(Op("invoke", f, v, p)); started += 1; continue
        p = rng.choice(list(inflight)); f, v, _ = inflight.pop(p)
        if f == "read": t, out = "ok", value
        elif f == "write": value, t, out = v, "ok", v
        elif value == v[0]: value, t, out = v[1], "ok", v
        else: t, out = "fail", v
        if rng.random() < crash and f != "read":
            ops.append(Op("info", f, v, p)); idle.append(nxt); nxt += 1
        else:
            ops.append(Op(t, f, out, p)); idle.append(p)
    return ops

real = wgl._twins
for name, history in [("30 crashed writes of 1 or 2, 30 reads (valid)", crashed_writes_then_reads(30)),
                      ("30 crashed writes of 1 or 2, 31 reads (invalid)", crashed_writes_then_reads(31)),
                      ("1k ops, 20 procs, values 0-4, 10% crashed", jepsen_like(1000, 20, 5, 0.10, 1)),
                      ("2k ops, 20 procs, values 0-4, 10% crashed", jepsen_like(2000, 20, 5, 0.10, 2)),
                      ("1k ops, 20 procs, values 0-4, 10% crashed, one bad read", None)]:
    if history is None:
        history = jepsen_like(1000, 20, 5, 0.10, 1)
        history += [Op("invoke", "read", None, 999), Op("ok", "read", 7, 999)]
    for label, twins in (("without", lambda *a: None), ("with", real)):
        wgl._twins = twins
        t = time.perf_counter()
        r = check(with_indices(history), {"model": "cas-register", "time_limit": 60, "memory_limit": 1 << 30})
        print(f"{name:55s} {label:8s} {str(r['valid']):8s} {time.perf_counter() - t:7.2f} s  {r.get('algorithm')}", flush=True)
