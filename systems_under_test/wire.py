"""The wire protocol every shipped system speaks: one JSON object a line over TCP.

A request is a JSON object with a "type"; the reply is one JSON object. A connection carries
any number of request/reply pairs in order. Servers are threaded (one thread a connection), which
is plenty for a test cluster and keeps the reference systems short enough to read.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class WireError(OSError):
    """The peer could not be reached, timed out, or closed the connection. `sent` is False
    only when the failure came before any byte of the request left (opening the connection),
    which is what lets a client call the operation failed rather than unknown."""

    def __init__(self, message: str, sent: bool = True):
        super().__init__(message)
        self.sent = sent


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` from a server's command line."""
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def parse_peer(text: str) -> tuple[str, tuple[str, int]]:
    """A `--peer NAME=ADDR:PORT` argument, for argparse."""
    name, sep, address = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=ADDR:PORT, got {text!r}")
    return name, parse_address(address)


def server_parser(prog: str, description: str, modes: Sequence[str], data_dir_help: str) -> argparse.ArgumentParser:
    """The command line every shipped server takes, as `lifecycle.server_argv` writes it; a
    server adds its own flags to it."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--id", required=True, help="this node's name, e.g. n1")
    parser.add_argument("--listen", required=True, type=parse_address, help="ADDR:PORT to serve on")
    parser.add_argument("--peer", action="append", default=[], type=parse_peer, help="NAME=ADDR:PORT, once per other node")
    parser.add_argument("--mode", choices=modes, default=modes[0])
    parser.add_argument("--data-dir", required=True, type=Path, help=data_dir_help)
    return parser


def parse_server_args(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse a `server_parser` command line; `--peer`s become the dict `peers` (name -> address)."""
    args = parser.parse_args(argv)
    args.peers = dict(args.peer)
    if args.id in args.peers:
        parser.error(f"--peer names this node itself ({args.id})")
    return args


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default backlog is 5; servers in production listen with hundreds (Go and
    # Redis take SOMAXCONN or 511). With 5, a paused server's kernel refused the second retry of
    # every client, so a stall queued far fewer requests than it does at a real server.
    request_queue_size = 128
    handle_message: Handler


class _ConnectionHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        for line in self.rfile:
            try:
                message = json.loads(line)
                reply = self.server.handle_message(message)  # type: ignore[attr-defined]
            except Exception as e:  # one bad request must not take the server down
                reply = {"status": "error", "error": f"{type(e).__name__}: {e}"}
            try:
                self.wfile.write(encode(reply))
                self.wfile.flush()
            except OSError:
                return


def serve(host: str, port: int, handle: Handler) -> _Server:
    """Start serving in a background thread; returns the server (call `.shutdown()` to stop)."""
    server = _Server((host, port), _ConnectionHandler)
    server.handle_message = handle
    threading.Thread(target=server.serve_forever, name=f"serve-{port}", daemon=True).start()
    return server


class Connection:
    """A persistent connection to one peer or server, reopened after any failure.

    `call` is thread-safe (calls are serialised). After a timeout the socket is discarded, so a
    late reply to an old request can never be read as the reply to a new one.
    """

    def __init__(
        self,
        host: str,
        port: int,
        timeout: float,
        source: str | None = None,
        opener: Callable[[float], socket.socket] | None = None,
    ):
        self.host, self.port, self.timeout = host, port, timeout
        self.source = source  # local address to bind, so peers see the node's own address
        # Opens the socket instead of a plain connect: harness clients pass `lambda t:
        # cluster.connect(node, port, t)` so the socket comes from the client namespace.
        self.opener = opener
        self._sock: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()

    def call(self, message: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        with self._lock:
            sent = False
            try:
                if self._sock is not None and self._peer_gone():
                    self._close()
                if self._sock is None:
                    self._open(timeout)
                assert self._sock is not None
                self._sock.settimeout(timeout if timeout is not None else self.timeout)
                sent = True
                self._sock.sendall(encode(message))
                line = self._reader.readline()
                if not line:
                    raise WireError(f"{self.host}:{self.port} closed the connection")
                return json.loads(line)
            except (OSError, ValueError) as e:
                self._close()
                if isinstance(e, WireError):
                    raise
                what = "" if sent else "could not connect: "
                raise WireError(f"{self.host}:{self.port}: {what}{e}", sent=sent) from e

    def _peer_gone(self) -> bool:
        """Whether the idle socket already holds the peer's close (or a reset): its server died
        or dropped the connection between two requests. A request sent into it could never be
        read, so it is not sent: the connection is reopened first, and a refused reopen is a
        definite failure rather than an op of unknown outcome. Without this, every client's
        first request after a crash became an info op (31 in one 60 s counterd run, which hid
        the over-count of a duplicated retry behind its slack)."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)  # between requests the protocol leaves nothing to read but a close

    def _open(self, timeout: float | None) -> None:
        if self.opener is not None:
            self._sock = self.opener(timeout if timeout is not None else self.timeout)
            self._reader = self._sock.makefile("rb")
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.source:
                sock.bind((self.source, 0))
            sock.settimeout(timeout if timeout is not None else self.timeout)
            sock.connect((self.host, self.port))
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._reader = sock.makefile("rb")

    def _close(self) -> None:
        if self._sock is not None:
            try:
                self._reader.close()
                self._sock.close()
            except OSError:
                pass
        self._sock = None
        self._reader = None

    def close(self) -> None:
        with self._lock:
            self._close()


def request(host: str, port: int, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One request on a fresh connection."""
    conn = Connection(host, port, timeout)
    try:
        return conn.call(message)
    finally:
        conn.close()
