"""One lockd node: a lease lock service and a fenced storage server in one process.

Every node runs both services; the harness uses the lock service of n1 and the store of the
last node, so a kill or a clock fault aimed at n1 hits the locks alone.

Lock requests: `acquire {name, owner, ttl}` -> `{status: ok, token}` or `{status: held}`;
`release {name, owner}` and `extend {name, owner, ttl}`, both owner-checked. Store requests:
`write {token, owner, seq}` accepted only when `token` is at least the highest token the store
has seen (seed S1:986-1010), else `{status: rejected}`; `dump` gives the accepted writes.

Modes (the first is correct):
- `correct`: tokens from a counter fsynced before a grant is answered; leases timed on the
  monotonic clock; a restarted server treats every lock it had as held for a full TTL from the
  restart (it cannot know how much was left); the store refuses stale tokens.
- `no-fencing` (GUIDE L-a): the store accepts any token.
- `unconditional-release` (L-b): release deletes the lock whoever holds it.
- `wallclock-ttl` (L-c): lease expiry on the wall clock, which a clock jump moves.
- `volatile`: locks and the token counter in memory only; a restart forgets both.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

from systems_under_test import storage, wire

MODES = ("correct", "no-fencing", "unconditional-release", "wallclock-ttl", "volatile")


def log(text: str) -> None:
    print(text, flush=True)


class LockNode:
    def __init__(self, mode: str, data_dir: Path, node_id: str = ""):
        self.mode, self.node_id = mode, node_id  # the id answers pings, so a probe knows who replied
        self.durable = mode != "volatile"
        self.clock = time.time if mode == "wallclock-ttl" else time.monotonic
        self.lock_file = data_dir / "locks.json"
        self.store_file = data_dir / "store.json"
        self.mutex = threading.Lock()
        state = storage.read_state(self.lock_file, {"counter": 0, "locks": {}}) if self.durable else {"counter": 0, "locks": {}}
        self.counter: int = int(state["counter"])
        now = self.clock()
        # name -> [owner, token, expires]; after a restart every lock runs a full TTL from now.
        self.locks: dict[str, list[Any]] = {n: [l["owner"], l["token"], now + float(l["ttl"])] for n, l in state["locks"].items()}
        self.ttls: dict[str, float] = {n: float(l["ttl"]) for n, l in state["locks"].items()}
        store = storage.read_state(self.store_file, {"highest": 0, "writes": []})
        self.highest: int = int(store["highest"])
        self.writes: list[dict[str, Any]] = list(store["writes"])

    def persist_locks(self) -> None:
        if self.durable:
            locks = {n: {"owner": l[0], "token": l[1], "ttl": self.ttls[n]} for n, l in self.locks.items()}
            storage.write_state(self.lock_file, {"counter": self.counter, "locks": locks})

    def live(self, name: str) -> list[Any] | None:
        held = self.locks.get(name)
        if held is not None and held[2] <= self.clock():
            del self.locks[name]
            held = None
        return held

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        kind = request.get("type")
        with self.mutex:
            if kind == "ping":
                return {"status": "ok", "id": self.node_id}
            if kind == "acquire":
                name, owner, ttl = request["name"], request["owner"], float(request["ttl"])
                held = self.live(name)
                if held is not None:
                    return {"status": "held", "token": held[1]}
                self.counter += 1
                self.locks[name] = [owner, self.counter, self.clock() + ttl]
                self.ttls[name] = ttl
                self.persist_locks()  # before the grant is answered
                return {"status": "ok", "token": self.counter}
            if kind in ("release", "extend"):
                name, owner = request["name"], request["owner"]
                held = self.live(name)
                owns = held is not None and held[0] == owner
                if kind == "release" and (owns or (held is not None and self.mode == "unconditional-release")):
                    del self.locks[name]
                    self.persist_locks()
                    return {"status": "ok"}
                if kind == "extend" and owns:
                    held[2] = self.clock() + float(request["ttl"])
                    self.ttls[name] = float(request["ttl"])
                    self.persist_locks()
                    return {"status": "ok"}
                return {"status": "not-owner"}
            if kind == "write":
                token = int(request["token"])
                if token < self.highest and self.mode != "no-fencing":
                    return {"status": "rejected", "highest": self.highest}
                self.highest = max(self.highest, token)
                self.writes.append({"token": token, "owner": request.get("owner"), "seq": request.get("seq")})
                storage.write_state(self.store_file, {"highest": self.highest, "writes": []})  # the fence is what must survive
                return {"status": "ok", "highest": self.highest}
            if kind == "dump":
                return {"status": "ok", "highest": self.highest, "writes": self.writes, "counter": self.counter}
        return {"status": "error", "error": f"unknown request type {kind!r}"}


def main(argv: list[str] | None = None) -> None:
    # --peer is accepted and ignored: lockd nodes do not talk to each other.
    parser = wire.server_parser("lockd", "One lockd node: lease locks and a fenced store.", MODES,
                                "where the token counter, locks and store are kept")
    args = wire.parse_server_args(parser, argv)
    node = LockNode(args.mode, args.data_dir, args.id)
    host, port = args.listen
    wire.serve(host, port, node.handle)
    log(f"lockd {args.id} ({args.mode}) listening on {host}:{port}, counter {node.counter}, store highest {node.highest}")
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
