"""Opening sockets inside a network namespace without the controller leaving the root one.

A network namespace is a per-thread attribute on Linux, and a socket belongs for its whole life
to the namespace it was created in. So one dedicated thread enters the client namespace once and
creates and connects sockets there on request; any thread may then use those sockets. The rest of
the controller stays in the root namespace, which by the network-safety rule never talks to
nodes.
"""

from __future__ import annotations

import ctypes
import os
import queue
import socket
import threading
from concurrent.futures import Future

CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread into the named namespace (`ip netns add` makes /run/netns/NAME)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into network namespace {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


class NamespaceConnector:
    """Creates TCP connections from inside one network namespace."""

    def __init__(self, netns: str):
        self.netns = netns
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        ready: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"netns-{netns}", daemon=True)
        self._thread.start()
        ready.result()  # re-raises if the thread could not enter the namespace

    def _run(self, ready: Future) -> None:
        try:
            enter_netns(self.netns)
        except OSError as e:
            ready.set_exception(e)
            return
        ready.set_result(None)
        while True:
            result = self._jobs.get()
            if result is None:
                return
            try:
                result.set_result(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            except OSError as e:
                result.set_exception(e)

    def socket(self) -> socket.socket:
        """A new TCP socket that belongs to the namespace."""
        result: Future = Future()
        self._jobs.put(result)
        return result.result()

    def connect(self, host: str, port: int, timeout: float) -> socket.socket:
        """A socket connected to host:port from inside the namespace. Only the socket's creation
        needs the namespace thread; connecting happens here, so a slow connect to a
        partitioned node holds up no one else."""
        sock = self.socket()
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        self._jobs.put(None)
        self._thread.join(timeout=5)
