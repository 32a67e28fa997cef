"""Cheap signals of new behaviour, read while a test runs: what the adaptive `all` nemesis learns
from after each fault (`nemeses.all`, variant `adaptive`).

Everything here is read from what the harness already has, so it works for any system, ours or
not: the history journal the controller is writing (`history.jsonl` in the run directory) and
the nodes' log files when the runtime keeps them on this machine (`NodeHandle.log_dir`; on a
runtime whose logs are remote the log signals are simply absent). Nothing asks the system
anything, and nothing is sent to a node.

An observation turns the stretch of history and logs since the last one into *features*, short
hashable tuples, and counts how many were never seen before in this run:

- `("outcome", f, type, error kind)`: an op kind ending in a way not seen before, e.g. the first
  `write` that ends `info` with "connection refused", or the first `cas` that fails. Error text
  is reduced to its kind (digits, addresses and quoted parts dropped).
- `("latency", f, bucket)`: an op kind's latency in a power-of-two bucket of milliseconds not
  seen before: a shift in latency (a leader that stalls, a quorum that now needs a slow node).
- `("info-rate", tenth)` and `("fail-rate", tenth)`: the share of indeterminate and failed
  completions in the window, in tenths: a new error regime.
- `("epochs", key, bucket)`: how many values never seen before of a completion field named
  like a term, epoch, leader, view, ballot or generation (when the client reports one) the
  window brought, in a power-of-two bucket: one new term, a few, a storm of elections.
- `("log", template)`: a node log line never seen before once numbers and hex ids are masked (the
  first "became leader", "truncating log", "recovered from WAL"...), and `("log-epochs",
  bucket)`: likewise for the numbers that follow "term", "epoch", "ballot" or "view" in log lines
  (new elections). Counted, not kept one feature per value: terms only grow, so each value is
  new once and any fault that causes an election would score as new behaviour forever (in the
  first benchmark most adaptive rewards after the first rounds were new term numbers, which
  steered it to kill after kill).
- near misses, counted, not stored: completions that sit at the edge of what a checker allows,
  by the workload contracts faultline's clients share (any system run with them, ours or not):
  - a register-style `read [k, v]` that returned the value the latest acknowledged write of `k`
    replaced. Such a read is legal when it overlapped that write, and a stale read otherwise;
  - a lock `write` (`{token, ...}` in its value, ok or refused) with a token older than one an
    acquire already granted: a holder acting after its lease passed on, the fencing hazard,
    legal only while the store refuses it;
  - a leader `status` that says `leader` in another epoch than the last one another node
    claimed, while that claim is under a second old: two believed leaders close together, legal
    only if their leases did not overlap;
  - a counter `read` further above the sum of every acknowledged `add` and every add still
    open than any read before it: it counts adds of unknown outcome, or an add applied twice (a
    retry without an idempotency key), legal only while the info adds cover it. Only a new high
    counts, since the surplus stays in every later read.
  Either way the fault pushed the system to the edge of what it may do, so the next fault
  should push there again (the adaptive policy repeats such a round, `nemeses.all`).

`reward` is the number of new features plus half the near misses (at most 5): the quantity the
adaptive policy tries to make large; `near_misses` is also reported on its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import orjson

EPOCH_FIELDS = ("term", "epoch", "leader", "view", "ballot", "generation")
_LOG_EPOCH = re.compile(r"\b(?:term|epoch|ballot|view)\b\D{0,3}(\d+)", re.IGNORECASE)
# Masked out of error texts and log lines: hex identifiers of 6+ characters with a digit and a
# letter (a replication id, a run id, a hash: Redis logs a fresh 40-hex id on every full resync,
# and unmasked each one was a "new" log line, so every kill scored as new behaviour forever),
# 0x numbers, numbers, quoted parts.
_MASK = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{6,}\b|0x[0-9a-f]+|\d+(?:\.\d+)*|'[^']*'|\"[^\"]*\"",
                   re.IGNORECASE)
MAX_READ = 4 << 20  # bytes read per file per observation: a flood of log lines must not stall the nemesis
MAX_NEAR_MISSES = 10


def error_kind(error: Any) -> str:
    """Error text without the parts that differ between occurrences of the same error."""
    if error is None:
        return ""
    return _MASK.sub("#", str(error))[:80]


def log_template(line: str) -> str:
    return _MASK.sub("#", line.strip())[:120]


@dataclass
class Observation:
    """What one observation found; `new` lists the new features (cut to 20 for the history)."""

    new: list[tuple] = field(default_factory=list)
    near_misses: int = 0
    completions: int = 0

    @property
    def reward(self) -> float:
        return len(self.new) + 0.5 * min(self.near_misses, MAX_NEAR_MISSES)

    def describe(self) -> dict[str, Any]:
        return {"reward": round(self.reward, 2), "new": [list(f) for f in self.new[:20]], "new_count": len(self.new),
                "near_misses": self.near_misses, "completions": self.completions}


class _Tail:
    """New complete lines of a growing file, from where the last read stopped."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def lines(self) -> list[bytes]:
        try:
            with open(self.path, "rb") as f:
                size = f.seek(0, 2)
                if size < self.offset:
                    self.offset = 0  # the file was replaced: start over
                f.seek(self.offset)
                data = f.read(MAX_READ)
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        return data[: end + 1].splitlines()


class Feedback:
    """Observes a run: call `observe()` after each fault; features persist across calls."""

    def __init__(self, history: Path, log_dirs: Sequence[Path] = ()):
        self.history = _Tail(history)
        self.log_dirs = [d for d in log_dirs if d.is_dir()]
        self.logs: dict[Path, _Tail] = {}
        self.seen: set[tuple] = set()
        self.epochs: set[tuple] = set()  # (source, value) of every term or epoch seen
        self.invoked: dict[Any, tuple[Any, int, Any]] = {}  # process -> (f, time ns, value) of its open invocation
        self.last_write: dict[Any, tuple[Any, Any]] = {}  # key -> (latest acknowledged value, the one it replaced)
        self.granted = None  # the highest lock token an ok acquire has returned
        self.claim: tuple[Any, Any, int] | None = None  # (node, epoch, time ns) of the latest leader claim
        self.added = 0  # the sum of the acknowledged adds to a counter
        self.surplus = 0  # the most a counter read has exceeded the acknowledged and open adds by

    def observe(self) -> Observation:
        found = Observation()
        features: list[tuple] = []
        epochs: list[tuple] = []
        self._history(features, found, epochs)
        self._logs(features, epochs)
        fresh: dict[str, int] = {}
        for source, value in epochs:
            if (source, value) not in self.epochs:
                self.epochs.add((source, value))
                fresh[source] = fresh.get(source, 0) + 1
        features += [("log-epochs" if source == "log" else "epochs", *((source,) if source != "log" else ()),
                      int(math.log2(1 + count))) for source, count in sorted(fresh.items())]
        for feature in features:
            if feature not in self.seen:
                self.seen.add(feature)
                found.new.append(feature)
        return found

    def _history(self, features: list[tuple], found: Observation, epochs: list[tuple]) -> None:
        counts = {"ok": 0, "fail": 0, "info": 0}
        for line in self.history.lines():
            try:
                op = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(op, dict) or op.get("process") == "nemesis":
                continue
            kind, process, f, time = op.get("type"), op.get("process"), op.get("f"), op.get("time") or 0
            if kind == "invoke":
                self.invoked[process] = (f, time, op.get("value"))
                continue
            if kind not in counts:
                continue
            counts[kind] += 1
            invoked, began, argument = self.invoked.pop(process, (f, time, None))
            features.append(("outcome", str(f), kind, error_kind(op.get("error"))))
            if kind == "ok":
                millis = max(0.0, (time - began) / 1e6)
                features.append(("latency", str(f), int(math.log2(1 + millis))))
            for name in EPOCH_FIELDS:
                if name in op and isinstance(op[name], (int, str)):
                    epochs.append((name, op[name]))
            found.near_misses += self._counter(op, argument if invoked == "add" else None) + self._near_miss(op)
        total = sum(counts.values())
        found.completions = total
        if total:
            features.append(("info-rate", round(counts["info"] / total, 1)))
            features.append(("fail-rate", round(counts["fail"] / total, 1)))

    def _near_miss(self, op: dict) -> int:
        """1 when a completion sits at the edge of what the checkers allow (the module docstring
        lists the kinds; counters are `_counter`), else 0."""
        value = op.get("value")
        if isinstance(value, dict):
            return self._lock_or_leader(op, value)
        if op.get("type") != "ok" or not (isinstance(value, list) and len(value) == 2):
            return 0
        key, argument = value
        try:
            hash(key)
        except TypeError:
            return 0
        if op.get("f") == "write":
            previous = self.last_write.get(key, (None, 0))[0]
            self.last_write[key] = (argument, previous)
            return 0
        if op.get("f") == "read" and key in self.last_write:
            latest, replaced = self.last_write[key]
            return int(argument != latest and replaced is not None and argument == replaced)
        return 0

    def _counter(self, op: dict, delta: Any) -> int:
        """1 for a counter read further above every acknowledged and open add than any read
        before it (`delta` is the completed op's add, if it was one)."""
        if op.get("type") != "ok":
            return 0
        if _number(delta):
            self.added += delta
            return 0
        value = op.get("value")
        if op.get("f") != "read" or not _number(value):
            return 0
        surplus = value - self.added - sum(v for f, _, v in self.invoked.values() if f == "add" and _number(v) and v > 0)
        if surplus <= self.surplus:
            return 0
        self.surplus = surplus  # the surplus stays in every later read: only a new high is a new edge
        return 1

    def _logs(self, features: list[tuple], epochs: list[tuple]) -> None:
        for directory in self.log_dirs:
            for path in sorted(directory.glob("*.log")):
                tail = self.logs.setdefault(path, _Tail(path))
                for raw in tail.lines():
                    line = raw.decode("utf-8", "replace")
                    features.append(("log", log_template(line)))
                    epochs.extend(("log", int(n)) for n in _LOG_EPOCH.findall(line))

    def _lock_or_leader(self, op: dict, value: dict) -> int:
        f, kind = op.get("f"), op.get("type")
        token = value.get("token")
        if f == "acquire" and kind == "ok" and isinstance(token, int):
            self.granted = token if self.granted is None else max(self.granted, token)
        elif f == "write" and kind in ("ok", "fail") and isinstance(token, int):
            return int(self.granted is not None and token < self.granted)
        elif f == "status" and kind == "ok" and value.get("leader") is True:
            node, epoch, time = value.get("node"), value.get("epoch"), int(op.get("time") or 0)
            claim, self.claim = self.claim, (node, epoch, time)
            return int(claim is not None and claim[0] != node and claim[1] != epoch and time - claim[2] < 1_000_000_000)
        return 0


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
