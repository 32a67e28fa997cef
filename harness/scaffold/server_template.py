"""The skeleton's toy server, as a template: the one file of the plug-in its author deletes once
the System starts their own binary. It is small but real (TCP, JSON lines, a primary that
fsyncs before it answers), so the skeleton's tests and a `faultline test` pass as written."""

SERVER = '''\
"""A node of $name: a tiny key-value store over TCP, one process per node.

THIS IS THE PART TO REPLACE. faultline does not care what the server is written in: once
`$system_class.argv` (system.py) starts your real binary, delete this file. It exists so the
skeleton passes its tests out of the box, and to show what a node does for the harness: listen
on the address it is given, answer a readiness probe, and keep what it acknowledged in its data
directory, so a killed node comes back with it.

Protocol, one JSON object per line each way:

    {"op": "ping"}                               -> {"ok": true, "id": "n1", "primary": "n1"}
    {"op": "read", "key": k}                     -> {"ok": true, "value": v}   (null: never written)
    {"op": "write", "key": k, "value": v}        -> {"ok": true}
    {"op": "cas", "key": k, "old": a, "new": b}  -> {"ok": true} or {"ok": false, "error": "cas-mismatch"}

A failed request says whether it may have taken effect: `"unknown": true`.

Replication: none. The first node in sorted id order, the primary, holds every key; the others
forward each request to it and relay its answer. That is linearizable (the primary applies one
request at a time and writes its file before it answers) but not fault tolerant: while the
primary is down, nothing works. A real system replicates; that is what faultline tests.

    python -m $pkg.server --id n1 --listen ADDR:PORT --data-dir DIR --peer n2=ADDR:PORT ...
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

FORWARD_TIMEOUT = 2.0  # below the client's timeout, so the client hears why a forward failed


class Store:
    """The primary's keys, in one JSON file replaced atomically (and fsynced) on every change."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        self.data: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}

    def apply(self, request: dict[str, Any]) -> dict[str, Any]:
        key = json.dumps(request.get("key"))  # file keys are strings: keep 1 and "1" apart
        with self.lock:
            if request["op"] == "read":
                return {"ok": True, "value": self.data.get(key)}
            changed = dict(self.data)
            if request["op"] == "write":
                changed[key] = request["value"]
            elif request["op"] == "cas":
                if self.data.get(key) != request["old"]:
                    return {"ok": False, "error": "cas-mismatch"}
                changed[key] = request["new"]
            else:
                return {"ok": False, "error": f"unknown op {request['op']!r}"}
            self._save(changed)  # on disk before it is visible or acknowledged
            self.data = changed
            return {"ok": True}

    def _save(self, data: dict[str, Any]) -> None:
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "w") as f:
            json.dump(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)


class Node:
    def __init__(self, node_id: str, data_dir: Path, peers: dict[str, tuple[str, int]]):
        self.id = node_id
        self.primary = min([node_id, *peers])
        self.primary_address = peers.get(self.primary)
        self.store = Store(data_dir / "store.json") if self.primary == node_id else None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        if request.get("op") == "ping":
            return {"ok": True, "id": self.id, "primary": self.primary}
        if self.store is not None:
            return self.store.apply(request)
        return self.forward(request)

    def forward(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.primary_address is not None
        try:
            conn = socket.create_connection(self.primary_address, timeout=FORWARD_TIMEOUT)
        except OSError as e:  # nothing was sent: the request certainly did not happen
            return {"ok": False, "error": f"primary {self.primary} unreachable: {e}"}
        try:
            with conn, conn.makefile("rwb") as stream:
                stream.write(json.dumps(request).encode() + b"\\n")
                stream.flush()
                line = stream.readline()
        except OSError as e:
            return {"ok": False, "error": f"no answer from primary {self.primary}: {e}", "unknown": True}
        if not line:
            return {"ok": False, "error": f"primary {self.primary} closed the connection", "unknown": True}
        return json.loads(line)


class Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        node: Node = self.server.node  # type: ignore[attr-defined]
        for line in self.rfile:
            try:
                reply = node.handle(json.loads(line))
            except Exception as e:  # say so rather than drop the connection; it may have happened
                reply = {"ok": False, "error": f"{type(e).__name__}: {e}", "unknown": True}
            self.wfile.write(json.dumps(reply).encode() + b"\\n")
            self.wfile.flush()


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True  # a restarted node binds its port again at once


def address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", required=True, help="this node's name, e.g. n1")
    parser.add_argument("--listen", required=True, type=address, help="ADDR:PORT")
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--peer", action="append", default=[], help="NAME=ADDR:PORT, once per other node")
    args = parser.parse_args(argv)
    peers = {name: address(where) for name, _, where in (p.partition("=") for p in args.peer)}
    args.data_dir.mkdir(parents=True, exist_ok=True)
    server = Server(args.listen, Handler)
    server.node = Node(args.id, args.data_dir, peers)  # type: ignore[attr-defined]
    print(f"{args.id} listening on {args.listen[0]}:{args.listen[1]}, primary {server.node.primary}", flush=True)  # type: ignore[attr-defined]
    server.serve_forever()


if __name__ == "__main__":
    main()
'''
