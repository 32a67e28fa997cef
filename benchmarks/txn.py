"""Time and peak memory of the list-append checker (strict serializability) on generated
histories: a simulated serializable store whose txns take effect at their completion, with
`concurrency` clients overlapping, a hot set of keys retired after 32 appends.

    .venv/bin/python benchmarks/txn.py [--sizes 10000,100000,1000000] [--concurrency 10,50]
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from checkers.txn import check_list_append
from harness.history import Op


def generate(n: int, concurrency: int, seed: int = 1) -> list[Op]:
    rng = random.Random(seed)
    state: dict[int, list[int]] = {}
    next_key, hot = 0, list(range(8))
    next_key = 8
    ops: list[Op] = []
    pending: list[tuple[int, list]] = []
    for i in range(n):
        if len(pending) >= concurrency:
            process, mops = pending.pop(rng.randrange(len(pending)))
            done = []
            for f, k, v in mops:  # takes effect now, at its completion: serializable in real time
                if f == "append":
                    state.setdefault(k, []).append(v)
                    done.append([f, k, v])
                else:
                    done.append([f, k, list(state.get(k, []))])
            ops.append(Op("ok", "txn", done, process))
        mops = []
        for _ in range(rng.randint(1, 4)):
            k = rng.choice(hot)
            if len(state.get(k, [])) >= 32:
                hot[hot.index(k)] = next_key
                k, next_key = next_key, next_key + 1
            mops.append(["append", k, i * 4 + len(mops)] if rng.random() < 0.5 else ["r", k, None])
        busy = {p for p, _ in pending}
        process = next(p for p in range(concurrency) if p not in busy)
        ops.append(Op("invoke", "txn", [list(m) for m in mops], process))
        pending.append((process, mops))
    for i, op in enumerate(ops):
        op.index = i
    return ops


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--concurrency", default="10,50")
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    print(f"{'txns':>8} {'conc':>4} {'verdict':>8} {'check s':>8} {'peak MB':>8}")
    for n in map(int, args.sizes.split(",")):
        for c in map(int, args.concurrency.split(",")):
            history = generate(n, c)
            t = time.monotonic()
            r = check_list_append(history, {"model": "strict-serializable", "time-limit": args.time_limit,
                                            "memory-mb": 8192})
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{n:>8} {c:>4} {str(r['valid']):>8} {time.monotonic() - t:>8.2f} {peak:>8.0f}", flush=True)
            del history, r


if __name__ == "__main__":
    main()
