"""raftkv's lifecycle for the harness: start a node, wait for it, build clients, collect dumps."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from harness.seams import Cluster, NodeHandle, SelftestRow
from systems_under_test import wire
from systems_under_test.lifecycle import ServerPerNode, request
from systems_under_test.raftkv.client import RaftKVClient
from systems_under_test.raftkv.modes import MODES
from systems_under_test.storage import DurableLog

PORT = 7400
DUMP_TIMEOUT = 10.0
ALL_FAULTS = "partition,kill,pause,clock"  # a correct mode must stay valid under all of them together
STALE = ("stale-read", "nonlinearizable")


class RaftKV(ServerPerNode):
    server_module = "systems_under_test.raftkv.server"
    name = "raftkv"
    modes = MODES
    port = PORT
    workloads = ("register",)
    # `disk`: every byte it keeps goes through systems_under_test.storage (DurableLog, write_state).
    capabilities = frozenset({"kill", "pause", "clock", "disk"})
    durable_files = ("raft-log", "raft-state", "events.log")  # what the disk fault may truncate or corrupt
    # GUIDE 4.1: the correct mode under every fault, each buggy mode under the fault that shows it.
    selftest = (
        SelftestRow("correct", "register", ALL_FAULTS, 5, True),
        SelftestRow("local-reads", "register", "partition", 5, False, STALE, quick=True,
                    why="a deposed leader or a cut-off follower answers reads from its own state"),
        SelftestRow("majority-excl-self", "register", "partition", 4, False,
                    ("multiple-leaders-in-term", "committed-entry-truncated", "nonlinearizable", "stale-read"),
                    why="with 4 nodes two votes elect, so both halves of a 2|2 cut lead and commit"),
        SelftestRow("no-prevlog-check", "register", "partition,kill", 5, False,
                    ("committed-log-divergence", "committed-entry-truncated", "nonlinearizable", "stale-read"),
                    why="followers append blindly after a leader change, so committed logs diverge"),
        SelftestRow("vote-reset-on-heartbeat", "register", "partition:ring", 5, False,
                    ("multiple-leaders-in-term", "committed-entry-truncated"),
                    why="a follower votes twice in one term, so a term can have two leaders; a ring cut keeps "
                        "a leader in power while a node it cannot reach campaigns in the same term. The mode "
                        "also grants votes without the log up-to-date check (S0:521), so a leader lacking "
                        "committed entries can win and cut them from its followers"),
        SelftestRow("no-persist", "register", "kill:all", 3, False,
                    ("multiple-leaders-in-term", "nonlinearizable", "stale-read", "committed-entry-truncated"),
                    why="a restarted node forgets its term, vote and log"),
    )
    description = (
        "Raft-replicated key-value store (read/write/cas per key, reads through the log). Buggy modes: "
        "majority-excl-self (2 of 4 is a majority), no-prevlog-check (followers append blindly), "
        "vote-reset-on-heartbeat (two votes in a term), no-persist (term/vote/log in memory only), "
        "local-reads (any node answers reads from its own state)."
    )

    def call(self, cluster: Cluster, node: NodeHandle, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """One request to a node on a fresh connection from the client side."""
        return request(cluster, node, self.port, message, timeout)

    def primary(self, cluster: Cluster) -> str | None:
        """The leader (for `kill:primary`, `pause:primary`): the running node that says it leads
        in the highest term, or None during an election."""
        best: tuple[int, str] | None = None
        for node in cluster.nodes:
            if not node.is_running():
                continue
            try:
                status = self.call(cluster, node, {"type": "ping"}, 1.0)
            except wire.WireError:
                continue  # paused or cut off: it cannot lead usefully right now anyway
            if status.get("role") == "leader" and (best is None or status["term"] > best[0]):
                best = (status["term"], node.name)
        return best[1] if best else None

    def client(self, cluster: Cluster) -> RaftKVClient:
        return RaftKVClient(self.port)

    def checkers(self, workload: str) -> dict[str, dict[str, Any]]:
        """Checkers the runner adds to the workload's own: both read what `collect` gathers."""
        return {"election-safety": {}, "log-agreement": {}}

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        """Each node's committed log and leader events, for `log-agreement` and
        `election-safety`. A node that cannot answer is listed under `unreachable`."""
        nodes: dict[str, Any] = {}
        unreachable: dict[str, str] = {}
        for node in cluster.nodes:
            try:
                nodes[node.name] = self.call(cluster, node, {"type": "dump"}, DUMP_TIMEOUT)
            except wire.WireError as e:
                unreachable[node.name] = str(e)
                events = self.events_from_disk(node)
                if events is not None:
                    nodes[node.name] = {"id": node.name, "events": events, "committed": None}
        return {"system": self.name, "mode": self.mode, "nodes": nodes, "unreachable": unreachable}

    @staticmethod
    def events_from_disk(node: NodeHandle) -> list[Any] | None:
        """A down node's leader events, read from its data directory (None if unreadable)."""
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "events.log"
            try:
                node.get_file(str(node.data_dir / "events.log"), copy)
            except OSError:
                return None
            events = DurableLog(copy, sync=False)
            events.close()
            return events.records
