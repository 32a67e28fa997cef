"""dynkv node: a Dynamo-style leaderless key-value store, one process per node.

Keys are placed on a consistent-hash ring with virtual nodes (`ring.py`); each key lives on N
replicas. Any node coordinates a client request by fanning it out to the key's replicas.
Every stored value carries a version `[counter, coordinator id, nonce]`, compared as a tuple;
the nonce keeps two writes minted by the same node (concurrently, or before and after a crash)
from ever sharing a version. A replica keeps a value only if its version is newer, and logs it
durably (fsync) before acknowledging. A background anti-entropy loop pushes and pulls records
with every peer that shares keys, so replicas converge once faults heal. It runs every 5 s by
default: as in Dynamo it is the slow backstop, and read repair is what reads rely on (a fast
loop would also hide the read-path mistakes the buggy modes are there to show).

Modes (`--mode`):

- `strict` (default): R = W = majority of N, so R + W > N. ABD register: a write first reads
  the highest version from R replicas and writes counter + 1 to W replicas; a read takes the
  newest of R replies and writes it back until W replicas hold it before returning. One key
  is then a linearizable register. Compare-and-set is NOT offered: a coordinator's read phase
  followed by a conditional write phase is not atomic under concurrency, and a linearizable cas
  needs consensus per key (Paxos, as Cassandra's LWT), which this store does not implement.
- `eventual`: R = W = 1. Fast, not linearizable, converges through anti-entropy.

Buggy modes: each is the classic mistake of the seed guides, in one marked place
(`# BUG(<mode>)`). Citations are to /work/shared/seeds/GUIDE.md section 4.3 (lines 149-162,
with the seed lines it gives) and its list of dynkv's modes (section 5, lines 278-283):

- `per-node-version` (GUIDE.md Q-a, line 151; seed S3:127-133, S3:1804, S3:1849): each replica
  mints the version from its own node-wide counter, so a busy replica's old value outranks a
  newer write. Deviation: `_store_put`.
- `reachable-majority` (Q-b, line 152; S3:145, S3:156-159): the quorum is a majority of the
  replicas that look available (those that answered lately), so a node cut off alone acknowledges
  writes by itself. Deviation: `_quorum_call`.
- `no-read-repair` (Q-c, line 153; S3:139, S3:1292-1295, S3:191, S3:1317, S3:1849): writes
  go to whatever replicas answer even short of a read quorum and are never rolled back, and
  reads return the newest of R replies without writing it back, so a failed write is seen by
  one read and lost by the next. Deviation: `_coordinate_write` (store before the quorum; only
  matters combined with) `_coordinate_read` (no write-back).
- `wallclock-lww` (Q-e, line 155; S3:1272, S3:438, S1:720-723): versions are wall-clock
  timestamps (`time.time()`, which the clock nemesis skews), last write wins, so a write from a
  node whose clock is behind silently loses. Deviation: `_mint_version`.
- `equal-version-no-repair` (Q-g, line 157; S3:291-296, S3:1522-1526): replicas compare bare
  counters and leave equal ones alone, so two replicas holding different values under the same
  counter diverge forever. Like the seed's store it runs with R = W = 1, where two coordinators
  (concurrent, or on two sides of a partition) readily mint the same counter. Deviation:
  `_newer`.

Everything but `wallclock-lww`'s timestamps uses the monotonic clock.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from systems_under_test.dynkv.ring import Ring
from systems_under_test.storage import DurableLog
from systems_under_test import wire
from systems_under_test.wire import Connection, WireError, serve

MODES = (
    "strict",
    "eventual",
    "per-node-version",
    "reachable-majority",
    "no-read-repair",
    "wallclock-lww",
    "equal-version-no-repair",
)
# Modes that size quorums like `eventual` (R = W = 1) unless --r/--w say otherwise.
SINGLE_REPLICA_QUORUM_MODES = frozenset({"eventual", "equal-version-no-repair"})

PEER_TIMEOUT = 1.0  # seconds for one replica RPC
PHASE_TIMEOUT = 1.5  # seconds a coordinator waits for one quorum phase
PEER_DOWN_SECONDS = 3.0  # reachable-majority: how long a peer that did not answer is left out
STALE_SOCKET_FAILURE = 0.2  # seconds; a failure faster than this is a dead pooled connection


def version_order(version: list | None) -> tuple:
    """Sort key of a version; a missing value is older than every version."""
    if version is None:
        return (-1, "", "")
    return tuple(version)


@dataclass
class Gathered:
    replies: list[dict[str, Any]]
    reached: bool  # whether enough replicas answered to make the quorum


@dataclass
class Config:
    node_id: str
    host: str
    port: int
    peers: dict[str, tuple[str, int]]
    mode: str
    data_dir: Path
    n: int
    r: int
    w: int
    vnodes: int
    anti_entropy_interval: float  # 0 disables anti-entropy (tests of read repair alone)


class DynNode:
    def __init__(self, config: Config):
        self.config = config
        self.id = config.node_id
        self.mode = config.mode
        self.ring = Ring([self.id, *config.peers], config.n, config.vnodes)
        self._lock = threading.Lock()
        self._log = DurableLog(config.data_dir / "store.log")
        self.store: dict[str, tuple[Any, list]] = {}
        for key, value, version in self._log.records:
            self.store[key] = (value, version)  # the log is in apply order: the last record holds
        # Only `per-node-version` uses it: the node-wide write counter of the seed's replicas.
        self.node_counter = max((v[0] for _, v in self.store.values() if isinstance(v[0], int)), default=0)
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="fanout")
        self._down_until: dict[str, float] = {}  # reachable-majority: peer -> monotonic time it is tried again
        self._connections = threading.local()  # one connection per peer per thread
        self._stopping = threading.Event()

    # ----- replica side: local state -----

    def _newer(self, theirs: list | None, mine: list | None) -> bool:
        """Whether a replica (storing a put, or repairing) should replace `mine` with `theirs`."""
        if self.mode == "equal-version-no-repair" and theirs is not None and mine is not None:
            if theirs[0] == mine[0]:
                # BUG(equal-version-no-repair): the seed compares bare counters and does nothing
                # when they are equal, "if versions are equal, keep both" (GUIDE.md Q-g,
                # S3:291-296, S3:1522-1526). Two writes minted with the same counter on two
                # replicas are then never reconciled, by later puts or by anti-entropy.
                return False
        return version_order(theirs) > version_order(mine)

    def _apply(self, records: list[tuple[str, Any, list]]) -> None:
        """Store each record whose version is newer than ours, durably, in one fsync."""
        with self._lock:
            fresh = []
            for key, value, version in records:
                if self._newer(version, self.store.get(key, (None, None))[1]):
                    self.store[key] = (value, version)
                    fresh.append([key, value, version])
            if fresh:
                self._log.extend(fresh)

    def _store_put(self, key: str, value: Any, version: list | None) -> None:
        if version is None:
            # BUG(per-node-version): the replica mints the version from its own counter, which
            # counts every write this node stored, for any key (GUIDE.md Q-a). Replicas of one
            # write get unrelated versions, and a busy replica's old value wins later reads.
            with self._lock:
                self.node_counter += 1
                version = [self.node_counter, self.id, uuid.uuid4().hex]
                self.store[key] = (value, version)
                self._log.append([key, value, version])
            return
        self._apply([(key, value, version)])

    def handle_replica(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message["type"]
        if kind == "get":
            with self._lock:
                value, version = self.store.get(message["key"], (None, None))
            return {"status": "ok", "value": value, "version": version}
        if kind == "put":
            self._store_put(message["key"], message["value"], message["version"])
            return {"status": "ok"}
        if kind == "sync":
            return self._handle_sync(message["from"], message["records"])
        raise ValueError(f"unknown replica request {kind!r}")

    # ----- coordinator side -----

    def _peer(self, name: str) -> Connection:
        connections = self._connections.__dict__.setdefault("by_peer", {})
        if name not in connections:
            host, port = self.config.peers[name]
            source = self.config.host if self.config.host not in ("0.0.0.0", "") else None
            connections[name] = Connection(host, port, PEER_TIMEOUT, source=source)
        return connections[name]

    def _call_replica(self, name: str, message: dict[str, Any]) -> dict[str, Any]:
        if name == self.id:
            reply = self.handle_replica(message)
        else:
            started = time.monotonic()
            try:
                reply = self._peer(name).call(message)
            except WireError:
                if time.monotonic() - started > STALE_SOCKET_FAILURE:
                    raise  # a timeout or a slow refusal: the peer is really unreachable
                # A pooled connection opened before the peer restarted fails at once, before
                # the new process saw the request, so one retry on a fresh connection is safe.
                reply = self._peer(name).call(message)
        if reply.get("status") != "ok":
            raise WireError(f"{name} refused {message['type']}: {reply}")
        return {**reply, "node": name}

    def _fanout(self, replicas: list[str], message: dict[str, Any], need: int) -> list[dict[str, Any]]:
        """Send to every replica; return the replies gathered once `need` arrived, all answered,
        or the phase timed out. Late replies are dropped (their calls finish in the pool)."""
        if need <= 0:
            return []
        pending = {self._pool.submit(self._call_replica, name, message) for name in replicas}
        replies: list[dict[str, Any]] = []
        deadline = time.monotonic() + PHASE_TIMEOUT
        while pending and len(replies) < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is None:
                    replies.append(future.result())
        return replies

    def _quorum_call(self, replicas: list[str], message: dict[str, Any], nominal: int) -> Gathered:
        """Send to the replicas and gather replies until `nominal` of them answered."""
        if self.mode == "reachable-majority":
            # BUG(reachable-majority): the quorum is a majority of the peers that look available,
            # capped at the configured one (GUIDE.md Q-b: `min(required_acks, majority)` over
            # `_get_available_peers()`, S3:145, S3:156-159, S3:212-217). A node alone in its
            # partition soon counts only itself, and so acknowledges writes alone, at once.
            now = time.monotonic()
            available = [name for name in replicas if self._down_until.get(name, 0.0) <= now]
            replies = self._fanout(available, message, need=len(available))
            answered = {reply["node"] for reply in replies}
            for name in available:
                if name not in answered:
                    self._down_until[name] = time.monotonic() + PEER_DOWN_SECONDS
            required = min(nominal, len(replies) // 2 + 1)
        else:
            replies = self._fanout(replicas, message, need=nominal)
            required = nominal
        return Gathered(replies, reached=len(replies) >= required)

    def _mint_version(self, newest_seen: list | None) -> list | None:
        nonce = uuid.uuid4().hex
        if self.mode == "wallclock-lww":
            # BUG(wallclock-lww): last write wins by wall-clock time (GUIDE.md Q-e). A write
            # coordinated by a node whose clock runs behind gets an older version than what it
            # overwrites, is acknowledged, and is silently lost.
            return [time.time(), self.id, nonce]
        if self.mode == "per-node-version":
            return None  # each replica mints its own: see BUG(per-node-version) in _store_put
        counter = newest_seen[0] if newest_seen is not None else 0
        return [int(counter) + 1, self.id, nonce]

    def _coordinate_write(self, key: str, value: Any) -> dict[str, Any]:
        replicas = self.ring.preference_list(key)
        seen = self._quorum_call(replicas, {"type": "get", "key": key}, self.config.r)
        if not seen.reached and not (self.mode == "no-read-repair" and seen.replies):
            return {"status": "unavailable", "maybe_applied": False, "error": "no read quorum for the version"}
        # BUG(no-read-repair), first half: short of a read quorum the seed's store writes anyway
        # to whatever it reaches and never rolls that back (GUIDE.md Q-c, S3:139, S3:1292-1295).
        # Harmless where reads write back (ABD absorbs partial writes); with the read-side half
        # below, a partitioned coordinator's failed write later shows up and vanishes again.
        newest = max((reply["version"] for reply in seen.replies), key=version_order)
        version = self._mint_version(newest)
        acks = self._quorum_call(replicas, {"type": "put", "key": key, "value": value, "version": version}, self.config.w)
        if not (seen.reached and acks.reached):
            # Some replicas may have stored it: the outcome is unknown, not failed.
            return {"status": "unavailable", "maybe_applied": True, "error": "no quorum"}
        return {"status": "ok"}

    def _coordinate_read(self, key: str) -> dict[str, Any]:
        replicas = self.ring.preference_list(key)
        gathered = self._quorum_call(replicas, {"type": "get", "key": key}, self.config.r)
        if not gathered.reached:
            return {"status": "unavailable", "error": "no read quorum"}
        replies = gathered.replies
        newest = max(replies, key=lambda reply: version_order(reply["version"]))
        if self.mode == "no-read-repair":
            # BUG(no-read-repair), second half: return the newest value seen without making sure
            # a write quorum holds it (GUIDE.md Q-c: no read repair or write-back, S3:191,
            # S3:1317, S3:1849). A partial write can be read now and lost by the next read.
            return {"status": "ok", "value": newest["value"]}
        holders = {reply["node"] for reply in replies if reply["version"] == newest["version"]}
        if newest["version"] is not None and len(holders) < self.config.w:
            others = [name for name in replicas if name not in holders]
            message = {"type": "put", "key": key, "value": newest["value"], "version": newest["version"]}
            if not self._quorum_call(others, message, self.config.w - len(holders)).reached:
                return {"status": "unavailable", "error": "no write quorum for read repair"}
        return {"status": "ok", "value": newest["value"]}

    def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type")
        if kind == "ping":
            return {"status": "ok", "node": self.id}
        if kind == "read":
            return self._coordinate_read(message["key"])
        if kind == "write":
            return self._coordinate_write(message["key"], message["value"])
        if kind == "cas":
            return {"status": "unsupported", "error": "dynkv offers no linearizable compare-and-set"}
        if kind == "dump":
            with self._lock:
                records = {key: {"value": value, "version": version} for key, (value, version) in self.store.items()}
            return {"status": "ok", "node": self.id, "records": records,
                    "replicas": {key: self.ring.preference_list(key) for key in records}}
        return self.handle_replica(message)

    # ----- anti-entropy -----

    def _shared_records(self, peer: str) -> dict[str, list]:
        with self._lock:
            return {key: [value, version] for key, (value, version) in self.store.items()
                    if self.id in self.ring.preference_list(key) and peer in self.ring.preference_list(key)}

    def _handle_sync(self, peer: str, records: dict[str, list]) -> dict[str, Any]:
        """Take the peer's newer records; answer with ours that are newer or that it lacks."""
        mine = self._shared_records(peer)
        take, give = [], {}
        for key, (value, version) in records.items():
            my_version = mine.get(key, (None, None))[1]
            if self._newer(version, my_version):
                take.append((key, value, version))
            elif self._newer(my_version, version):
                give[key] = mine[key]
        for key, record in mine.items():
            if key not in records:
                give[key] = record
        self._apply(take)
        return {"status": "ok", "records": give}

    def _anti_entropy_round(self) -> None:
        for peer in self.config.peers:
            try:
                reply = self._peer(peer).call({"type": "sync", "from": self.id, "records": self._shared_records(peer)})
            except WireError:
                continue  # unreachable now; the next round tries again
            mine = self._shared_records(peer)
            self._apply([(key, value, version) for key, (value, version) in reply.get("records", {}).items()
                         if self._newer(version, mine.get(key, (None, None))[1])])

    def anti_entropy_loop(self) -> None:
        interval = self.config.anti_entropy_interval
        while not self._stopping.wait(interval):
            try:
                self._anti_entropy_round()
            except Exception as e:  # keep repairing whatever one round ran into
                print(f"{self.id}: anti-entropy round failed: {type(e).__name__}: {e}", file=sys.stderr, flush=True)


def parse_config(argv: list[str] | None = None) -> Config:
    parser = wire.server_parser("dynkv", "A Dynamo-style leaderless key-value node.", MODES, "where the records are kept")
    parser.add_argument("--n", type=int, default=3, help="replicas per key (capped at the cluster size)")
    parser.add_argument("--r", type=int, help="read quorum (default: a majority of N; 1 in eventual modes)")
    parser.add_argument("--w", type=int, help="write quorum (default: a majority of N; 1 in eventual modes)")
    parser.add_argument("--vnodes", type=int, default=16, help="virtual nodes per node on the ring")
    parser.add_argument("--anti-entropy-interval", type=float, default=5.0, help="seconds between rounds; 0 disables")
    args = wire.parse_server_args(parser, argv)
    peers = args.peers
    n = min(args.n, len(peers) + 1)
    default_quorum = 1 if args.mode in SINGLE_REPLICA_QUORUM_MODES else n // 2 + 1
    r = args.r if args.r is not None else default_quorum
    w = args.w if args.w is not None else default_quorum
    if not (1 <= r <= n and 1 <= w <= n):
        parser.error(f"need 1 <= R, W <= N; got N={n} R={r} W={w}")
    host, port = args.listen
    return Config(args.id, host, port, peers, args.mode, args.data_dir, n, r, w, args.vnodes, args.anti_entropy_interval)


def main(argv: list[str] | None = None) -> None:
    config = parse_config(argv)
    node = DynNode(config)
    server = serve(config.host, config.port, node.handle)
    if config.anti_entropy_interval > 0:
        threading.Thread(target=node.anti_entropy_loop, name="anti-entropy", daemon=True).start()
    print(json.dumps({"node": node.id, "mode": node.mode, "n": config.n, "r": config.r, "w": config.w,
                      "keys": len(node.store), "listening": f"{config.host}:{config.port}"}), flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
