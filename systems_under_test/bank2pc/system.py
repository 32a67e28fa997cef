"""bank2pc's lifecycle for the harness: a bank whose accounts are spread over three shards and
moved by two-phase commit (see `server.py` for the modes), plus the seed's client bug T-b as the
mode `client-fail-on-commit-error` (correct servers, a client that reports a lost commit as
`fail`)."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, HarnessError, NodeHandle, SelftestRow
from systems_under_test.bank2pc.client import Bank2PCClient
from systems_under_test.bank2pc.server import MODES as SERVER_MODES
from systems_under_test.lifecycle import answers_ping, request, server_argv
from workloads.bank import ACCOUNTS, BALANCE

PORT = 7400
CLIENT_BUG = "client-fail-on-commit-error"
ALL_FAULTS = "partition,kill,pause,clock"


class Bank2PC:
    name = "bank2pc"
    modes = (*SERVER_MODES, CLIENT_BUG)
    workloads = ("bank",)
    capabilities = frozenset({"kill", "pause", "clock", "disk"})
    durable_files = ("bank2pc.wal",)
    selftest = (
        SelftestRow("correct", "bank", ALL_FAULTS, 3, True, quick=True),
        SelftestRow("non-atomic-transfer", "bank", "partition:one", 3, False, ("wrong-total",),
                    why="debit and credit are separate steps: reads between them, and credits cut off by "
                        "the partition, see money missing"),
        SelftestRow("skip-unreachable", "bank", "partition:one", 3, False, ("wrong-total",),
                    why="the isolated shard is left out of transfers that the others commit"),
        SelftestRow("always-yes", "bank", "partition:one", 3, False, ("negative-balance",),
                    why="prepare never checks the balance, so random transfers overdraw accounts"),
        SelftestRow("no-prepare-log", "bank", "kill:one", 3, False, ("wrong-total", "divergent-outcome"),
                    nemesis_interval=1.0,
                    why="a participant killed between its vote and the commit forgets it and drops its half; "
                        "that window is milliseconds wide, so the row kills often (a kill or restart a second)"),
        SelftestRow(CLIENT_BUG, "bank", "pause:one", 3, False, ("unsound-history",),
                    why="a paused coordinator times its clients out mid-commit; they report fail, then it commits"),
    )
    description = ("Accounts over three shards moved by two-phase commit with a WAL per node, presumed "
                   "abort and in-doubt resolution. Buggy: non-atomic-transfer (T-a), skip-unreachable and "
                   "always-yes (Q-l), no-prepare-log; client-fail-on-commit-error is the client bug T-b.")

    def __init__(self, mode: str = SERVER_MODES[0], server_args: tuple[str, ...] = ()):
        if mode not in self.modes:
            raise HarnessError(f"bank2pc has no mode {mode!r}; choose one of {', '.join(self.modes)}")
        self.mode = mode
        self.server_mode = SERVER_MODES[0] if mode == CLIENT_BUG else mode
        self.server_args = tuple(server_args)

    def setup(self, cluster: Cluster) -> None:
        """Nothing to install: the server is this package."""

    def start(self, cluster: Cluster, node: NodeHandle) -> None:
        extra = ["--accounts", str(ACCOUNTS), "--balance", str(BALANCE), *self.server_args]
        node.spawn(server_argv("systems_under_test.bank2pc.server", cluster, node, PORT, self.server_mode, extra))

    def ready(self, cluster: Cluster, node: NodeHandle) -> bool:
        return answers_ping(cluster, node, PORT)

    def client(self, cluster: Cluster) -> Bank2PCClient:
        return Bank2PCClient(PORT, fail_on_commit_error=self.mode == CLIENT_BUG)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        """Each node's participant outcomes, coordinator decisions and in-doubt times."""
        nodes: dict[str, Any] = {}
        for node in cluster.nodes:
            try:
                reply = request(cluster, node, PORT, {"type": "dump"}, 10.0)
                nodes[node.name] = reply if reply.get("status") == "ok" else {"error": reply.get("error")}
            except OSError as e:
                nodes[node.name] = {"error": str(e)}
        return {"mode": self.mode, "nodes": nodes}

    def teardown(self, cluster: Cluster) -> None:
        for node in cluster.nodes:
            node.stop()
