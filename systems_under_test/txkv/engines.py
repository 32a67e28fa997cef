"""txkv's two storage engines: multi-version snapshots and two-phase locking, each with the
isolation mistakes of seed S1 (lines 1290-1381, GUIDE 4.6 T-h..T-k) as modes.

A transaction arrives whole (its micro-ops `[f, key, value]`, f `r`, `append` or `w`) and is
executed one micro-op at a time in the request's own thread. Each step first waits `step_delay`
seconds: it stands in for the round trip an interactive client spends between statements, so
transactions overlap the way they do in a real database instead of running back to back.

Both engines log every commit to a write-ahead log (`systems_under_test.storage.DurableLog`,
fsynced before the commit is acknowledged, except in `ack-before-flush`) and replay it at start.
The log holds whole values per key, so replay needs no micro-op semantics.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systems_under_test.storage import DurableLog

MVCC_MODES = ("mvcc-si", "visibility-txid-le", "gc-below-horizon", "no-first-committer-wins", "ack-before-flush")
LOCKING_MODES = ("strict-2pl", "2pl-early-release")
LOCK_WAIT = 2.0  # seconds an older transaction waits for a lock before giving up (a safety net)


class Aborted(Exception):
    """The transaction was rolled back; the message says why."""


def apply_micro_op(op: list, current: Any) -> tuple[Any, Any]:
    """(what the micro-op returns, the key's new value or None for a read)."""
    f, _, value = op
    if f == "r":
        return (list(current) if isinstance(current, list) else current), None
    if f == "append":
        return value, (list(current) if isinstance(current, list) else []) + [value]
    if f == "w":
        return value, value
    raise ValueError(f"unknown micro-op {f!r} (expected r, append or w)")


def check_ops(ops: Any) -> list[list]:
    if not isinstance(ops, list) or not all(isinstance(o, list) and len(o) == 3 for o in ops):
        raise ValueError("a transaction is a list of [f, key, value] micro-ops")
    for f, key, _ in ops:
        if f not in ("r", "append", "w"):
            raise ValueError(f"unknown micro-op {f!r} (expected r, append or w)")
        if not isinstance(key, (int, str)):
            raise ValueError(f"keys are integers or strings, not {key!r}")
    return ops


class WriteAheadLog:
    """Commit records `{"txid", "ts", "writes": [[key, value], ...]}`. With `ack_before_flush`
    a record only joins an in-memory buffer that a background thread writes out every
    `flush_interval`: the commit is acknowledged first (T-k), so SIGKILL loses the buffer."""

    def __init__(self, path: Path, ack_before_flush: bool = False, flush_interval: float = 1.0):
        self.log = DurableLog(path, sync=True)
        self.ack_before_flush = ack_before_flush
        self.flush_interval = flush_interval
        self.pending: list[dict] = []
        self.lock = threading.Lock()
        if ack_before_flush:
            threading.Thread(target=self._flusher, name="wal-flusher", daemon=True).start()

    @property
    def records(self) -> list[dict]:
        return self.log.records

    def append(self, record: dict) -> None:
        with self.lock:
            if self.ack_before_flush:
                self.pending.append(record)
            else:
                self.log.append(record)

    def _flusher(self) -> None:
        while True:
            time.sleep(self.flush_interval)
            with self.lock:
                batch, self.pending = self.pending, []
                if batch:
                    self.log.extend(batch)


# --------------------------------------------------------------------------------------------
# Multi-version snapshots


@dataclass
class Version:
    txid: int
    value: Any
    commit_ts: int | None = None  # None while the writer runs


@dataclass
class MvccTxn:
    txid: int
    snapshot_ts: int
    writes: dict[Any, Any] = field(default_factory=dict)


class MvccEngine:
    """Versions stamped with their writer's txid, installed at write time and given a commit
    timestamp at commit (the seed's Version storage, S1:1356-1371).

    - `mvcc-si`: a snapshot is the commit timestamp at begin; a read sees the newest version
      committed at or before it; a commit that finds a key it wrote committed by someone else
      since its snapshot aborts (first committer wins); GC keeps, per key, every version a live
      snapshot may need. Snapshot isolation, so write skew (G2-item) is allowed.
    - `visibility-txid-le` (T-h, S1:1368-1370): a read sees the newest version whose txid is
      <= its own, committed or not, and whatever committed after its snapshot.
    - `gc-below-horizon` (T-i, S1:1373-1380): GC deletes every version written by a txid below
      the oldest active one, the newest committed version of a key included.
    - `no-first-committer-wins`: no write-write check at commit, so the later committer's
      version, built on an older snapshot, replaces the earlier one's (lost update).
    - `ack-before-flush` (T-k): `mvcc-si` whose commit is acknowledged before its log record is
      flushed.
    """

    def __init__(self, mode: str, data_dir: Path, step_delay: float, gc_interval: float = 0.05,
                 flush_interval: float = 1.0):
        self.mode = mode
        self.step_delay = step_delay
        self.mutex = threading.Lock()
        self.commit_lock = threading.Lock()  # commits take timestamps in log order
        self.wal = WriteAheadLog(data_dir / "txkv.wal", mode == "ack-before-flush", flush_interval)
        self.versions: dict[Any, list[Version]] = {}
        self.active: dict[int, MvccTxn] = {}
        self.clock = 0
        self.next_txid = 1
        for record in self.wal.records:
            for key, value in record["writes"]:
                self.versions.setdefault(key, []).append(Version(record["txid"], value, record["ts"]))
            self.clock = max(self.clock, record["ts"])
            self.next_txid = max(self.next_txid, record["txid"] + 1)
        threading.Thread(target=self._collector, args=(gc_interval,), name="gc", daemon=True).start()

    def execute(self, ops: list[list], abort: bool = False) -> list[list]:
        with self.mutex:
            txn = MvccTxn(self.next_txid, self.clock)
            self.next_txid += 1
            self.active[txn.txid] = txn
        try:
            done = []
            for op in ops:
                time.sleep(self.step_delay)
                with self.mutex:
                    key = op[1]
                    current = txn.writes[key] if key in txn.writes else self._visible(key, txn)
                    result, new = apply_micro_op(op, current)
                    if new is not None:
                        self._install(key, txn, new)
                done.append([op[0], key, result])
            time.sleep(self.step_delay)
            if abort:
                raise Aborted("rolled back as the client asked")
            self._commit(txn)
            return done
        except BaseException:
            with self.mutex:
                self._discard(txn)
            raise
        finally:
            with self.mutex:
                self.active.pop(txn.txid, None)

    def _visible(self, key: Any, txn: MvccTxn) -> Any:
        best: Version | None = None
        for v in self.versions.get(key, ()):
            if self.mode == "visibility-txid-le":
                seen = v.txid <= txn.txid and (best is None or v.txid > best.txid)
            else:
                seen = (v.commit_ts is not None and v.commit_ts <= txn.snapshot_ts
                        and (best is None or v.commit_ts > best.commit_ts))
            if seen:
                best = v
        return best.value if best else None

    def _install(self, key: Any, txn: MvccTxn, value: Any) -> None:
        chain = self.versions.setdefault(key, [])
        if key in txn.writes:
            for v in chain:
                if v.txid == txn.txid:
                    v.value = value
        else:
            chain.append(Version(txn.txid, value))
        txn.writes[key] = value

    def _discard(self, txn: MvccTxn) -> None:
        for key in txn.writes:
            chain = self.versions.get(key, [])
            chain[:] = [v for v in chain if not (v.txid == txn.txid and v.commit_ts is None)]

    def _commit(self, txn: MvccTxn) -> None:
        if not txn.writes:
            return
        with self.commit_lock:
            with self.mutex:
                if self.mode != "no-first-committer-wins":
                    for key in txn.writes:
                        if any(v.commit_ts is not None and v.commit_ts > txn.snapshot_ts
                               for v in self.versions.get(key, ())):
                            raise Aborted(f"key {key!r} was committed by another transaction since this one began")
                ts = self.clock + 1
            self.wal.append({"txid": txn.txid, "ts": ts, "writes": [[k, v] for k, v in txn.writes.items()]})
            with self.mutex:
                for key in txn.writes:
                    for v in self.versions[key]:
                        if v.txid == txn.txid:
                            v.commit_ts = ts
                self.clock = ts

    def _collector(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            with self.mutex:
                self.collect_garbage()

    def collect_garbage(self) -> None:
        """Drop versions no transaction can see any more (caller holds the mutex)."""
        if self.mode == "gc-below-horizon":
            # The seed's rule: "Oldest: txn_id=5 -> can delete versions with txn_id < 5".
            horizon = min(self.active, default=self.next_txid)
            for chain in self.versions.values():
                chain[:] = [v for v in chain if v.commit_ts is None or v.txid >= horizon]
            return
        horizon = min((t.snapshot_ts for t in self.active.values()), default=self.clock)
        for chain in self.versions.values():
            below = [v for v in chain if v.commit_ts is not None and v.commit_ts <= horizon]
            if len(below) > 1:
                newest = max(below, key=lambda v: v.commit_ts)
                chain[:] = [v for v in chain if v is newest or v not in below]

    def dump(self) -> dict[str, Any]:
        """The newest committed value of every key."""
        with self.mutex:
            state = {}
            for key, chain in self.versions.items():
                committed = [v for v in chain if v.commit_ts is not None]
                if committed:
                    state[key] = max(committed, key=lambda v: v.commit_ts).value
            return {"clock": self.clock, "values": [[k, v] for k, v in state.items()]}


# --------------------------------------------------------------------------------------------
# Two-phase locking


@dataclass
class LockTxn:
    txid: int
    undo: dict[Any, Any] = field(default_factory=dict)  # key -> value before this txn wrote it
    writes: dict[Any, Any] = field(default_factory=dict)
    held: dict[Any, str] = field(default_factory=dict)  # key -> "S" or "X"


class LockingEngine:
    """One value per key, updated in place under shared/exclusive locks, with an undo record
    per key for rollback. Deadlocks are prevented by wait-die: a transaction that wants a lock
    held by an older one aborts at once; an older one waits.

    - `strict-2pl`: every lock is held until the commit is logged or the rollback is done.
      Serializable, and strictly so: a transaction's locks outlive its acknowledgement's start.
    - `2pl-early-release` (T-j, S1:1298-1307): at the lock point (after the last micro-op) the
      shrinking phase releases every lock, and only then is the transaction committed or rolled
      back. Others read and overwrite its uncommitted values, and a rollback restores values
      over their writes.
    """

    def __init__(self, mode: str, data_dir: Path, step_delay: float):
        self.mode = mode
        self.step_delay = step_delay
        self.mutex = threading.Lock()
        self.released = threading.Condition(self.mutex)
        self.commit_lock = threading.Lock()
        self.wal = WriteAheadLog(data_dir / "txkv.wal")
        self.values: dict[Any, Any] = {}
        self.locks: dict[Any, dict[int, str]] = {}  # key -> holder txid -> mode
        self.next_txid = 1
        for record in self.wal.records:
            for key, value in record["writes"]:
                self.values[key] = value
            self.next_txid = max(self.next_txid, record["txid"] + 1)

    def execute(self, ops: list[list], abort: bool = False) -> list[list]:
        with self.mutex:
            txn = LockTxn(self.next_txid)
            self.next_txid += 1
        try:
            done = []
            for op in ops:
                time.sleep(self.step_delay)
                key = op[1]
                with self.mutex:
                    self._lock(txn, key, "S" if op[0] == "r" else "X")
                    result, new = apply_micro_op(op, self.values.get(key))
                    if new is not None:
                        txn.undo.setdefault(key, self.values.get(key))
                        txn.writes[key] = new
                        self.values[key] = new
                done.append([op[0], key, result])
        except BaseException:
            self._roll_back(txn)
            raise
        if self.mode == "2pl-early-release":
            with self.mutex:
                self._release(txn)
        time.sleep(self.step_delay)
        if abort:
            self._roll_back(txn)
            raise Aborted("rolled back as the client asked")
        try:
            if txn.writes:
                with self.commit_lock:
                    self.wal.append({"txid": txn.txid, "ts": txn.txid,
                                     "writes": [[k, v] for k, v in txn.writes.items()]})
        except BaseException:
            self._roll_back(txn)
            raise
        with self.mutex:
            self._release(txn)
        return done

    def _lock(self, txn: LockTxn, key: Any, mode: str) -> None:
        if txn.held.get(key) == "X" or txn.held.get(key) == mode:
            return
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            holders = self.locks.setdefault(key, {})
            conflicting = [t for t, m in holders.items() if t != txn.txid and (mode == "X" or m == "X")]
            if not conflicting:
                holders[txn.txid] = mode
                txn.held[key] = mode
                return
            if any(t < txn.txid for t in conflicting):
                raise Aborted(f"wait-die: an older transaction holds key {key!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise Aborted(f"waited {LOCK_WAIT:g}s for key {key!r}")
            self.released.wait(left)

    def _release(self, txn: LockTxn) -> None:
        for key in txn.held:
            self.locks.get(key, {}).pop(txn.txid, None)
        txn.held.clear()
        self.released.notify_all()

    def _roll_back(self, txn: LockTxn) -> None:
        with self.mutex:
            for key, before in txn.undo.items():
                if before is None:
                    self.values.pop(key, None)
                else:
                    self.values[key] = before
            self._release(txn)

    def dump(self) -> dict[str, Any]:
        with self.mutex:
            return {"values": [[k, v] for k, v in self.values.items()]}


def make_engine(mode: str, data_dir: Path, step_delay: float, flush_interval: float = 1.0) -> MvccEngine | LockingEngine:
    if mode in LOCKING_MODES:
        return LockingEngine(mode, data_dir, step_delay)
    return MvccEngine(mode, data_dir, step_delay, flush_interval=flush_interval)
