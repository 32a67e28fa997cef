"""One electd node: a candidate in a lease-based leader election, and (on the last node) the
lease store with its fenced heartbeat log.

The election follows the seed's Redis lease election (S4:497-603): a candidate campaigns with
`campaign {node, ttl}` (SET NX with a TTL) and gets an epoch from the store's persisted counter;
a leader renews every TTL/2 and appends a `(node, epoch)` heartbeat to the store's fenced log,
which refuses an epoch below the highest it has seen (S1:986-1010). `status` tells the harness
what this node believes right now: `{node, leader, epoch}`; `resign` makes a leader step down.

Modes (the first is correct):
- `correct`: the store's counter and holder are fsynced before a grant is answered; leases are
  timed on the monotonic clock on both sides; a node believes it leads only while its own
  deadline (the send time of its last granted campaign or renewal plus 0.8 TTL) lies ahead, so a
  node paused or cut off past its lease answers "not leader" when it wakes; renewal and release
  check owner and epoch in one step at the store.
- `renew-without-owner-check` (GUIDE L-d, S4:553-564): renewal is `EXPIRE key ttl`, which
  succeeds whoever holds the key, and the node keeps the seed's sticky `is_leader` flag until a
  renewal fails. A leader paused past its TTL wakes, renews the new leader's lease, and both lead.
- `stop-toctou` (L-e, S4:573-580): `stop()` is GET, then (after draining in-flight work, which
  takes longer than the lease) an unconditional DELETE; the lease ran out during the drain, so
  the DELETE removes the next leader's key and a third node is elected beside it.
- `bully-no-quorum` (L-f, S2:705-744): no lease store and no epochs; a node that hears from no
  higher-ID node declares itself leader (its term named `node/k`, shared with no one). Under a
  partition each side elects.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from systems_under_test import storage, wire

MODES = ("correct", "renew-without-owner-check", "stop-toctou", "bully-no-quorum")
KEY = "leader"
SAFETY = 0.8  # a node trusts its lease for this share of the TTL: room for the store's delay
TICK = 0.1  # seconds between a follower's campaigns or a bully node's probes


def log(text: str) -> None:
    print(text, flush=True)


class LeaseStore:
    """The lease and the fenced heartbeat log (the seed's Redis). Served by the last node."""

    def __init__(self, mode: str, data_dir: Path):
        self.mode = mode
        self.file = data_dir / "lease-store.json"
        self.mutex = threading.Lock()
        state = storage.read_state(self.file, {"counter": 0, "holder": None, "highest": 0})
        self.counter: int = int(state["counter"])
        self.highest: int = int(state["highest"])
        # [node, epoch, ttl, expires]; after a restart the holder runs a full TTL from now, since
        # how much of its lease was left is unknown.
        held = state["holder"]
        self.holder: list[Any] | None = None if held is None else [held[0], held[1], held[2], time.monotonic() + held[2]]
        self.heartbeats = {"accepted": 0, "refused": 0}

    def persist(self) -> None:
        holder = None if self.holder is None else self.holder[:3]
        storage.write_state(self.file, {"counter": self.counter, "holder": holder, "highest": self.highest})

    def live(self) -> list[Any] | None:
        if self.holder is not None and self.holder[3] <= time.monotonic():
            self.holder = None
        return self.holder

    def handle(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        with self.mutex:
            held = self.live()
            if kind == "campaign":
                if held is not None:
                    return {"status": "held", "node": held[0]}
                self.counter += 1
                ttl = float(request["ttl"])
                self.holder = [request["node"], self.counter, ttl, time.monotonic() + ttl]
                self.persist()  # before the grant is answered
                return {"status": "ok", "epoch": self.counter}
            if kind == "renew":
                owns = held is not None and [held[0], held[1]] == [request["node"], request["epoch"]]
                if held is None or not (owns or self.mode == "renew-without-owner-check"):
                    return {"status": "lost"}
                held[3] = time.monotonic() + held[2]  # EXPIRE: a fresh TTL for whoever holds it
                return {"status": "ok"}
            if kind == "get":
                return {"status": "ok", "node": None if held is None else held[0]}
            if kind == "delete":  # the seed's unconditional DEL
                self.holder = None
                self.persist()
                return {"status": "ok"}
            if kind == "release":  # compare-and-delete
                if held is not None and [held[0], held[1]] == [request["node"], request["epoch"]]:
                    self.holder = None
                    self.persist()
                    return {"status": "ok"}
                return {"status": "not-owner"}
            if kind == "heartbeat":
                epoch = int(request["epoch"])
                if epoch < self.highest:
                    self.heartbeats["refused"] += 1
                    return {"status": "rejected", "highest": self.highest}
                if epoch > self.highest:
                    self.highest = epoch
                    self.persist()
                self.heartbeats["accepted"] += 1
                return {"status": "ok"}
            if kind == "dump":
                return {"status": "ok", "counter": self.counter, "highest": self.highest,
                        "holder": None if held is None else held[:2], "heartbeats": dict(self.heartbeats)}
        return {"status": "error", "error": f"unknown store request {kind!r}"}


class Candidate:
    """This node's side of the election: what it believes and the loop that campaigns."""

    def __init__(self, node: str, mode: str, ttl: float, call: Callable[[tuple[str, int], dict[str, Any], float], dict[str, Any]],
                 store: tuple[str, int], peers: dict[str, tuple[str, int]]):
        self.node, self.mode, self.ttl, self.call, self.store, self.peers = node, mode, ttl, call, store, peers
        self.mutex = threading.Lock()
        self.leader = False
        self.epoch: int | str | None = None
        self.count = 0  # bully: how many times this node declared itself
        self.deadline = 0.0  # monotonic; the lease modes' end of trusted leadership
        self.quiet_until = 0.0  # no campaign before this, after resigning
        self.resigning = False

    # --- what the harness asks -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        with self.mutex:
            return {"status": "ok", "node": self.node, "leader": self.believes(), "epoch": self.epoch}

    def believes(self) -> bool:
        """Called with the mutex held. A lapsed lease ends the epoch's leadership for good (a
        late renewal does not revive it), so each (node, epoch) leads over one stretch of time."""
        if self.leader and self.mode not in ("renew-without-owner-check", "bully-no-quorum"):
            if time.monotonic() >= self.deadline:
                self.leader = False
        return self.leader  # the seeds' sticky flag, in their modes: leader until told otherwise

    def resign(self) -> dict[str, Any]:
        with self.mutex:
            if not self.believes() or self.resigning or self.mode == "bully-no-quorum":
                return {"status": "not-leader"}
            self.resigning = True
        threading.Thread(target=self.stop, daemon=True).start()
        return {"status": "ok"}

    # --- the lease election --------------------------------------------------------------------------

    def store_call(self, message: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.call(self.store, message, self.ttl / 2)
        except wire.WireError:
            return None

    def run(self) -> None:
        while True:
            if self.mode == "bully-no-quorum":
                self.bully_round()
                time.sleep(TICK)
                continue
            with self.mutex:
                leading, resigning = self.leader, self.resigning
            if resigning:
                time.sleep(TICK)
            elif leading:
                self.renew()
                time.sleep(self.ttl / 2)
            else:
                if time.monotonic() >= self.quiet_until:
                    self.campaign()
                time.sleep(TICK)

    def campaign(self) -> None:
        sent = time.monotonic()
        reply = self.store_call({"type": "campaign", "node": self.node, "ttl": self.ttl})
        if reply is None or reply.get("status") != "ok":
            return
        with self.mutex:
            self.leader, self.epoch, self.deadline = True, int(reply["epoch"]), sent + SAFETY * self.ttl
        log(f"{self.node} leads epoch {self.epoch}")
        self.heartbeat()

    def renew(self) -> None:
        with self.mutex:
            epoch = self.epoch
        sent = time.monotonic()
        reply = self.store_call({"type": "renew", "node": self.node, "epoch": epoch})
        with self.mutex:
            if self.resigning or self.epoch != epoch or not self.believes():
                return
            if reply is None:
                # Unreachable: the correct node leads on until its deadline; the seed drops its
                # flag on any error (S4:568-571).
                if self.mode == "renew-without-owner-check":
                    self.leader = False
                return
            if reply.get("status") != "ok":
                self.leader = False
                log(f"{self.node} lost epoch {epoch}")
                return
            self.deadline = sent + SAFETY * self.ttl
        self.heartbeat()

    def heartbeat(self) -> None:
        with self.mutex:
            if not self.believes():
                return
            epoch = self.epoch
        self.store_call({"type": "heartbeat", "node": self.node, "epoch": epoch})

    def stop(self) -> None:
        """Step down (the seed's `stop()`), then stay quiet for half a TTL so another node (which
        campaigns every TICK) takes over rather than this one again. Longer would leave a
        three-node cluster short of candidates: the node that resigned before is often quiet."""
        with self.mutex:
            epoch = self.epoch
            self.leader = False  # stop acting as leader before the lease can pass to anyone
        if self.mode == "stop-toctou":
            reply = self.store_call({"type": "get"})
            if reply is not None and reply.get("node") == self.node:
                time.sleep(1.5 * self.ttl)  # drain in-flight work; the lease runs out meanwhile
                self.store_call({"type": "delete"})
        else:
            self.store_call({"type": "release", "node": self.node, "epoch": epoch})
        with self.mutex:
            self.resigning = False
            self.quiet_until = time.monotonic() + self.ttl / 2
        log(f"{self.node} resigned epoch {epoch}")

    # --- Bully, with no quorum ---------------------------------------------------------------------

    def bully_round(self) -> None:
        higher = [address for name, address in self.peers.items() if node_number(name) > node_number(self.node)]
        answered = False
        for address in higher:
            try:
                answered = self.call(address, {"type": "election", "node": self.node}, 0.3).get("status") == "ok"
            except wire.WireError:
                continue
            if answered:
                break
        with self.mutex:
            if answered:
                self.leader = False
            elif not self.leader:
                # Bully has no epochs: the node names each of its own terms "n3/2" (its second
                # time), which no other node can share, so only real-time overlap shows the flaw.
                self.count += 1
                self.leader, self.epoch = True, f"{self.node}/{self.count}"
                log(f"{self.node} declares itself coordinator ({self.epoch})")


def node_number(name: str) -> int:
    digits = "".join(c for c in name if c.isdigit())
    return int(digits) if digits else 0


class ElectNode:
    def __init__(self, node: str, mode: str, data_dir: Path, ttl: float, store: tuple[str, int],
                 peers: dict[str, tuple[str, int]], source: str | None, serves_store: bool):
        def call(address: tuple[str, int], message: dict[str, Any], timeout: float) -> dict[str, Any]:
            conn = wire.Connection(address[0], address[1], timeout, source=source)
            try:
                return conn.call(message)
            finally:
                conn.close()

        self.store = LeaseStore(mode, data_dir) if serves_store else None
        self.candidate = Candidate(node, mode, ttl, call, store, peers)

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.candidate.node}
        if kind == "status":
            return self.candidate.status()
        if kind == "resign":
            return self.candidate.resign()
        if kind == "election":
            return {"status": "ok"}
        if self.store is None:
            return {"status": "error", "error": f"{self.candidate.node} serves no lease store"}
        return self.store.handle(str(kind), request)


def main(argv: list[str] | None = None) -> None:
    parser = wire.server_parser("electd", "One electd node: a lease-election candidate.", MODES,
                                "where the epoch counter and the fenced log are kept")
    parser.add_argument("--store", required=True, type=wire.parse_address, help="address of the lease store")
    parser.add_argument("--ttl", type=float, default=2.0, help="lease seconds (default 2)")
    args = wire.parse_server_args(parser, argv)
    host, port = args.listen
    node = ElectNode(args.id, args.mode, args.data_dir, args.ttl, args.store, args.peers, host,
                     serves_store=tuple(args.store) == (host, port))
    wire.serve(host, port, node.handle)
    log(f"electd {args.id} ({args.mode}) listening on {host}:{port}, store {args.store[0]}:{args.store[1]}")
    threading.Thread(target=node.candidate.run, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
