"""One queued node: a FIFO message broker with a write-ahead log, leased dequeue, ack, redelivery.

Run as `python -m systems_under_test.queued.server --id n1 --listen ADDR:PORT --peer ... --mode M
--data-dir DIR`. The first node by name is the broker; every other node relays requests to it,
so a partition or a pause between a relay and the broker leaves a request's outcome unknown.

Requests: `enqueue {value}`; `dequeue` (a ready message and a lease token, or `empty` with the
number of messages still leased); `ack {value, token}` (accepted only under the live lease).
A lease runs on the monotonic clock, so a clock fault cannot expire it; a lease not acknowledged
in time puts its message back at the head of the queue (redelivery).

`correct`: an enqueue is fsynced to the log before its reply; an ack is fsynced before its reply;
a restarted broker replays the log (enqueued minus acknowledged, in order). Leases live in
memory, so a crash redelivers what was leased and not yet acknowledged: at least once, never lost.
Buggy modes, each one classic mistake:
- `pop-without-ack` (seed T-d): a dequeue removes and logs the message before the reply, no
  lease; a reply lost to a timeout or a pause loses the message.
- `in-memory`: no log at all; a killed broker restarts empty.
- `ack-before-flush` (seed T-k): an enqueue is acknowledged when buffered; the log is written
  and fsynced by a background flush every second, so a kill loses what was acknowledged since.
- `redeliver-no-dedupe`: acks are kept in memory only; a restarted broker redelivers every
  message it had logged, acknowledged ones included.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.storage import DurableLog

MODES = ("correct", "pop-without-ack", "in-memory", "ack-before-flush", "redeliver-no-dedupe")
LEASE_SECONDS = 3.0
RELAY_TIMEOUT = 1.5  # below the client's timeout, so a relay answers before its client gives up
FLUSH_SECONDS = 1.0  # ack-before-flush's background flush

Reply = dict[str, Any]


class Broker:
    def __init__(self, mode: str, data_dir: Path):
        self.mode = mode
        self.lock = threading.Lock()
        self.ready: deque = deque()
        self.leases: dict[Any, tuple[str, float]] = {}  # message -> (token, monotonic deadline)
        self.unflushed: list[dict[str, Any]] = []
        self.wal = None if mode == "in-memory" else DurableLog(data_dir / "queued.wal")
        if self.wal is not None:
            acked: set = set()
            for record in self.wal.records:
                if record["op"] == "ack":
                    acked.add(record["v"])
            self.ready.extend(r["v"] for r in self.wal.records if r["op"] == "enq" and r["v"] not in acked)
        if mode == "ack-before-flush":
            threading.Thread(target=self._flush_forever, daemon=True).start()

    def _log(self, record: dict[str, Any]) -> None:
        if self.wal is None:
            return
        if self.mode == "ack-before-flush" and record["op"] == "enq":
            self.unflushed.append(record)
        elif self.mode == "redeliver-no-dedupe" and record["op"] == "ack":
            return  # the flaw: acks never reach the log
        else:
            self.wal.append(record)

    def _flush_forever(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            with self.lock:
                batch, self.unflushed = self.unflushed, []
                if batch and self.wal is not None:
                    self.wal.extend(batch)

    def _expire(self) -> None:
        now = time.monotonic()
        expired = [m for m, (_, deadline) in self.leases.items() if deadline <= now]
        for message in reversed(expired):
            del self.leases[message]
            self.ready.appendleft(message)

    def enqueue(self, value: Any) -> Reply:
        with self.lock:
            self._log({"op": "enq", "v": value})
            self.ready.append(value)
        return {"status": "ok"}

    def dequeue(self) -> Reply:
        with self.lock:
            self._expire()
            if not self.ready:
                return {"status": "empty", "leased": len(self.leases)}
            message = self.ready.popleft()
            token = uuid.uuid4().hex
            if self.mode == "pop-without-ack":
                self._log({"op": "ack", "v": message})  # gone for good before the client has it
            else:
                self.leases[message] = (token, time.monotonic() + LEASE_SECONDS)
            return {"status": "ok", "value": message, "token": token}

    def ack(self, value: Any, token: str) -> Reply:
        with self.lock:
            if self.mode == "pop-without-ack":
                return {"status": "ok"}
            lease = self.leases.get(value)
            if lease is None or lease[0] != token:
                return {"status": "error", "error": "no live lease for this message", "definite": True}
            del self.leases[value]
            self._log({"op": "ack", "v": value})
        return {"status": "ok"}


class Node:
    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]], mode: str, data_dir: Path):
        self.node_id = node_id
        self.broker_id = min([node_id, *peers])
        self.peers = peers
        self.broker = Broker(mode, data_dir) if self.broker_id == node_id else None

    def handle(self, message: dict[str, Any]) -> Reply:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id}
        if self.broker is None:
            return self.relay(message)
        if kind == "enqueue":
            return self.broker.enqueue(message["value"])
        if kind == "dequeue":
            return self.broker.dequeue()
        if kind == "ack":
            return self.broker.ack(message["value"], message["token"])
        return {"status": "error", "error": f"unknown request {kind!r}", "definite": True}

    def relay(self, message: dict[str, Any]) -> Reply:
        host, port = self.peers[self.broker_id]
        try:
            return wire.request(host, port, message, RELAY_TIMEOUT)
        except wire.WireError as e:
            return {"status": "error", "error": f"broker {self.broker_id}: {e}", "definite": not e.sent}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="queued", description="One node of the queued message broker.")
    parser.add_argument("--id", required=True, help="this node's name, e.g. n1")
    parser.add_argument("--listen", required=True, type=wire.parse_address, help="ADDR:PORT to serve on")
    parser.add_argument("--peer", action="append", default=[], type=wire.parse_peer, help="NAME=ADDR:PORT, repeated")
    parser.add_argument("--mode", choices=MODES, default=MODES[0])
    parser.add_argument("--data-dir", required=True, type=Path, help="where the broker keeps its log")
    args = parser.parse_args(argv)
    peers = dict(args.peer)
    if args.id in peers:
        parser.error(f"--peer names this node itself ({args.id})")
    node = Node(args.id, peers, args.mode, args.data_dir)
    host, port = args.listen
    wire.serve(host, port, node.handle)
    print(f"queued {args.id} ({args.mode}) on {host}:{port}, broker {node.broker_id}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
