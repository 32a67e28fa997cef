"""Transactional anomaly checking after Adya and Elle (Kingsbury and Alvaro, VLDB 2020):
infer version orders from a black-box history, build the dependency graph, search it for the
cycles each consistency model forbids, and name the models ruled out.

History format (shared with the txkv workloads, /work/wt/notes/txn-format.md). It is what
`harness.history_reader` makes of Elle's EDN, so faultline JSONL and Jepsen EDN read alike:
- an op's `f` is "txn" (other ops are ignored); its `value` a list of micro-ops
  `[f, key, value]`: `["append", k, v]` / `["r", k, list]` for list-append,
  `["w", k, v]` / `["r", k, v]` for rw-register; written values unique per key;
- in an invocation reads carry null; in an ok completion a read carries the whole list read
  (list-append; null = empty) or the value read (rw-register; null = never written);
- `type` invoke / ok / fail / info: fail = did not happen (its writes must never be seen),
  info or no completion = may or may not have committed: its writes may be seen, and once a
  read saw one it did commit (as Elle assumes), so it is a node like an ok txn; unseen, it gets
  only incoming edges (no reads known, no completion, its process retired) and closes no cycle.

Modules, one idea each: `transactions` (history -> txns), `list_append` and `rw_register`
(version orders, data edges, non-cycle anomalies), `direct` (future-read, lost-update,
dirty-update: seen without the graph), `graph` (edges with their reasons, SCCs,
shortest paths, the deadline), `cycles` (cycle classes decided through SCCs), `models` (the
lattice and Elle's `:not` / `:also-not`), `checker` (the entry points).

Checked against a brute-force search of every serial order and every SI start/commit
interleaving on thousands of generated histories: tests/test_txn_differential.py.

Graph library: scipy (scipy.sparse.csgraph.connected_components) for the strongly connected
components, on edges kept in flat integer arrays (numpy) and frozen into one CSR structure;
the witness searches (breadth-first, a few per anomaly class) are plain Python over that CSR,
run only inside nontrivial components, and sentences are made only for the cycles reported.
Measured by `benchmarks/txn.py --libraries` on the dependency graph of a generated
list-append history (all edge kinds, as the first pass of a strict-serializable check), CPU
seconds on this shared 2-core machine at load average ~20 (2026-12-02):

    100k txns, concurrency 50: 100,000 nodes, 1,126,810 edges
    library                 build the structure   SCC
    scipy.sparse.csgraph    0.025 s               0.028 s
    pure Python Tarjan      0.442 s               0.309 s   (lists of lists, no masks)
    networkx                4.615 s               2.207 s
    rustworkx               1.138 s               0.203 s

scipy takes the arrays the checker already has (no per-edge Python objects at all), and is
the fastest both to build and to run; rustworkx runs its SCC fast but needs a Python edge list
to be built from, and networkx costs more than the whole rest of the check. numpy and scipy are
imported only when a transactional history is checked (`checkers.txn` itself does not import
them), so other checkers do not pay for them. rustworkx is only in the `bench` extra.
"""

from checkers.txn.checker import check_list_append, check_rw_register

__all__ = ["check_list_append", "check_rw_register"]
