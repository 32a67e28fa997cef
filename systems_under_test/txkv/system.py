"""txkv's lifecycle for the harness: start a node, wait for it, build clients, collect a dump."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, SelftestRow
from systems_under_test import wire
from systems_under_test.lifecycle import ServerPerNode, request
from systems_under_test.txkv.client import TxKVClient
from systems_under_test.txkv.server import MODES, primary_of

PORT = 7600
FAULTS = "kill:primary,partition"  # the primary's crash and restart, and front ends cut off from it
ALL_FAULTS = "partition,kill:primary,pause,clock"  # a correct mode must stay valid under all of them together
# Every mode is driven with deliberate rollbacks, so aborted writes exist to be (wrongly) seen.
TXN_PARAMS = {"abort_fraction": 0.1}


def _row(mode: str, valid: bool, anomalies: tuple[str, ...] = (), why: str = "", **kw: Any) -> SelftestRow:
    return SelftestRow(mode, kw.pop("workload", "list-append"), kw.pop("nemesis", FAULTS), 3, valid, anomalies,
                       rate=kw.pop("rate", 150.0), concurrency=kw.pop("concurrency", 8), why=why, **kw)


class TxKV(ServerPerNode):
    server_module = "systems_under_test.txkv.server"
    port = PORT
    name = "txkv"
    modes = MODES
    workloads = ("list-append", "rw-register")
    # No `disk`: the primary's log is the only copy, so truncating it loses committed data in
    # every mode; that is the truth about a single-copy store, not a bug worth a row.
    capabilities = frozenset({"kill", "pause", "clock"})
    durable_files = ("txkv.wal",)
    workload_params = {"list-append": TXN_PARAMS, "rw-register": TXN_PARAMS}
    # GUIDE 4.6 T-h..T-k and 4.7: each list-append transaction is checked for strict
    # serializability, so each row names what its mode lets through.
    selftest = (
        _row("mvcc-si", False, ("G2-item",),
             why="correct snapshot isolation still allows write skew: two transactions each read what "
                 "the other writes (the positive control)"),
        _row("strict-2pl", True, nemesis=ALL_FAULTS, quick=True),
        _row("strict-2pl", True, workload="rw-register", nemesis=ALL_FAULTS),
        _row("visibility-txid-le", False, ("G1a", "G1b", "dirty-update", "G-single"),
             why="a snapshot sees versions of lower txids still running or committed after it began: "
                 "rolled-back appends (G1a), appends on top of them (dirty-update), a transaction's "
                 "intermediate state (G1b), read skew (G-single)"),
        _row("gc-below-horizon", False, ("incompatible-order", "lost-update", "G-single"),
             why="GC drops the newest committed version of every key last written below the oldest "
                 "running txid, so reads find the key empty and later appends start a new list "
                 "(incompatible-order); two that read it empty and append lose one update"),
        _row("no-first-committer-wins", False, ("lost-update", "G-single", "incompatible-order"),
             why="two transactions append to the same list from one snapshot and the later commit "
                 "replaces the earlier one's version"),
        _row("2pl-early-release", False, ("G1a", "dirty-update", "G1c"),
             why="locks are released at the lock point, before commit or rollback, so others read "
                 "appends that are then rolled back (G1a) and append on top of them (dirty-update)"),
        _row("ack-before-flush", False, ("incompatible-order", "G-single"),
             why="commits are acknowledged before the log is flushed; killing the primary loses them, "
                 "and appends after the restart build a different list"),
    )
    description = (
        "Transactional key-value store: one primary with a write-ahead log, the other nodes forward to "
        "it. mvcc-si (snapshot isolation), strict-2pl (serializable); buggy: visibility-txid-le, "
        "gc-below-horizon, no-first-committer-wins, 2pl-early-release, ack-before-flush."
    )

    def primary(self, cluster: Cluster) -> str | None:
        """The node with the smallest name (txkv's fixed primary), while it runs."""
        name = primary_of([n.name for n in cluster.nodes])
        return name if cluster.node(name).is_running() else None

    def client(self, cluster: Cluster) -> TxKVClient:
        return TxKVClient(self.port)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        """The primary's newest committed value of every key."""
        name = primary_of([n.name for n in cluster.nodes])
        try:
            dump = request(cluster, cluster.node(name), self.port, {"type": "dump"}, 10.0)
        except wire.WireError as e:
            dump = {"error": str(e)}
        return {"system": self.name, "mode": self.mode, "primary": name, "dump": dump}
