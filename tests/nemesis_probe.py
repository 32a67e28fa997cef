"""A tiny node program for the nemesis tests: it measures what a fault does.

    python nemesis_probe.py serve ADDRESS DATA_DIR     the node's server (TCP 7300, UDP 7301)
    python nemesis_probe.py reach PEER                 prints ok or fail (TCP connect, 1 s)
    python nemesis_probe.py udp PEER COUNT             sends COUNT numbered datagrams
    python nemesis_probe.py rtt PEER COUNT             prints round-trip times in ms, one a line
    python nemesis_probe.py send PEER BYTES            prints the bytes/s a TCP transfer reached

Server commands, one line each on a fresh TCP connection: `time` (wall and monotonic clock),
`echo` (echo until closed), `sink` (count bytes until closed), `udp` (datagrams received since
`udp reset`: total and distinct), `spin S` (busy-loop iterations in S seconds), `hold PEER`
(keep a connection to PEER open), `held` (whether that connection still works), `log synced N`,
`log unsynced N` (append N records to a DurableLog), `log count` (records it holds).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from systems_under_test.storage import DurableLog  # noqa: E402

TCP_PORT, UDP_PORT = 7300, 7301


class Probe:
    def __init__(self, address: str, data_dir: Path):
        self.address, self.data_dir = address, data_dir
        self.lock = threading.Lock()
        self.datagrams: list[int] = []
        self.held: socket.socket | None = None
        self.log = DurableLog(data_dir / "probe.log", sync=True)

    def serve(self) -> None:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        udp.bind((self.address, UDP_PORT))
        threading.Thread(target=self._receive, args=(udp,), daemon=True).start()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.address, TCP_PORT))
        server.listen(64)
        while True:
            conn, _ = server.accept()
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _receive(self, udp: socket.socket) -> None:
        while True:
            data = udp.recv(64)
            with self.lock:
                self.datagrams.append(int(data))

    def _handle(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        line = b""
        while not line.endswith(b"\n"):  # unbuffered: what follows the line belongs to `echo`
            byte = conn.recv(1)
            if not byte:
                conn.close()
                return
            line += byte
        words = line.decode().split()
        try:
            reply = self._command(conn, words)
            if reply is not None:
                conn.sendall((json.dumps(reply) + "\n").encode())
        except OSError:
            pass
        finally:
            conn.close()

    def _command(self, conn: socket.socket, words: list[str]):
        if words == ["time"]:
            return {"time": time.time(), "monotonic": time.monotonic()}
        if words == ["echo"]:
            while data := conn.recv(4096):
                conn.sendall(data)
            return None
        if words == ["sink"]:
            total = 0
            while data := conn.recv(1 << 16):
                total += len(data)
            return {"bytes": total}
        if words[0] == "udp":
            with self.lock:
                got = self.datagrams
                if words[1:] == ["reset"]:
                    self.datagrams = []
            return {"received": len(got), "distinct": len(set(got))}
        if words[0] == "spin":
            end, count, cpu = time.monotonic() + float(words[1]), 0, time.thread_time()
            while time.monotonic() < end:
                count += 1
            return {"iterations": count, "cpu_seconds": time.thread_time() - cpu}
        if words[0] == "hold":
            self.held = socket.create_connection((words[1], TCP_PORT), timeout=2)
            self.held.sendall(b"echo\n")
            return {"held": True}
        if words == ["held"]:
            try:
                self.held.settimeout(2)  # type: ignore[union-attr]
                self.held.sendall(b"x")  # type: ignore[union-attr]
                return {"alive": self.held.recv(1) == b"x"}  # type: ignore[union-attr]
            except OSError as e:
                return {"alive": False, "error": str(e)}
        if words[0] == "log":
            if words[1] == "count":
                return {"records": len(self.log.records)}
            self.log.sync = words[1] == "synced"
            self.log.extend({"n": i, "pad": "p" * 200} for i in range(int(words[2])))
            return {"records": len(self.log.records)}
        return {"error": f"unknown command {words}"}


def main() -> None:
    command, args = sys.argv[1], sys.argv[2:]
    if command == "serve":
        Probe(args[0], Path(args[1])).serve()
    elif command == "reach":
        try:
            socket.create_connection((args[0], TCP_PORT), timeout=1).close()
            print("ok")
        except OSError:
            print("fail")
    elif command == "udp":
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(int(args[1])):
            sock.sendto(str(i).encode(), (args[0], UDP_PORT))
            if i % 50 == 49:
                time.sleep(0.002)  # pace, so the receiver's buffer never overflows
    elif command == "rtt":
        sock = socket.create_connection((args[0], TCP_PORT), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"echo\n")
        for _ in range(int(args[1])):
            start = time.monotonic()
            sock.sendall(b"x")
            sock.recv(1)
            print(round((time.monotonic() - start) * 1000, 3))
    elif command == "send":
        sock = socket.create_connection((args[0], TCP_PORT), timeout=30)
        sock.sendall(b"sink\n")
        payload, left = b"z" * 8192, int(args[1])
        start = time.monotonic()
        while left > 0:
            sock.sendall(payload[:left])
            left -= len(payload)
        sock.shutdown(socket.SHUT_WR)
        got = json.loads(sock.makefile("rb").readline())["bytes"]
        print(got / (time.monotonic() - start))


if __name__ == "__main__":
    main()
