"""Packet delay in user space: a netfilter queue reader that holds each packet for a while, then
lets it go. Run on a node (inside its network namespace) by the `latency` fault:

    python -m nemeses.delay_shim --queue 7 --delay-ms 50 --jitter-ms 10 --seed 1 --pidfile F

The kernel here has no `netem`, so latency cannot come from a qdisc. An iptables rule sends the
packets to delay (`-j NFQUEUE --queue-num 7 --queue-bypass`) to this process, which answers each
with an ACCEPT verdict only once its delay is over. The packet itself stays in the kernel; only its
id travels (copy mode "meta"), so any protocol is delayed alike and connections are untouched,
unlike a proxy, which would have to know every port and would end and re-open connections. With
`--queue-bypass`, packets flow undelayed if this process is gone, so a crash here never becomes a
partition.

The netlink messages are built by hand (nfnetlink_queue's wire format is small and stable), so
the fault needs no C library or compiled Python package on the node.
"""

from __future__ import annotations

import argparse
import heapq
import os
import random
import select
import signal
import socket
import struct
import time
from pathlib import Path

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS, NFQA_CFG_QUEUE_MAXLEN = 1, 2, 3
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NF_ACCEPT = 1
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
QUEUE_MAXLEN = 20000  # packets the kernel holds for us before it passes them undelayed


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _message(msg_type: int, queue: int, attrs: bytes, seq: int = 0) -> bytes:
    body = struct.pack("=BBH", socket.AF_UNSPEC, 0, socket.htons(queue)) + attrs
    header = struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | msg_type, NLM_F_REQUEST, seq, 0)
    return header + body


def _packet_ids(data: bytes) -> list[int]:
    """The ids of the queued packets in one read from the socket."""
    ids, offset = [], 0
    while offset + 16 <= len(data):
        length, msg_type = struct.unpack_from("=IH", data, offset)
        if length < 16:
            break
        if msg_type == NLMSG_ERROR:
            error = struct.unpack_from("=i", data, offset + 16)[0]
            if error != 0:
                raise OSError(-error, f"netfilter queue refused a request: {os.strerror(-error)}")
        elif msg_type == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            pos, end = offset + 20, offset + length  # past nlmsghdr and nfgenmsg
            while pos + 4 <= end:
                alen, akind = struct.unpack_from("=HH", data, pos)
                if alen < 4:
                    break
                if akind & 0x7FFF == NFQA_PACKET_HDR:
                    ids.append(struct.unpack_from("!I", data, pos + 4)[0])
                pos += (alen + 3) & ~3
        offset += (length + 3) & ~3
    return ids


class DelayQueue:
    """Holds packet ids until their release time; answers ACCEPT for each when it comes."""

    def __init__(self, queue: int, delay: float, jitter: float, seed: int):
        self.queue, self.delay, self.jitter = queue, delay, jitter
        self.rng = random.Random(seed)
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind((0, 0))
        self.held: list[tuple[float, int]] = []
        self._configure()

    def _configure(self) -> None:
        bind = _attr(NFQA_CFG_CMD, struct.pack("!BxH", NFQNL_CFG_CMD_BIND, 0))
        params = _attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META) + b"\0\0\0")
        maxlen = _attr(NFQA_CFG_QUEUE_MAXLEN, struct.pack("!I", QUEUE_MAXLEN))
        for attrs in (bind, params, maxlen):
            self.sock.send(_message(NFQNL_MSG_CONFIG, self.queue, attrs))

    def _release_time(self) -> float:
        spread = self.rng.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        return time.monotonic() + max(0.0, self.delay + spread)

    def _accept(self, packet_id: int) -> None:
        verdict = _attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, packet_id))
        self.sock.send(_message(NFQNL_MSG_VERDICT, self.queue, verdict))

    def run(self) -> None:
        while True:
            now = time.monotonic()
            while self.held and self.held[0][0] <= now:
                self._accept(heapq.heappop(self.held)[1])
            timeout = max(0.0, self.held[0][0] - now) if self.held else None
            readable, _, _ = select.select([self.sock], [], [], timeout)
            if readable:
                for packet_id in _packet_ids(self.sock.recv(1 << 16)):
                    heapq.heappush(self.held, (self._release_time(), packet_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pidfile", type=Path, required=True)
    args = parser.parse_args()
    shim = DelayQueue(args.queue, args.delay_ms / 1000, args.jitter_ms / 1000, args.seed)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    # Written once bound, so whoever waits for the file knows packets are being delayed.
    tmp = args.pidfile.with_name(args.pidfile.name + ".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.replace(args.pidfile)
    shim.run()


if __name__ == "__main__":
    main()
