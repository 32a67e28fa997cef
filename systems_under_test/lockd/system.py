"""lockd for the harness: n1 serves the locks, the last node the fenced store."""

from __future__ import annotations

from typing import Any

from harness.seams import Cluster, SelftestRow
from systems_under_test.lifecycle import ServerPerNode, request
from systems_under_test.lockd.client import LockdClient
from systems_under_test.lockd.server import MODES

PORT = 7400
ALL_FAULTS = "pause-client,partition,kill,pause,clock"
TTL = 1.0  # seconds; the client pauses (0.5..1.5 nemesis intervals) must outlast it


class Lockd(ServerPerNode):
    server_module = "systems_under_test.lockd.server"
    port = PORT
    name = "lockd"
    modes = MODES
    workloads = ("lock",)
    # `clock`: the server reads its lease clock through libfaketime's preload; the correct mode
    # uses the monotonic clock, which the clock nemesis leaves real.
    capabilities = frozenset({"kill", "pause", "clock"})
    # Volatile mode needs a lease that outlives a kill and restart of n1, so its row's holder
    # still holds when the forgetful server grants the lock again.
    workload_params = {"lock": {"ttl": TTL}}
    selftest = (
        SelftestRow("correct", "lock", ALL_FAULTS, 2, True, concurrency=3, rate=20.0,
                    why="persisted counter, monotonic leases, fenced store"),
        SelftestRow("no-fencing", "lock", "pause-client", 2, False, ("stale-token-accepted",), concurrency=2,
                    rate=20.0, nemesis_interval=4.0,
                    why="a holder paused past its TTL wakes and writes with its old token; the store takes it"),
        SelftestRow("unconditional-release", "lock", "pause-client", 2, False, ("two-holders",), concurrency=3,
                    rate=20.0, nemesis_interval=4.0,
                    why="a holder paused past its TTL wakes and releases the next holder's lock"),
        SelftestRow("wallclock-ttl", "lock", "clock:forward", 2, False, ("two-holders",), concurrency=3, rate=20.0,
                    nemesis_interval=4.0, why="every forward jump (2..16 s, far past the 1 s TTL) on n1 expires the held lease early"),
        SelftestRow("volatile", "lock", "kill:primary", 2, False, ("two-holders",), concurrency=3, rate=20.0,
                    nemesis_interval=4.0, why="a restarted n1 forgets the held lock and grants it again"),
    )
    description = (
        "A lease lock service (n1) and a fenced storage server (last node). correct: fsynced token "
        "counter, monotonic leases, stale tokens refused. no-fencing, unconditional-release, "
        "wallclock-ttl, volatile: the seeds' lock flaws (GUIDE 4.5 L-a..L-c)."
    )

    def __init__(self, mode: str = MODES[0], server_args: tuple[str, ...] = ()):
        super().__init__(mode, server_args)
        if mode == "volatile":
            self.workload_params = {"lock": {"ttl": 20.0}}

    def primary(self, cluster: Cluster) -> str:
        """n1 serves the locks: `kill:primary` aims there."""
        return cluster.nodes[0].name

    def client(self, cluster: Cluster) -> LockdClient:
        return LockdClient(self.port)

    def collect(self, cluster: Cluster) -> dict[str, Any]:
        try:
            dump = request(cluster, cluster.nodes[-1], self.port, {"type": "dump"}, 5.0)
            return {"mode": self.mode, "store": {"highest": dump.get("highest"), "accepted": len(dump.get("writes") or [])}}
        except (OSError, ValueError) as e:
            return {"mode": self.mode, "store": {"error": str(e)}}
