"""A small RESP2 client over a socket someone else connected.

The harness decides where sockets come from (for the local runtime: the client network
namespace, through `Cluster.connect`), so this module never opens one itself: it only encodes
commands and parses replies on the socket it is given. That is the whole of RESP2 that Redis
uses for replies: simple strings, errors, integers, bulk strings and arrays.
"""

from __future__ import annotations

import socket
from typing import Any

CRLF = b"\r\n"


class ReplyError(Exception):
    """The server answered with an error reply (`-ERR ...`, `-LOADING ...`). The connection is
    still in step and may be used again. `code` is the error's first word."""

    def __init__(self, message: str):
        super().__init__(message)
        self.code = message.split(" ", 1)[0] if message else ""


class ProtocolError(OSError):
    """The byte stream does not parse as RESP: the connection is out of step and must close."""


def encode(*args: bytes | str | int) -> bytes:
    """A command as Redis expects it from clients: an array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = str(arg).encode()
        else:
            raise TypeError(f"cannot send {arg!r} as a Redis argument")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Connection:
    """One RESP connection. Not thread-safe: a harness client uses it from one thread."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self._buffer = bytearray()

    def call(self, *args: bytes | str | int) -> Any:
        """Send one command and return its reply; an error reply raises `ReplyError`."""
        self.send(*args)
        return self.read_reply()

    def send(self, *args: bytes | str | int) -> None:
        self.sock.sendall(encode(*args))

    def read_reply(self) -> Any:
        reply = self._parse()
        if isinstance(reply, ReplyError):
            raise reply
        return reply

    def peer_closed(self) -> bool:
        """Whether the server has already closed its end (it was killed or restarted since the
        last reply). Checked before reusing a connection: a command sent on a socket the server
        closed was never read, so the caller can reconnect instead of calling it unknown."""
        timeout = self.sock.gettimeout()
        try:
            self.sock.settimeout(0.0)  # a peek that must not wait
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except BlockingIOError:
            return False  # nothing to read: open and idle, as it should be between commands
        except OSError:
            return True
        finally:
            try:
                self.sock.settimeout(timeout)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    # -- parsing ---------------------------------------------------------------------------

    def _parse(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return ReplyError(rest.decode(errors="replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._exactly(size + 2)
            if data[-2:] != CRLF:
                raise ProtocolError("bulk string not ended by CRLF")
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            if count < 0:
                return None
            return [self._parse() for _ in range(count)]
        raise ProtocolError(f"unexpected reply type {line[:20]!r}")

    def _line(self) -> bytes:
        while True:
            end = self._buffer.find(CRLF)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 2]
                return line
            self._fill()

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)  # socket.timeout (an OSError) when the server is slow
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        self._buffer += chunk


def parse_info(text: bytes | str) -> dict[str, str]:
    """`INFO` output (`field:value` lines, `# Section` headers) as a dict."""
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    fields = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            name, value = line.split(":", 1)
            fields[name] = value
    return fields
