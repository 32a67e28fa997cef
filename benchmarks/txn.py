"""Time and peak memory of the list-append checker (strict serializability) on generated
histories: a simulated serializable store whose txns take effect at their completion, with
`concurrency` clients overlapping, a hot set of keys retired after 32 appends.

Each row runs in a fresh process, so its peak memory (ru_maxrss) is that row's whole process:
the generated history, the check and everything imported. Wall seconds are the check's; CPU
seconds too (the machine is shared: wall time swells with the load, CPU time much less).

    .venv/bin/python benchmarks/txn.py [--sizes 10000,100000,1000000] [--concurrency 10,50]
    .venv/bin/python benchmarks/txn.py --profile --sizes 100000 --concurrency 50
    .venv/bin/python benchmarks/txn.py --libraries --sizes 10000,100000

--profile prints the seconds of each phase of the check and cProfile's top functions;
--libraries times strongly connected components on the same dependency graph with the pure
Python Tarjan the checker used before, networkx, scipy.sparse.csgraph and rustworkx (the
`bench` extra), each over the graph in the structure that library needs, conversion timed apart.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.history import Op  # noqa: E402


def generate(n: int, concurrency: int, seed: int = 1) -> list[Op]:
    rng = random.Random(seed)
    state: dict[int, list[int]] = {}
    hot = list(range(8))
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


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def one_row(n: int, concurrency: int, time_limit: float, memory_mb: int) -> dict:
    """Generate and check one history in this process; the figures as a dict."""
    from checkers.txn import check_list_append

    t = time.monotonic()
    history = generate(n, concurrency)
    generated = time.monotonic() - t
    before = _peak_mb()
    wall, cpu = time.monotonic(), time.process_time()
    r = check_list_append(history, {"model": "strict-serializable", "time-limit": time_limit, "memory-mb": memory_mb})
    return {"txns": n, "concurrency": concurrency, "valid": r["valid"], "reason": r.get("reason", ""),
            "check_s": time.monotonic() - wall, "cpu_s": time.process_time() - cpu, "generate_s": generated,
            "peak_mb_history": before, "peak_mb": _peak_mb(), "phases": r.get("stats", {}).get("phases", {}),
            "edges": r.get("stats", {}).get("edges")}


def table(sizes: list[int], concs: list[int], time_limit: float, memory_mb: int) -> None:
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}, time limit {time_limit:g} s, "
          f"memory ceiling {memory_mb} MB", flush=True)
    print(f"{'txns':>8} {'conc':>4} {'verdict':>8} {'check s':>8} {'cpu s':>7} {'peak MB':>8} "
          f"{'hist MB':>8}  phases (s)", flush=True)
    for n in sizes:
        for c in concs:
            # a row in a child process: its own peak memory, and a kill (which must not happen)
            # would show as such instead of ending the table
            proc = subprocess.run([sys.executable, __file__, "--row", f"{n},{c}", "--time-limit", str(time_limit),
                                   "--memory-mb", str(memory_mb)], capture_output=True, text=True)
            if proc.returncode != 0:
                print(f"{n:>8} {c:>4} {'DIED':>8} exit {proc.returncode}: {proc.stderr.strip()[-300:]}", flush=True)
                continue
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            phases = " ".join(f"{k} {v:.2f}" for k, v in row["phases"].items())
            print(f"{n:>8} {c:>4} {str(row['valid']):>8} {row['check_s']:>8.2f} {row['cpu_s']:>7.2f} "
                  f"{row['peak_mb']:>8.0f} {row['peak_mb_history']:>8.0f}  {phases}"
                  + ("" if row["valid"] is True else f"  [{row['reason'][:120]}]"), flush=True)


def profile(n: int, concurrency: int, time_limit: float) -> None:
    import cProfile
    import pstats

    from checkers.txn import check_list_append

    history = generate(n, concurrency)
    print(f"{n} txns, concurrency {concurrency}; peak RSS with the history alone {_peak_mb():.0f} MB; "
          f"load average {os.getloadavg()[0]:.1f}")
    profiler = cProfile.Profile()
    profiler.enable()
    r = check_list_append(history, {"model": "strict-serializable", "time-limit": time_limit})
    profiler.disable()
    print(f"verdict {r['valid']}; stats {r.get('stats')}; peak RSS {_peak_mb():.0f} MB")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def libraries(n: int, concurrency: int) -> None:
    """SCCs of one graph (every edge kind, as the checker's first pass) by each library."""
    import numpy as np

    from checkers.txn import list_append
    from checkers.txn.checker import _order_edges
    from checkers.txn.graph import PROCESS, REALTIME, Deadline, Edges, Graph
    from checkers.txn.transactions import transactions

    txns = transactions(generate(n, concurrency))
    edges = Edges(len(txns))
    list_append.analyse(txns, edges, Deadline(float("inf")))
    _order_edges(txns, edges, [0, PROCESS, REALTIME], Deadline(float("inf")))
    graph = Graph(edges)
    src, dst = graph.src, graph.dst
    print(f"{n} txns, concurrency {concurrency}: {graph.n} nodes, {graph.edge_count} edges; "
          f"load average {os.getloadavg()[0]:.1f}")

    def timed(name: str, build, run) -> None:
        t = time.process_time()
        structure = build()
        built = time.process_time() - t
        t = time.process_time()
        comps = run(structure)
        ran = time.process_time() - t
        print(f"  {name:<22} build {built:6.3f} s   scc {ran:6.3f} s   nontrivial components {comps}", flush=True)

    def scipy_run(m):
        from scipy.sparse.csgraph import connected_components
        count, labels = connected_components(m, directed=True, connection="strong")
        return int((np.bincount(labels) > 1).sum())

    from scipy.sparse import csr_matrix
    timed("scipy.sparse.csgraph", lambda: csr_matrix((np.ones(len(src), np.int8), (src, dst)), shape=(graph.n, graph.n)),
          scipy_run)
    timed("pure Python Tarjan", lambda: _adjacency_lists(graph.n, src.tolist(), dst.tolist()), _tarjan_count)
    import networkx as nx

    def nx_build():
        g = nx.DiGraph()
        g.add_nodes_from(range(graph.n))
        g.add_edges_from(zip(src.tolist(), dst.tolist()))
        return g
    timed("networkx", nx_build, lambda g: sum(1 for c in nx.strongly_connected_components(g) if len(c) > 1))
    try:
        import rustworkx as rx
    except ImportError:
        print("  rustworkx              not installed (pip install -e '.[bench]')")
        return

    def rx_build():
        g = rx.PyDiGraph()
        g.add_nodes_from(range(graph.n))
        g.add_edges_from_no_data(list(zip(src.tolist(), dst.tolist())))
        return g
    timed("rustworkx", rx_build, lambda g: sum(1 for c in rx.strongly_connected_components(g) if len(c) > 1))


def _adjacency_lists(n: int, src: list[int], dst: list[int]) -> list[list[int]]:
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(src, dst):
        out[a].append(b)
    return out


def _tarjan_count(out: list[list[int]]) -> int:
    """Iterative Tarjan, as the checker had it before it used scipy: the count of components
    of more than one node."""
    n = len(out)
    index, low, on_stack = [-1] * n, [0] * n, [False] * n
    stack: list[int] = []
    counter = found = 0
    for root in range(n):
        if index[root] != -1:
            continue
        work = [(root, iter(out[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if index[nxt] == -1:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack[nxt] = True
                    work.append((nxt, iter(out[nxt])))
                    advanced = True
                    break
                if on_stack[nxt] and index[nxt] < low[node]:
                    low[node] = index[nxt]
            if advanced:
                continue
            work.pop()
            if work and low[node] < low[work[-1][0]]:
                low[work[-1][0]] = low[node]
            if low[node] == index[node]:
                size = 0
                while True:
                    x = stack.pop()
                    on_stack[x] = False
                    size += 1
                    if x == node:
                        break
                found += size > 1
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--concurrency", default="10,50")
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--memory-mb", type=int, default=8192, help="the checker's address-space ceiling")
    parser.add_argument("--profile", action="store_true", help="phases and cProfile's top functions")
    parser.add_argument("--libraries", action="store_true", help="SCCs by each graph library on the same graph")
    parser.add_argument("--row", help=argparse.SUPPRESS)  # n,concurrency: one row, in a child process
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    concs = [int(c) for c in args.concurrency.split(",")]
    if args.row:
        n, c = map(int, args.row.split(","))
        print(json.dumps(one_row(n, c, args.time_limit, args.memory_mb), default=str))
    elif args.profile:
        for n in sizes:
            for c in concs:
                profile(n, c, args.time_limit)
    elif args.libraries:
        for n in sizes:
            for c in concs:
                libraries(n, c)
    else:
        table(sizes, concs, args.time_limit, args.memory_mb)


if __name__ == "__main__":
    main()
