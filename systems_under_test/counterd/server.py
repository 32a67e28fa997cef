"""One counterd node: a counter with idempotency keys, held by a primary, copied to replicas.

Run as `python -m systems_under_test.counterd.server --id n1 --listen ADDR:PORT --peer ... --mode M
--data-dir DIR`. Requests: `add {delta, key}`, `read`. Every node relays to the primary.

`correct`: n1 is the only primary. It logs each increment with its idempotency key (fsynced)
before the reply and applies a key at most once, so a client's retry of a timed-out add is
harmless. While n1 is down or cut off, requests fail; nothing fails over.
Buggy modes:
- `retry-without-idempotency-key` (seed T-f): the server ignores the key, so a retried add whose
  first attempt did land is applied twice.
- `async-replica-failover`: the primary acknowledges once logged locally and ships its count to
  the replicas every half second; a request goes to the first node (by name) that accepts a
  connection, so when n1 dies the next node serves from its stale copy, and increments n1 had
  acknowledged since its last shipment are gone.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.storage import DurableLog

MODES = ("correct", "retry-without-idempotency-key", "async-replica-failover")
RELAY_TIMEOUT = 1.0
SHIP_SECONDS = 0.5

Reply = dict[str, Any]


class Node:
    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]], mode: str, data_dir: Path):
        self.node_id, self.peers, self.mode = node_id, peers, mode
        self.order = sorted([node_id, *peers])
        self.lock = threading.Lock()
        self.count = 0
        self.keys: set = set()
        self.wal = DurableLog(data_dir / "counterd.wal")
        for record in self.wal.records:
            self.count += record["delta"]
            self.keys.add(record["key"])
        if mode == "async-replica-failover":
            threading.Thread(target=self._ship_forever, daemon=True).start()

    def handle(self, message: dict[str, Any]) -> Reply:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id}
        if kind == "copy":  # a primary's shipment (async-replica-failover)
            with self.lock:
                self.count = message["count"]
            return {"status": "ok"}
        if kind not in ("add", "read"):
            return {"status": "error", "error": f"unknown request {kind!r}", "definite": True}
        if message.get("relayed"):
            return self.apply(message)
        candidates = self.order if self.mode == "async-replica-failover" else self.order[:1]
        for candidate in candidates:
            if candidate == self.node_id:
                return self.apply(message)
            host, port = self.peers[candidate]
            try:
                return wire.request(host, port, {**message, "relayed": True}, RELAY_TIMEOUT)
            except wire.WireError as e:
                if e.sent:
                    return {"status": "error", "error": f"{candidate}: {e}"}
        return {"status": "error", "error": "no primary reachable", "definite": True}

    def apply(self, message: dict[str, Any]) -> Reply:
        with self.lock:
            if message["type"] == "read":
                return {"status": "ok", "value": self.count}
            key, delta = message["key"], int(message["delta"])
            if self.mode == "retry-without-idempotency-key" or key not in self.keys:
                self.wal.append({"key": key, "delta": delta})
                self.count += delta
                self.keys.add(key)
            return {"status": "ok", "value": self.count}

    def _ship_forever(self) -> None:
        while True:
            time.sleep(SHIP_SECONDS)
            if self.node_id != self._first_alive():
                continue
            with self.lock:
                count = self.count
            for peer, (host, port) in self.peers.items():
                try:
                    wire.request(host, port, {"type": "copy", "count": count}, RELAY_TIMEOUT)
                except wire.WireError:
                    pass  # asynchronous: a replica that misses a shipment gets the next one

    def _first_alive(self) -> str:
        for candidate in self.order:
            if candidate == self.node_id:
                return candidate
            host, port = self.peers[candidate]
            try:
                wire.request(host, port, {"type": "ping"}, RELAY_TIMEOUT)
                return candidate
            except wire.WireError:
                continue
        return self.node_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="counterd", description="One node of the counterd counter service.")
    parser.add_argument("--id", required=True, help="this node's name, e.g. n1")
    parser.add_argument("--listen", required=True, type=wire.parse_address, help="ADDR:PORT to serve on")
    parser.add_argument("--peer", action="append", default=[], type=wire.parse_peer, help="NAME=ADDR:PORT, repeated")
    parser.add_argument("--mode", choices=MODES, default=MODES[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="where the log is kept")
    args = parser.parse_args(argv)
    peers = dict(args.peer)
    if args.id in peers:
        parser.error(f"--peer names this node itself ({args.id})")
    node = Node(args.id, peers, args.mode, args.data_dir)
    host, port = args.listen
    wire.serve(host, port, node.handle)
    print(f"counterd {args.id} ({args.mode}) on {host}:{port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
