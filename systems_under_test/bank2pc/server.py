"""One bank2pc node: a shard of bank accounts and a two-phase-commit coordinator, as a TCP server.

Run as `python -m systems_under_test.bank2pc.server --id n1 --listen ADDR:PORT --peer n2=ADDR:PORT
... --mode M --data-dir DIR --accounts 8 --balance 10`. Account `a` lives on shard
`sorted(node ids)[a mod N]`. Every node is a participant for its own accounts and the coordinator
of the transactions its clients send it. One WAL per node (`bank2pc.wal`, fsynced) holds both
roles' records: PREPARED / COMMIT / ABORT as a participant, DECISION as a coordinator.

`correct`: a participant locks the accounts (a lock held by another transaction is a no vote, so
there are no deadlocks), checks that no balance would go negative, fsyncs PREPARED and only then
votes yes. The coordinator fsyncs its decision before phase 2 and answers the client once the
decision is logged. A participant that holds a prepared transaction too long asks its
coordinator; a coordinator with no record of a transaction it is not running answers abort and
logs that answer (presumed abort), so in-doubt transactions resolve once the network heals.
Read-all locks every account on every shard, reads, and succeeds only if every lock was still
held after the last read (the locks are leases, so a dead reader cannot block the bank).

Buggy modes, each one classic mistake:
- `non-atomic-transfer` (T-a, S2:151-154): debit, then credit, with no 2PC and no locks. A read
  between the two, or a credit that never arrives, sees money missing.
- `skip-unreachable` (Q-l, S3:407, S3:448): participants that cannot be reached are silently
  left out of both phases, and the rest commit their half.
- `always-yes` (Q-l, S3:426-427): prepare votes yes without checking the balance.
- `no-prepare-log` (T-k): PREPARED lives in memory only; a participant killed between its vote and
  the commit forgets the transaction and acknowledges the commit without applying it.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.storage import DurableLog

MODES = ("correct", "non-atomic-transfer", "skip-unreachable", "always-yes", "no-prepare-log")
PEER_TIMEOUT = 1.0
READ_LEASE = 2.0  # seconds a read lock keeps others out; a dead reader frees the bank after this
ASK_AFTER = 1.0  # seconds a participant waits on a prepared transaction before asking its coordinator

Reply = dict[str, Any]


def log(message: str) -> None:
    print(message, flush=True)


def shard_of(account: int, node_ids: list[str]) -> str:
    return node_ids[account % len(node_ids)]


@dataclass
class Prepared:
    coordinator: str
    deltas: dict[int, int]
    since: float = field(default_factory=time.monotonic)


class Node:
    def __init__(self, node_id: str, peers: dict[str, tuple[str, int]], mode: str, data_dir: Path,
                 accounts: int, balance: int):
        self.node_id, self.peers, self.mode = node_id, peers, mode
        self.node_ids = sorted([node_id, *peers])
        self.lock = threading.Lock()
        self.balances = {a: balance for a in range(accounts) if shard_of(a, self.node_ids) == node_id}
        self.locks: dict[int, tuple[str, float | None]] = {}  # account -> (owner txn, lease end or None)
        self.prepared: dict[str, Prepared] = {}
        self.outcomes: dict[str, str] = {}  # participant: txn -> commit | abort
        self.decisions: dict[str, str] = {}  # coordinator: txn -> commit | abort
        self.running: set[str] = set()  # coordinator: transactions still collecting votes
        self.wal = DurableLog(Path(data_dir) / "bank2pc.wal", sync=True)
        for record in self.wal.records:
            self.replay(record)
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="2pc")
        threading.Thread(target=self.resolve_loop, name="resolve", daemon=True).start()
        log(f"{node_id} ({mode}): replayed {len(self.wal.records)} records, balances {self.balances}, "
            f"{len(self.prepared)} in doubt")

    # -- the WAL ----------------------------------------------------------------------------

    def replay(self, record: dict[str, Any]) -> None:
        kind, txn = record["kind"], record.get("txn")
        if kind == "prepared":
            deltas = {int(a): d for a, d in record["deltas"].items()}
            self.prepared[txn] = Prepared(record["coordinator"], deltas)
            for a in deltas:
                self.locks[a] = (txn, None)
        elif kind in ("commit", "abort"):
            self.finish(txn, kind, {int(a): d for a, d in record.get("deltas", {}).items()})
        elif kind == "decision":
            self.decisions[txn] = record["outcome"]
        elif kind == "apply":  # non-atomic-transfer's unprotected debit or credit
            self.balances[int(record["account"])] += record["delta"]

    def finish(self, txn: str, outcome: str, deltas: dict[int, int]) -> None:
        self.prepared.pop(txn, None)
        self.outcomes[txn] = outcome
        if outcome == "commit":
            for a, d in deltas.items():
                self.balances[a] += d
        for a in [a for a, (owner, _) in self.locks.items() if owner == txn]:
            del self.locks[a]

    # -- participant --------------------------------------------------------------------------

    def free(self, account: int, txn: str) -> bool:
        owner = self.locks.get(account)
        if owner is None or owner[0] == txn:
            return True
        lease_end = owner[1]
        return lease_end is not None and lease_end < time.monotonic()

    def on_prepare(self, m: dict[str, Any]) -> Reply:
        txn, deltas = m["txn"], {int(a): d for a, d in m["deltas"].items()}
        with self.lock:
            if txn in self.outcomes:
                return {"status": "ok", "vote": self.outcomes[txn] == "commit"}
            if txn in self.prepared:
                return {"status": "ok", "vote": True}
            if not all(self.free(a, txn) for a in deltas):
                return {"status": "ok", "vote": False, "why": "locked"}
            if self.mode != "always-yes" and any(self.balances[a] + d < 0 for a, d in deltas.items()):
                return {"status": "ok", "vote": False, "why": "insufficient funds"}
            record = {"kind": "prepared", "txn": txn, "coordinator": m["coordinator"],
                      "deltas": {str(a): d for a, d in deltas.items()}, "wall": time.time()}
            if self.mode != "no-prepare-log":
                self.wal.append(record)  # on disk before the vote leaves
            self.replay(record)
        return {"status": "ok", "vote": True}

    def on_commit(self, m: dict[str, Any]) -> Reply:
        return self.decide_here(m["txn"], "commit")

    def on_abort(self, m: dict[str, Any]) -> Reply:
        return self.decide_here(m["txn"], "abort")

    def decide_here(self, txn: str, outcome: str) -> Reply:
        with self.lock:
            if txn in self.outcomes:
                return {"status": "ok"}
            state = self.prepared.get(txn)
            if state is None and outcome == "commit":
                if self.mode == "no-prepare-log":
                    return {"status": "ok"}  # the bug: forgot its vote, acknowledges without applying
                return {"status": "error", "error": f"commit of {txn}, which this shard never prepared"}
            deltas = state.deltas if state else {}
            self.wal.append({"kind": outcome, "txn": txn, "deltas": {str(a): d for a, d in deltas.items()},
                             "wall": time.time()})
            self.finish(txn, outcome, deltas)
        return {"status": "ok"}

    def resolve_loop(self) -> None:
        """Ask the coordinator about transactions prepared here for too long (after a crash, a
        partition or a pause cut phase 2 off)."""
        while True:
            time.sleep(0.5)
            with self.lock:
                stale = [(t, p.coordinator) for t, p in self.prepared.items() if time.monotonic() - p.since > ASK_AFTER]
            for txn, coordinator in stale:
                try:
                    reply = self.call(coordinator, {"type": "status", "txn": txn})
                except wire.WireError:
                    continue
                if reply.get("outcome") in ("commit", "abort"):
                    self.decide_here(txn, reply["outcome"])

    def on_read_lock(self, m: dict[str, Any]) -> Reply:
        token = m["txn"]
        with self.lock:
            if not all(self.free(a, token) for a in self.balances):
                return {"status": "error", "error": "accounts locked"}
            lease_end = time.monotonic() + READ_LEASE
            for a in self.balances:
                self.locks[a] = (token, lease_end)
            return {"status": "ok", "balances": {str(a): b for a, b in self.balances.items()}}

    def on_read_release(self, m: dict[str, Any]) -> Reply:
        """Whether every read lock was still ours: then no transfer touched this shard since the read."""
        token = m["txn"]
        with self.lock:
            held = all(self.locks.get(a, ("",))[0] == token for a in self.balances)
            for a in [a for a, (owner, _) in self.locks.items() if owner == token]:
                del self.locks[a]
        return {"status": "ok", "held": held}

    def on_apply(self, m: dict[str, Any]) -> Reply:
        """non-atomic-transfer's half of a transfer, applied at once with no lock."""
        a, d = int(m["account"]), m["delta"]
        with self.lock:
            if self.balances[a] + d < 0:
                return {"status": "error", "error": "insufficient funds"}
            record = {"kind": "apply", "account": a, "delta": d}
            self.wal.append(record)
            self.replay(record)
        return {"status": "ok"}

    # -- coordinator --------------------------------------------------------------------------

    def call(self, node_id: str, message: dict[str, Any]) -> Reply:
        if node_id == self.node_id:
            return self.handle(message)
        host, port = self.peers[node_id]
        return wire.request(host, port, message, PEER_TIMEOUT)

    def broadcast(self, targets: list[str], make: Any) -> dict[str, Any]:
        """Send to every target at once; node -> reply, or the WireError it raised."""
        futures = {n: self.pool.submit(self.call, n, make(n)) for n in targets}
        results: dict[str, Any] = {}
        for n, future in futures.items():
            try:
                results[n] = future.result()
            except wire.WireError as e:
                results[n] = e
        return results

    def log_decision(self, txn: str, outcome: str, participants: list[str]) -> str:
        with self.lock:
            self.running.discard(txn)
            if txn not in self.decisions:
                self.wal.append({"kind": "decision", "txn": txn, "outcome": outcome, "participants": participants,
                                 "wall": time.time()})
                self.decisions[txn] = outcome
            return self.decisions[txn]

    def on_status(self, m: dict[str, Any]) -> Reply:
        txn = m["txn"]
        with self.lock:
            if txn in self.running:
                return {"status": "ok", "outcome": "pending"}
        # Not running and never decided: presumed abort, logged so it can never commit later.
        return {"status": "ok", "outcome": self.log_decision(txn, "abort", [])}

    def on_transfer(self, m: dict[str, Any]) -> Reply:
        txn, source, target, amount = m["txn"], int(m["from"]), int(m["to"]), int(m["amount"])
        if self.mode == "non-atomic-transfer":
            return self.transfer_without_2pc(source, target, amount)
        by_shard: dict[str, dict[str, int]] = {}
        for a, d in ((source, -amount), (target, amount)):
            shard = by_shard.setdefault(shard_of(a, self.node_ids), {})
            shard[str(a)] = shard.get(str(a), 0) + d
        participants = sorted(by_shard)
        with self.lock:
            if txn in self.decisions:
                return self.answer(self.decisions[txn])
            self.running.add(txn)
        votes = self.broadcast(participants, lambda n: {"type": "prepare", "txn": txn, "coordinator": self.node_id,
                                                        "deltas": by_shard[n]})
        included = participants
        if self.mode == "skip-unreachable":
            included = [n for n in participants if not isinstance(votes[n], Exception)]
        yes = bool(included) and all(isinstance(votes[n], dict) and votes[n].get("vote") for n in included)
        outcome = self.log_decision(txn, "commit" if yes else "abort", participants)
        self.broadcast(included if outcome == "commit" else participants,
                       lambda n: {"type": outcome, "txn": txn})  # a shard that misses it asks later
        return self.answer(outcome)

    @staticmethod
    def answer(outcome: str) -> Reply:
        if outcome == "commit":
            return {"status": "ok"}
        return {"status": "aborted", "error": "transaction aborted"}

    def transfer_without_2pc(self, source: int, target: int, amount: int) -> Reply:
        for account, delta in ((source, -amount), (target, amount)):
            try:
                reply = self.call(shard_of(account, self.node_ids), {"type": "apply", "account": account, "delta": delta})
            except wire.WireError as e:
                return {"status": "error", "error": f"{'credit' if delta > 0 else 'debit'} failed: {e}"}
            if reply.get("status") != "ok":
                if delta < 0:
                    return {"status": "aborted", "error": reply.get("error")}
                return {"status": "error", "error": f"credit failed after the debit: {reply.get('error')}"}
        return {"status": "ok"}

    def on_read(self, m: dict[str, Any]) -> Reply:
        token = m["txn"]
        replies = self.broadcast(self.node_ids, lambda n: {"type": "read_lock", "txn": token})
        try:
            if any(not isinstance(r, dict) or r.get("status") != "ok" for r in replies.values()):
                return {"status": "error", "error": "could not lock every shard"}
            balances: dict[str, int] = {}
            for r in replies.values():
                balances.update(r["balances"])
        finally:
            released = self.broadcast(self.node_ids, lambda n: {"type": "read_release", "txn": token})
        if not all(isinstance(r, dict) and r.get("held") for r in released.values()):
            return {"status": "error", "error": "a read lock was lost before the read finished"}
        return {"status": "ok", "balances": [balances[str(a)] for a in range(len(balances))]}

    def on_dump(self, m: dict[str, Any]) -> Reply:
        """For `collect`: this node's outcomes, decisions and in-doubt times, from its WAL."""
        with self.lock:
            records = list(self.wal.records)
            balances = dict(self.balances)
            in_doubt = sorted(self.prepared)
        prepared_at: dict[str, float] = {}
        doubt_seconds: list[float] = []
        for r in records:
            if r["kind"] == "prepared":
                prepared_at[r["txn"]] = r["wall"]
            elif r["kind"] in ("commit", "abort") and r["txn"] in prepared_at:
                doubt_seconds.append(max(0.0, r["wall"] - prepared_at[r["txn"]]))
        return {"status": "ok", "balances": {str(a): b for a, b in balances.items()}, "outcomes": dict(self.outcomes),
                "decisions": {t: [o, p] for t, (o, p) in self._decisions_with_participants(records).items()},
                "in_doubt": in_doubt, "in_doubt_seconds": doubt_seconds}

    @staticmethod
    def _decisions_with_participants(records: list[dict[str, Any]]) -> dict[str, tuple[str, list[str]]]:
        return {r["txn"]: (r["outcome"], r.get("participants", [])) for r in records if r["kind"] == "decision"}

    def handle(self, m: dict[str, Any]) -> Reply:
        kind = m.get("type")
        if kind == "ping":
            return {"status": "ok", "id": self.node_id}
        handler = getattr(self, f"on_{kind}", None) if isinstance(kind, str) else None
        if handler is None:
            return {"status": "error", "error": f"unknown request type {kind!r}"}
        return handler(m)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bank2pc", description="One shard and coordinator of the bank2pc bank.")
    parser.add_argument("--id", required=True)
    parser.add_argument("--listen", required=True, type=wire.parse_address)
    parser.add_argument("--peer", action="append", default=[], type=wire.parse_peer)
    parser.add_argument("--mode", choices=MODES, default=MODES[0])
    parser.add_argument("--data-dir", required=True, type=Path)
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--balance", type=int, default=10)
    args = parser.parse_args(argv)
    peers = dict(args.peer)
    node = Node(args.id, peers, args.mode, args.data_dir, args.accounts, args.balance)
    host, port = args.listen
    wire.serve(host, port, node.handle)
    log(f"bank2pc {args.id} ({args.mode}) listening on {host}:{port}, peers {sorted(peers)}")
    threading.Event().wait()


if __name__ == "__main__":
    sys.exit(main())
