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

Graph library: none. The machine's environment has networkx but not scipy or rustworkx;
networkx's SCC on a dict-of-dicts graph costs about as much as the iterative Tarjan here, and
converting the graph into its structure would double the memory. The comparison with
scipy.sparse.csgraph was not measured (scipy is not installed).
"""

from checkers.txn.checker import check_list_append, check_rw_register

__all__ = ["check_list_append", "check_rw_register"]
