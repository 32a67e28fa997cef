"""One txkv node: a transactional key-value server, as a TCP server speaking `wire`'s JSON lines.

Run as `python -m systems_under_test.txkv.server --id n1 --listen ADDR:PORT --peer n2=ADDR:PORT
... --mode MODE --data-dir DIR`. One process is one node.

The node with the smallest name is the primary: it runs the storage engine
(`systems_under_test.txkv.engines`) and keeps the write-ahead log. Replication is not the point
of txkv, so the others hold no data: each forwards every transaction to the primary over a
connection of its own per client connection (so one client's lock wait never stalls another's),
the way a stateless SQL front end forwards to its database. A partition between a front end and
the primary therefore makes that front end refuse work, and killing the primary stops the
cluster until it restarts and replays its log.

Requests:
- `{"type": "ping"}` -> `{"status": "ok", "id", "role": "primary"|"proxy", "primary"}`
- `{"type": "txn", "ops": [[f, key, value], ...], "abort": bool}` -> `{"status": "ok", "ops":
  [...reads filled in]}`, or `aborted` (rolled back, surely no effect), `unavailable` (a front
  end could not reach the primary: nothing was sent), `unknown` (a front end lost the primary
  after sending: the transaction may have committed), `bad-request`.
- `{"type": "dump"}` (primary) -> the newest committed value of every key.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.txkv.engines import LOCKING_MODES, MVCC_MODES, Aborted, check_ops, make_engine

MODES = ("mvcc-si", "strict-2pl") + tuple(m for m in MVCC_MODES + LOCKING_MODES if m not in ("mvcc-si", "strict-2pl"))
FORWARD_TIMEOUT = 8.0  # above a transaction's worst case on the primary (steps plus a lock wait)

Reply = dict[str, Any]


def primary_of(names: list[str]) -> str:
    return min(names)


class Primary:
    def __init__(self, node_id: str, mode: str, data_dir: Path, step_delay: float, flush_interval: float):
        self.node_id = node_id
        self.engine = make_engine(mode, data_dir, step_delay, flush_interval)

    def handle(self, message: dict[str, Any]) -> Reply:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id, "role": "primary", "primary": self.node_id}
        if kind == "dump":
            return {"status": "ok", **self.engine.dump()}
        if kind != "txn":
            return {"status": "bad-request", "error": f"unknown request type {kind!r}"}
        try:
            ops = check_ops(message.get("ops"))
        except ValueError as e:
            return {"status": "bad-request", "error": str(e)}
        try:
            return {"status": "ok", "ops": self.engine.execute(ops, bool(message.get("abort")))}
        except Aborted as e:
            return {"status": "aborted", "error": str(e)}


class FrontEnd:
    """A node that is not the primary: forwards transactions, one upstream connection per
    client connection (per handler thread)."""

    def __init__(self, node_id: str, primary: str, primary_address: tuple[str, int], own_host: str):
        self.node_id, self.primary = node_id, primary
        self.primary_address = primary_address
        self.own_host = own_host
        self.upstream = threading.local()

    def handle(self, message: dict[str, Any]) -> Reply:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id, "role": "proxy", "primary": self.primary}
        if kind != "txn":
            return {"status": "bad-request", "error": f"{self.node_id} forwards only transactions; ask {self.primary}"}
        conn = getattr(self.upstream, "conn", None)
        if conn is None:
            host, port = self.primary_address
            conn = self.upstream.conn = wire.Connection(host, port, FORWARD_TIMEOUT, source=self.own_host)
        try:
            return conn.call(message)
        except wire.WireError as e:
            status = "unknown" if e.sent else "unavailable"
            return {"status": status, "error": f"{self.node_id} -> primary {self.primary}: {e}"}


def main(argv: list[str] | None = None) -> None:
    parser = wire.server_parser("txkv", "One node of the txkv transactional store.", MODES,
                                "where the primary keeps its write-ahead log")
    parser.add_argument("--step-delay", type=float, default=0.003,
                        help="seconds before each micro-op and before commit (a client's round trip)")
    parser.add_argument("--flush-interval", type=float, default=1.0,
                        help="ack-before-flush: seconds between log flushes")
    args = wire.parse_server_args(parser, argv)
    peers = args.peers
    host, port = args.listen
    primary = primary_of([args.id, *peers])
    if primary == args.id:
        args.data_dir.mkdir(parents=True, exist_ok=True)
        node: Primary | FrontEnd = Primary(args.id, args.mode, args.data_dir, args.step_delay, args.flush_interval)
    else:
        node = FrontEnd(args.id, primary, peers[primary], host)
    wire.serve(host, port, node.handle)
    print(f"txkv {args.id} ({args.mode}, {'primary' if primary == args.id else 'front end for ' + primary}) "
          f"listening on {host}:{port}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
