"""One seedkv node: the hands-on key-value store of seed S0 (lines 765-952), as a TCP server.

Run as `python -m systems_under_test.seedkv.server --id n1 --listen ADDR:PORT --peer n2=ADDR:PORT
... --mode seed|fixed --data-dir DIR`. One process is one node.

What both modes share with the seed:
- A key is owned by node `md5(key) mod N` over the sorted node ids (S0:787-792). Not consistent
  hashing, and no failover: when the owner is down, its keys cannot be written (C-d).
- A `put` sent to a non-owner is forwarded to the owner (S0:816-818, S0:844-853); the owner
  stores it and replicates it to every peer (S0:808-815, S0:820-831).

`--mode seed` keeps the seed's flaws on purpose, so the harness has something to catch:
- C-b (S0:820-831, S0:873-875): replication is best effort. A failed send is printed and
  ignored, and the put is acknowledged anyway. There is no anti-entropy.
- C-a (S0:869-871): a `get` over TCP is answered from the receiving node's local dict, with no
  routing to the owner. `scan` (the set workload's final read, not in the seed) has the same
  flaw: it lists the receiving node's local dict.
- C-c (S0:877-891, S0:809): a replica overwrites its copy blindly. It merges the node-wide
  vector clock but never compares it, and the owner ticks the clock without a lock.
- C-d (S0:783): data lives only in memory, so a killed node restarts empty. When a forward to a
  down owner fails, the seed sends no reply at all (S0:898-899). Here the node replies with an
  error instead; either way the client cannot know the outcome.
The seed's other C-d defects are transport details that the harness does not test, and they
are not reproduced: a single `recv(4096)` for framing (this uses `wire`'s JSON lines) and a
bind to `localhost` (this binds `--listen`).

`--mode fixed` repairs those flaws. The owner appends each write to a log and fsyncs it, gives
it a per-key version, replicates it to every peer in parallel, and acknowledges only when every
peer has logged it. If any peer did not confirm, the reply is an error: the write is not
acknowledged, but the owner already holds it. A replica logs what it receives and applies it
only when its version is newer. `get` is answered by the owner. `scan` collects each owner's own
keys from that owner, and fails unless every owner answers. A restarted node replays its log.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.storage import DurableLog

MODES = ("seed", "fixed")
PEER_TIMEOUT = 1.0  # one replicate / owned call to a peer
FORWARD_TIMEOUT = 3.0  # a forwarded request waits for the owner's own replication too

Reply = dict[str, Any]


def owner_of(key: str, node_ids: list[str]) -> str:
    """The seed's placement rule: md5 of the key, modulo the number of nodes, over sorted ids."""
    ordered = sorted(node_ids)
    return ordered[int(hashlib.md5(key.encode()).hexdigest(), 16) % len(ordered)]


def log(message: str) -> None:
    print(message, flush=True)


class Node:
    """What both modes share: identity, placement, talking to peers, request dispatch."""

    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]]):
        self.node_id = node_id
        self.peers = peers
        self.node_ids = sorted([node_id, *peers])
        self.data: dict[str, dict[str, Any]] = {}  # key -> {"value", ...}; the subclass says what else

    def owner(self, key: str) -> str:
        return owner_of(key, self.node_ids)

    def call_peer(self, peer_id: str, message: dict[str, Any], timeout: float) -> Reply:
        """One request on a fresh connection, as the seed's `send_to_peer` does (S0:855-861);
        raises `wire.WireError` when the peer cannot be reached or does not answer in time."""
        host, port = self.peers[peer_id]
        return wire.request(host, port, message, timeout)

    def forward(self, owner: str, message: dict[str, Any]) -> Reply:
        try:
            return self.call_peer(owner, message, FORWARD_TIMEOUT)
        except wire.WireError as e:
            return {"status": "error", "error": f"forward to owner {owner} failed: {e}"}

    def on_dump(self, message: dict[str, Any]) -> Reply:
        """Everything this node holds, owned or replicated: evidence for the report, not a read
        the harness checks (see `SeedKV.collect`)."""
        snapshot = dict(self.data)
        return {"status": "ok", "items": {k: entry["value"] for k, entry in snapshot.items()}}

    def handle(self, message: dict[str, Any]) -> Reply:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id}
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            return {"status": "error", "error": f"unknown request type {kind!r}"}
        return handler(message)


class SeedNode(Node):
    """The seed's design, flaws included (see the module docstring for the line references)."""

    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]]):
        super().__init__(node_id, peers)
        # data: key -> {"value", "vector_clock"}, in memory only (C-d)
        self.vector_clock: dict[str, int] = {node_id: 0}

    def on_get(self, message: dict[str, Any]) -> Reply:
        entry = self.data.get(message["key"])  # C-a: the local copy, never the owner's
        return {"status": "ok", "value": entry["value"] if entry else None}

    def on_scan(self, message: dict[str, Any]) -> Reply:
        return self.on_dump(message)  # C-a again: whatever this node happens to hold

    def on_put(self, message: dict[str, Any]) -> Reply:
        key, value = message["key"], message["value"]
        owner = self.owner(key)
        if owner != self.node_id:
            reply = self.forward(owner, message)
            # The seed ignores what the owner said and answers ok once the send went through.
            return reply if reply.get("status") == "error" else {"status": "ok"}
        self.vector_clock[self.node_id] += 1  # C-c: unlocked across handler threads
        self.data[key] = {"value": value, "vector_clock": dict(self.vector_clock)}
        self.replicate(key, value)
        return {"status": "ok"}  # C-b: whatever replication did

    def replicate(self, key: str, value: Any) -> None:
        for peer_id in self.peers:
            message = {"type": "replicate", "key": key, "value": value, "vector_clock": dict(self.vector_clock)}
            try:
                self.call_peer(peer_id, message, PEER_TIMEOUT)
            except wire.WireError as e:
                log(f"Replication to {peer_id} failed: {e}")  # C-b: and that is all

    def on_replicate(self, message: dict[str, Any]) -> Reply:
        for node, timestamp in message["vector_clock"].items():
            self.vector_clock[node] = max(self.vector_clock.get(node, 0), timestamp)
        # C-c: merged but never compared, so a late, older replicate overwrites a newer value.
        self.data[message["key"]] = {"value": message["value"], "vector_clock": message["vector_clock"]}
        return {"status": "ok"}


class FixedNode(Node):
    """Durable, synchronously replicated, owner-read: the repairs of C-a to C-d."""

    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]], data_dir: Path):
        super().__init__(node_id, peers)
        self.lock = threading.Lock()  # guards the log and `data` together
        self.log = DurableLog(Path(data_dir) / "seedkv.log", sync=True)
        # data: key -> {"value", "version"}, rebuilt from the log
        for record in self.log.records:
            self.apply(record)
        self.replicators = ThreadPoolExecutor(max_workers=max(4, 4 * len(peers)), thread_name_prefix="replicate")
        log(f"{node_id}: replayed {len(self.log.records)} log records, {len(self.data)} keys")

    def apply(self, record: dict[str, Any]) -> bool:
        """Take a record only if it is newer than what we hold, so replicates arriving out of
        order can never move a key backwards (the fix for C-c)."""
        current = self.data.get(record["key"])
        if current is not None and current["version"] >= record["version"]:
            return False
        self.data[record["key"]] = {"value": record["value"], "version": record["version"]}
        return True

    def on_get(self, message: dict[str, Any]) -> Reply:
        key = message["key"]
        owner = self.owner(key)
        if owner != self.node_id:
            return self.forward(owner, message)
        with self.lock:
            entry = self.data.get(key)
        return {"status": "ok", "value": entry["value"] if entry else None}

    def on_put(self, message: dict[str, Any]) -> Reply:
        key = message["key"]
        owner = self.owner(key)
        if owner != self.node_id:
            return self.forward(owner, message)
        with self.lock:
            current = self.data.get(key)
            record = {"key": key, "value": message["value"], "version": (current["version"] if current else 0) + 1}
            self.log.append(record)  # fsynced before anyone can see it
            self.apply(record)
        failures = self.replicate(record)
        if failures:
            return {
                "status": "error",
                "error": f"not acknowledged: replication to {', '.join(failures)} did not complete; "
                "the owner holds the write, so it may still become visible",
            }
        return {"status": "ok"}

    def replicate(self, record: dict[str, Any]) -> list[str]:
        """Send the record to every peer at once; the peers that did not confirm, with why."""
        message = {"type": "replicate", "record": record}
        pending = {p: self.replicators.submit(self.call_peer, p, message, PEER_TIMEOUT) for p in self.peers}
        failures = []
        for peer_id, future in pending.items():
            try:
                reply = future.result()
                if reply.get("status") != "ok":
                    failures.append(f"{peer_id} ({reply.get('error')})")
            except wire.WireError as e:
                failures.append(f"{peer_id} ({e})")
        return failures

    def on_replicate(self, message: dict[str, Any]) -> Reply:
        record = message["record"]
        with self.lock:
            current = self.data.get(record["key"])
            if current is None or current["version"] < record["version"]:
                self.log.append(record)  # on disk before we confirm
                self.apply(record)
        return {"status": "ok"}

    def on_owned(self, message: dict[str, Any]) -> Reply:
        with self.lock:
            snapshot = dict(self.data)
        items = {k: entry["value"] for k, entry in snapshot.items() if self.owner(k) == self.node_id}
        return {"status": "ok", "items": items}

    def on_scan(self, message: dict[str, Any]) -> Reply:
        items: dict[str, Any] = {}
        for node_id in self.node_ids:
            if node_id == self.node_id:
                reply = self.on_owned({})
            else:
                try:
                    reply = self.call_peer(node_id, {"type": "owned"}, PEER_TIMEOUT)
                except wire.WireError as e:
                    return {"status": "error", "error": f"scan needs every owner; {node_id} did not answer: {e}"}
            if reply.get("status") != "ok":
                return {"status": "error", "error": f"scan needs every owner; {node_id} said {reply.get('error')}"}
            items.update(reply["items"])
        return {"status": "ok", "items": items}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="seedkv", description="One node of the seedkv key-value store.")
    parser.add_argument("--id", required=True, help="this node's name, e.g. n1")
    parser.add_argument("--listen", required=True, type=wire.parse_address, help="ADDR:PORT to serve on")
    parser.add_argument("--peer", action="append", default=[], type=wire.parse_peer, help="NAME=ADDR:PORT, repeated")
    parser.add_argument("--mode", choices=MODES, default=MODES[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="where fixed mode keeps its log")
    args = parser.parse_args(argv)

    peers = dict(args.peer)
    if args.id in peers:
        parser.error(f"--peer names this node itself ({args.id})")
    node: Node = SeedNode(args.id, peers) if args.mode == "seed" else FixedNode(args.id, peers, args.data_dir)
    host, port = args.listen
    wire.serve(host, port, node.handle)
    log(f"Node {args.id} ({args.mode} mode) listening on {host}:{port}, peers {sorted(peers)}")
    threading.Event().wait()  # SIGTERM/SIGKILL end the process; fixed mode has nothing unsynced


if __name__ == "__main__":
    sys.exit(main())
