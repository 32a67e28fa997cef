"""The wire protocol every shipped system speaks: one JSON object a line over TCP.

A request is a JSON object with a "type"; the reply is one JSON object. A connection carries
any number of request/reply pairs in order. Servers are threaded (one thread a connection), which
is plenty for a test cluster and keeps the reference systems short enough to read.
"""

from __future__ import annotations

import argparse
import json
import socket
import socketserver
import threading
from typing import Any, Callable

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


def encode(message: dict[str, Any]) -> bytes:
    return (json.dumps(message, separators=(",", ":")) + "\n").encode()


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
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
