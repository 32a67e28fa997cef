"""raftkv's node: Raft (election, log replication, commit) over a key-value state machine.

    python -m systems_under_test.raftkv.server --id n1 --listen 10.0.0.1:7400 \\
        --peer n2=10.0.0.2:7400 --peer n3=10.0.0.3:7400 --mode correct --data-dir DIR

Every message is a `wire` JSON line. Peers send `vote` (RequestVote) and `append`
(AppendEntries); clients send `client` requests (read/write/cas of one key); the harness sends
`ping` and `dump`. Threads: the wire server runs one per connection; a ticker starts elections
and makes a leader that lost touch with a majority step down; one replicator per peer sends
AppendEntries while this node leads. One lock guards all state.

Log indices are 1-based as in the Raft paper: entry i is `self.log.records[i - 1]`. An entry is
`{"term": t, "id": request id, "op": {...}}`; a new leader appends a no-op (`op` None) so that
entries of earlier terms get committed under its own term.

The buggy modes (see `modes.py` for where each comes from) are an `if` at each place where the
mistake lives, marked `BUG(...)`.
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from systems_under_test import wire
from systems_under_test.raftkv.modes import (
    LOCAL_READS,
    MAJORITY_EXCL_SELF,
    MODES,
    NO_PERSIST,
    NO_PREVLOG_CHECK,
    VOTE_RESET_ON_HEARTBEAT,
)
from systems_under_test.storage import DurableLog, read_state, write_state

FOLLOWER, CANDIDATE, LEADER = "follower", "candidate", "leader"
TICK = 0.02  # seconds between checks of the election timer
RPC_TIMEOUT = 1.0  # for AppendEntries; a paused peer costs a replicator this long
CLIENT_WAIT = 3.0  # how long a client request waits for its entry to commit and apply
MAX_BATCH = 64  # entries per AppendEntries


@dataclass(frozen=True)
class Config:
    node_id: str
    host: str
    port: int
    peers: dict[str, tuple[str, int]]
    mode: str
    data_dir: Path
    heartbeat: float  # seconds between AppendEntries to an idle follower
    election: float  # election timeouts are drawn from [election, 2 * election]


def log_line(node_id: str, text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {node_id} {text}", flush=True)


class RaftNode:
    def __init__(self, config: Config):
        self.cfg = config
        self.id = config.node_id
        self.mode = config.mode
        self.peers = sorted(config.peers)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # log, commit, role or applied state moved
        self.rng = random.Random()

        self.state_path = config.data_dir / "raft-state"
        self.term, self.voted_for, self.log = self._load_persistent_state()
        # What the election-safety checker reads. It is the harness's record, not Raft state, so
        # it survives restarts in every mode.
        self.events = DurableLog(config.data_dir / "events.log")

        self.role = FOLLOWER
        self.leader_id: str | None = None
        self.election_deadline = self._new_election_deadline()
        self.votes: set[str] = set()
        # Only vote-reset-on-heartbeat uses these: S0's candidate counts grants in a plain integer
        # and keeps checking it until its election timeout ends, whatever happens meanwhile.
        self.votes_received = 0
        self.campaign_until = 0.0
        self.commit_index = 0
        self.last_applied = 0
        self.kv: dict[str, Any] = {}
        self.waiting: set[str] = set()  # request ids whose client waits for the result
        self.results: dict[str, dict[str, Any]] = {}
        # Leader state, reset on each election win.
        self.next_index = {p: 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.last_ack = {p: 0.0 for p in self.peers}
        self.heartbeat_due = {p: 0.0 for p in self.peers}

        def connection(peer: str, timeout: float) -> wire.Connection:
            host, port = config.peers[peer]
            return wire.Connection(host, port, timeout, source=config.host)

        # Separate connections, so a vote request never queues behind a slow AppendEntries.
        self.append_conns = {p: connection(p, RPC_TIMEOUT) for p in self.peers}
        self.vote_conns = {p: connection(p, config.election) for p in self.peers}

    # --- persistent state ---------------------------------------------------------------------

    def _load_persistent_state(self) -> tuple[int, str | None, DurableLog]:
        log_path = self.cfg.data_dir / "raft-log"
        if self.mode == NO_PERSIST:
            # BUG(no-persist): GUIDE 4.1 R-e (S0:381-384): the seed's "persistent state" is plain
            # fields in memory, so a restarted node starts from term 0, no vote and an empty log.
            # (The files are still written, unsynced, only to be forgotten here.)
            self.state_path.unlink(missing_ok=True)
            log_path.unlink(missing_ok=True)
        state = read_state(self.state_path, {"term": 0, "voted_for": None})
        return state["term"], state["voted_for"], DurableLog(log_path, sync=self.mode != NO_PERSIST)

    def _save_term_and_vote(self) -> None:
        """Durable before any reply that depends on it (the caller still holds the lock)."""
        write_state(self.state_path, {"term": self.term, "voted_for": self.voted_for})

    # --- small helpers (all called with the lock held) -------------------------------------------

    def _new_election_deadline(self) -> float:
        return time.monotonic() + self.rng.uniform(self.cfg.election, 2 * self.cfg.election)

    def _term_at(self, index: int) -> int:
        records = self.log.records
        return records[index - 1]["term"] if 1 <= index <= len(records) else 0

    def _last_index_and_term(self) -> tuple[int, int]:
        n = len(self.log.records)
        return n, self._term_at(n)

    def quorum(self) -> int:
        """How many nodes, this one included, make a majority."""
        if self.mode == MAJORITY_EXCL_SELF:
            # BUG(majority-excl-self): GUIDE 4.1 R-a (S3:881, S3:1031): half the *peers* plus one,
            # compared with counts that include this node: with 4 nodes, 2 elect and commit.
            return len(self.peers) // 2 + 1
        return (len(self.peers) + 1) // 2 + 1

    def _record_event(self, kind: str, **details: Any) -> None:
        self.events.append({"event": kind, "node": self.id, "term": self.term, "wall": time.time(), **details})

    def _observe_term(self, term: int) -> None:
        """Any message from a later term makes this node a follower of that term."""
        if term > self.term:
            if self.role != FOLLOWER:
                log_line(self.id, f"stepping down: saw term {term} as {self.role} of term {self.term}")
            self.term, self.voted_for = term, None
            self._save_term_and_vote()
            self.role, self.leader_id = FOLLOWER, None

    # --- elections ------------------------------------------------------------------------------

    def _tick_loop(self) -> None:
        while True:
            time.sleep(TICK)
            with self.lock:
                now = time.monotonic()
                if self.role == LEADER:
                    self._step_down_without_majority(now)
                elif now >= self.election_deadline:
                    self._start_election()

    def _step_down_without_majority(self, now: float) -> None:
        """A leader cut off from a majority stops taking requests, so clients go elsewhere."""
        in_touch = 1 + sum(now - self.last_ack[p] < 2 * self.cfg.election for p in self.peers)
        if in_touch < self.quorum():
            log_line(self.id, f"stepping down: in touch with {in_touch} nodes in term {self.term}")
            self.role, self.leader_id = FOLLOWER, None
            self.election_deadline = self._new_election_deadline()
            self.changed.notify_all()

    def _start_election(self) -> None:
        self.term += 1
        self.voted_for = self.id
        self._save_term_and_vote()
        self.role, self.leader_id = CANDIDATE, None
        self.votes = {self.id}
        self.election_deadline = self._new_election_deadline()
        self.votes_received, self.campaign_until = 1, self.election_deadline
        last_index, last_term = self._last_index_and_term()
        request = {"type": "vote", "term": self.term, "candidate": self.id, "last_index": last_index, "last_term": last_term}
        log_line(self.id, f"candidate in term {self.term}")
        for peer in self.peers:
            threading.Thread(target=self._request_vote, args=(peer, request), daemon=True).start()
        self._win_if_elected()

    def _request_vote(self, peer: str, request: dict[str, Any]) -> None:
        try:
            reply = self.vote_conns[peer].call(request)
        except wire.WireError:
            return
        with self.lock:
            self._observe_term(reply["term"])
            if not reply["granted"]:
                return
            if self.mode == VOTE_RESET_ON_HEARTBEAT:
                # BUG(vote-reset-on-heartbeat): GUIDE 4.1 R-c (S0:525-527): every grant bumps the
                # one counter, also a late grant for an earlier term, which then counts towards
                # this node's current election; the same voter can be counted twice.
                self.votes_received += 1
            elif self.role == CANDIDATE and self.term == request["term"]:
                self.votes.add(peer)
            self._win_if_elected()

    def _win_if_elected(self) -> None:
        if self.mode == VOTE_RESET_ON_HEARTBEAT:
            # BUG(vote-reset-on-heartbeat): GUIDE 4.1 R-c (S0:476-481): until its election timeout
            # ends the candidate checks only the count, not whether it is still a candidate, so a
            # node that meanwhile followed another leader, or moved to a later term, still takes
            # over, and leads in whatever term it is in now (S0:493).
            elected = self.role != LEADER and time.monotonic() < self.campaign_until and self.votes_received >= self.quorum()
        else:
            elected = self.role == CANDIDATE and len(self.votes) >= self.quorum()
        if not elected:
            return
        self.role, self.leader_id = LEADER, self.id
        self.campaign_until = 0.0  # S0's candidate loop ends when it wins
        now, last_index = time.monotonic(), len(self.log.records)
        for p in self.peers:
            self.next_index[p], self.match_index[p] = last_index + 1, 0
            self.last_ack[p], self.heartbeat_due[p] = now, 0.0
        self._record_event("leader")
        votes = f"{self.votes_received} grants" if self.mode == VOTE_RESET_ON_HEARTBEAT else f"votes {sorted(self.votes)}"
        log_line(self.id, f"leader of term {self.term} with {votes}")
        self.log.append({"term": self.term, "id": None, "op": None})
        self._advance_commit()
        self.changed.notify_all()

    def on_vote(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._observe_term(msg["term"])
            last_index, last_term = self._last_index_and_term()
            up_to_date = (msg["last_term"], msg["last_index"]) >= (last_term, last_index)
            if self.mode == VOTE_RESET_ON_HEARTBEAT:
                # BUG(vote-reset-on-heartbeat): GUIDE 4.1 R-c (S0:521): the vote rule is the term and
                # the vote alone; no check that the candidate's log is as up to date as this one.
                up_to_date = True
            granted = msg["term"] == self.term and self.voted_for in (None, msg["candidate"]) and up_to_date
            if granted:
                if self.voted_for != msg["candidate"]:
                    self.voted_for = msg["candidate"]
                    self._save_term_and_vote()
                self.election_deadline = self._new_election_deadline()
            return {"term": self.term, "granted": granted}

    # --- replication ----------------------------------------------------------------------------

    def on_append(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if msg["term"] < self.term:
                return {"term": self.term, "success": False, "last_index": len(self.log.records)}
            self._observe_term(msg["term"])
            self.role, self.leader_id = FOLLOWER, msg["leader"]
            self.election_deadline = self._new_election_deadline()
            if self.mode == VOTE_RESET_ON_HEARTBEAT and self.voted_for is not None:
                # BUG(vote-reset-on-heartbeat): GUIDE 4.1 R-c (S0:549-554): a heartbeat forgets
                # the vote although the term stays, so a second candidate of this term gets it too
                # (and, with no log check at S0:521, even one whose log lacks the leader's no-op).
                self.voted_for = None
                self._save_term_and_vote()
            prev, entries = msg["prev_index"], msg["entries"]
            if self.mode == NO_PREVLOG_CHECK:
                # BUG(no-prevlog-check): GUIDE 4.1 R-b (S3:1006-1008 `follower.log.extend(entries)`):
                # no check that the entry before them matches, no truncation of a conflicting suffix.
                self.log.extend(entries)
            else:
                if prev > len(self.log.records) or self._term_at(prev) != msg["prev_term"]:
                    return {"term": self.term, "success": False, "last_index": min(prev - 1, len(self.log.records))}
                self._store_entries(prev, entries)
            new_commit = min(msg["commit"], prev + len(entries), len(self.log.records))
            if new_commit > self.commit_index:
                self.commit_index = new_commit
                self._apply_committed()
            return {"term": self.term, "success": True}

    def _store_entries(self, prev: int, entries: list[dict[str, Any]]) -> None:
        """Append what is new; an entry that conflicts (same index, other term) and everything
        after it are cut first. Entries already present are kept, so a late duplicate of an old
        AppendEntries can never cut entries a newer one added."""
        records = self.log.records
        for offset, entry in enumerate(entries):
            index = prev + 1 + offset
            if index <= len(records) and records[index - 1]["term"] == entry["term"]:
                continue
            if index <= len(records):
                if index <= self.commit_index:
                    # Raft never cuts a committed entry; only a broken majority gets here. Say so,
                    # since the dump at the end shows the log only after the cut.
                    self._record_event("committed-truncated", index=index, commit_index=self.commit_index)
                self.log.truncate(index - 1)
            self.log.extend(entries[offset:])
            return

    def _replicate_loop(self, peer: str) -> None:
        conn = self.append_conns[peer]
        while True:
            with self.lock:
                request = self._next_append(peer)
            try:
                reply = conn.call(request)
            except wire.WireError:
                time.sleep(self.cfg.heartbeat)  # down or cut off: retry at the heartbeat pace
                continue
            with self.lock:
                self._on_append_reply(peer, request, reply)

    def _next_append(self, peer: str) -> dict[str, Any]:
        """Wait until this node leads and the peer is owed entries or a heartbeat; build it."""
        while True:
            now = time.monotonic()
            timeout = None
            if self.role == LEADER:
                if self.next_index[peer] <= len(self.log.records) or now >= self.heartbeat_due[peer]:
                    break
                timeout = self.heartbeat_due[peer] - now
            self.changed.wait(timeout)
        self.heartbeat_due[peer] = now + self.cfg.heartbeat
        prev = self.next_index[peer] - 1
        return {
            "type": "append",
            "term": self.term,
            "leader": self.id,
            "prev_index": prev,
            "prev_term": self._term_at(prev),
            "entries": self.log.records[prev : prev + MAX_BATCH],
            "commit": self.commit_index,
        }

    def _on_append_reply(self, peer: str, request: dict[str, Any], reply: dict[str, Any]) -> None:
        self._observe_term(reply["term"])
        if self.role != LEADER or self.term != request["term"]:
            return  # a reply to an earlier leadership
        self.last_ack[peer] = time.monotonic()
        if reply["success"]:
            matched = request["prev_index"] + len(request["entries"])
            self.match_index[peer] = max(self.match_index[peer], matched)
            self.next_index[peer] = max(self.next_index[peer], matched + 1)
            self._advance_commit()
        else:
            # Back up; the follower's log length lets a far-behind follower skip ahead at once.
            self.next_index[peer] = max(1, min(self.next_index[peer] - 1, reply["last_index"] + 1))

    def _advance_commit(self) -> None:
        """Commit the highest entry of the current term that a majority holds (entries of earlier
        terms are committed with it, never by counting their own replicas: Raft 5.4.2)."""
        for index in range(len(self.log.records), self.commit_index, -1):
            if self._term_at(index) != self.term:
                return
            if 1 + sum(self.match_index[p] >= index for p in self.peers) >= self.quorum():
                self.commit_index = index
                self._apply_committed()
                return

    # --- state machine and clients ------------------------------------------------------------------

    def _apply_committed(self) -> None:
        records = self.log.records
        while self.last_applied < min(self.commit_index, len(records)):
            self.last_applied += 1
            entry = records[self.last_applied - 1]
            result = self._execute(entry["op"])
            if entry["id"] in self.waiting:
                self.results[entry["id"]] = result
        self.changed.notify_all()

    def _execute(self, op: dict[str, Any] | None) -> dict[str, Any]:
        if op is None:
            return {"status": "ok"}
        key = json.dumps(op["key"])  # keys may be any JSON value; JSON text makes them hashable
        current = self.kv.get(key)
        if op["f"] == "read":
            return {"status": "ok", "value": current}
        if op["f"] == "write":
            self.kv[key] = op["value"]
            return {"status": "ok"}
        expected, new = op["value"]
        if current != expected:
            return {"status": "fail", "value": current, "error": "cas-mismatch"}
        self.kv[key] = new
        return {"status": "ok"}

    def on_client(self, msg: dict[str, Any]) -> dict[str, Any]:
        if msg.get("f") not in ("read", "write", "cas") or "key" not in msg:
            return {"status": "bad-request", "error": "need f in read/write/cas and a key"}
        op = {"f": msg["f"], "key": msg["key"], "value": msg.get("value")}
        with self.lock:
            if op["f"] == "read" and self.mode == LOCAL_READS:
                # BUG(local-reads): GUIDE 4.1 R-g (S1:637 "Reads (can be distributed)"): answer from
                # this node's own state machine, leader or not, without any quorum check.
                return self._execute(op)
            if self.role != LEADER:
                return {"status": "not-leader", "leader": self.leader_id}
            request_id = uuid.uuid4().hex
            self.waiting.add(request_id)
            self.log.append({"term": self.term, "id": request_id, "op": op})
            self._advance_commit()
            self.changed.notify_all()
            done = self.changed.wait_for(lambda: request_id in self.results, CLIENT_WAIT)
            self.waiting.discard(request_id)
            if not done:
                # Still in some logs, so a later leader may yet commit it.
                return {"status": "unknown", "error": f"not applied within {CLIENT_WAIT}s; it may still be"}
            return self.results.pop(request_id)

    # --- harness ------------------------------------------------------------------------------------

    def on_ping(self, msg: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            return self._status()

    def on_dump(self, msg: dict[str, Any]) -> dict[str, Any]:
        """What the committed-log and election-safety checkers read at the end of a test."""
        with self.lock:
            return {
                **self._status(),
                "voted_for": self.voted_for,
                "committed": self.log.records[: self.commit_index],
                "events": list(self.events.records),
            }

    def _status(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "id": self.id,
            "role": self.role,
            "term": self.term,
            "leader": self.leader_id,
            "commit_index": self.commit_index,
            "log_length": len(self.log.records),
        }

    def handle(self, msg: dict[str, Any]) -> dict[str, Any]:
        handlers = {
            "ping": self.on_ping,
            "vote": self.on_vote,
            "append": self.on_append,
            "client": self.on_client,
            "dump": self.on_dump,
        }
        handler = handlers.get(msg.get("type"))  # type: ignore[arg-type]
        if handler is None:
            return {"status": "error", "error": f"unknown request type {msg.get('type')!r}"}
        return handler(msg)

    def start(self) -> None:
        threading.Thread(target=self._tick_loop, name="ticker", daemon=True).start()
        for peer in self.peers:
            threading.Thread(target=self._replicate_loop, args=(peer,), name=f"replicate-{peer}", daemon=True).start()


def parse_args(argv: list[str] | None = None) -> Config:
    parser = wire.server_parser("raftkv", "A raftkv node.", MODES, "where the term, vote and log are kept")
    parser.add_argument("--heartbeat-ms", type=int, default=100)
    parser.add_argument("--election-ms", type=int, default=500, help="timeouts drawn from [this, 2x this]")
    args = wire.parse_server_args(parser, argv)
    peers = args.peers
    host, port = args.listen
    args.data_dir.mkdir(parents=True, exist_ok=True)
    return Config(args.id, host, port, peers, args.mode, args.data_dir, args.heartbeat_ms / 1000, args.election_ms / 1000)


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    node = RaftNode(config)
    wire.serve(config.host, config.port, node.handle)
    node.start()
    log_line(node.id, f"mode {config.mode}, term {node.term}, {len(node.log.records)} log entries, listening on {config.host}:{config.port}")
    threading.Event().wait()


if __name__ == "__main__":
    main()
