"""Small transactional histories and a brute-force judge of them, for the differential test of
checkers/txn.

Histories come from simulated stores (a serial store, a snapshot-isolation store with or
without first-committer-wins) and are then optionally damaged by one injected anomaly. The
judge searches every order: `serial_order_exists` every total order of the committed
transactions (each read must be what a serial execution in that order returns),
`si_order_exists` every interleaving of start and commit points (each transaction reads the
state committed before its start plus its own writes; two transactions writing one key may not
overlap, first-committer-wins). Transactions that completed `info` may be left out or put in;
`fail` ones never happened. `precedence` pairs (a before b: a completed before b was invoked,
or a preceded b on one process) make the strict and session variants: a's commit comes before
b's start."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from harness.history import Op


@dataclass
class Txn:
    """One generated transaction: micro-ops as executed, the outcome, and its window."""

    mops: list[list[Any]]
    outcome: str = "ok"
    process: int = 0
    invoke: float = 0.0
    complete: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------
# generation


def random_programs(rng: random.Random, workload: str, n: int, keys: int, max_ops: int) -> list[list[list[Any]]]:
    """n transaction programs; reads carry None, writes unique values (per key: 1, 2, ...)."""
    write = "append" if workload == "list-append" else "w"
    counter = {k: 0 for k in range(keys)}
    programs = []
    for _ in range(n):
        prog = []
        for _ in range(rng.randint(1, max_ops)):
            k = rng.randrange(keys)
            if rng.random() < 0.5:
                prog.append(["r", k, None])
            else:
                counter[k] += 1
                prog.append([write, k, counter[k]])
        programs.append(prog)
    return programs


def _execute(workload: str, prog: list[list[Any]], view: dict[Any, Any]) -> tuple[list[list[Any]], dict[Any, Any]]:
    """Run a program against `view` (key -> list or value); (filled micro-ops, its writes)."""
    own: dict[Any, Any] = {}
    out = []
    for f, k, v in prog:
        if f == "r":
            if workload == "list-append":
                seen = list(view.get(k, [])) + list(own.get(k, []))
                out.append(["r", k, seen])
            else:
                out.append(["r", k, own[k] if k in own else view.get(k)])
        elif f == "append":
            own.setdefault(k, []).append(v)
            out.append([f, k, v])
        else:
            own[k] = v
            out.append([f, k, v])
    return out, own


def _apply(workload: str, state: dict[Any, Any], writes: dict[Any, Any]) -> None:
    for k, v in writes.items():
        if workload == "list-append":
            state[k] = list(state.get(k, [])) + list(v)
        else:
            state[k] = v


def serial_store(rng: random.Random, workload: str, programs: list[list[list[Any]]], strict: bool) -> list[Txn]:
    """Each program commits at one point, in a random order; with `strict` every window holds
    its commit point, else windows are drawn at random (reads stay serializable, not strict)."""
    order = list(range(len(programs)))
    rng.shuffle(order)
    state: dict[Any, Any] = {}
    txns: list[Txn | None] = [None] * len(programs)
    for position, i in enumerate(order):
        mops, writes = _execute(workload, programs[i], state)
        _apply(workload, state, writes)
        if strict:
            lo, hi = position - rng.random() * 2, position + rng.random() * 2
        else:
            lo = rng.random() * len(programs)
            hi = lo + rng.random() * 2
        txns[i] = Txn(mops, "ok", invoke=lo, complete=hi)
    return [t for t in txns if t is not None]


def si_store(rng: random.Random, workload: str, programs: list[list[list[Any]]], first_committer_wins: bool) -> list[Txn]:
    """Start and commit points interleaved at random; a snapshot at start; at commit, a
    transaction that wrote a key committed by another since its start aborts (unless
    first-committer-wins is off: then it commits and overwrites, a lost update). Windows hold
    the start and commit points."""
    n = len(programs)
    events = [(i, "start") for i in range(n)] + [(i, "commit") for i in range(n)]
    rng.shuffle(events)
    # a commit may not come before its own start: swap such pairs into order
    seen_start: set[int] = set()
    pending: list[tuple[int, str]] = []
    ordered: list[tuple[int, str]] = []
    for e in events:
        if e[1] == "start":
            ordered.append(e)
            seen_start.add(e[0])
            ready = [p for p in pending if p[0] in seen_start]
            pending = [p for p in pending if p[0] not in seen_start]
            ordered.extend(ready)
        elif e[0] in seen_start:
            ordered.append(e)
        else:
            pending.append(e)
    state: dict[Any, Any] = {}
    commits: list[tuple[int, set]] = []  # (commit sequence number, keys written)
    snapshot: dict[int, dict[Any, Any]] = {}
    started_at: dict[int, int] = {}
    txns: list[Txn | None] = [None] * n
    times: dict[tuple[int, str], float] = {}
    for position, (i, what) in enumerate(ordered):
        times[(i, what)] = position
        if what == "start":
            snapshot[i] = {k: (list(v) if isinstance(v, list) else v) for k, v in state.items()}
            started_at[i] = len(commits)
        else:
            mops, writes = _execute(workload, programs[i], snapshot[i])
            conflict = any(set(writes) & keys for _, keys in commits[started_at[i]:])
            if conflict and first_committer_wins:
                txns[i] = Txn(mops, "fail")
                continue
            if workload == "list-append" and not first_committer_wins:
                # without the check, the commit installs snapshot + own appends: the other
                # transaction's appends since the snapshot are lost
                for k, v in writes.items():
                    state[k] = list(snapshot[i].get(k, [])) + list(v)
            else:
                _apply(workload, state, writes)
            commits.append((len(commits), set(writes)))
            txns[i] = Txn(mops, "ok")
    out = []
    for i, t in enumerate(txns):
        assert t is not None
        t.invoke = times[(i, "start")] - rng.random()
        t.complete = times[(i, "commit")] + rng.random()
        out.append(t)
    return out


def inject(rng: random.Random, workload: str, txns: list[Txn]) -> str:
    """Damage the history with one anomaly chosen at random; returns its name."""
    reads = [(t, m) for t in txns if t.outcome == "ok" for m in t.mops if m[0] == "r"]
    choice = rng.choice(["abort-writer", "info", "info-fail", "stale-read", "future-value",
                         "swap-versions", "drop-middle", "duplicate", "garbage", "windows"])
    if choice == "abort-writer":  # a writer whose writes were read now failed: aborted read
        writers = [t for t in txns if t.outcome == "ok" and any(m[0] != "r" for m in t.mops)]
        if writers:
            rng.choice(writers).outcome = "fail"
    elif choice == "info":  # the client lost the answer: may or may not have committed
        rng.choice(txns).outcome = "info"
    elif choice == "info-fail":  # an aborted txn reported as unknown
        failed = [t for t in txns if t.outcome == "fail"]
        if failed:
            rng.choice(failed).outcome = "info"
    elif choice == "stale-read" and reads:  # a read missing its newest versions
        t, m = rng.choice(reads)
        if workload == "list-append":
            m[2] = m[2][:rng.randrange(len(m[2]) + 1)]
        else:
            m[2] = None
    elif choice == "future-value" and reads:  # a read of some value written anywhere, perhaps later
        t, m = rng.choice(reads)
        values = [mm[2] for tt in txns for mm in tt.mops if mm[0] != "r" and mm[1] == m[1]]
        if values:
            v = rng.choice(values)
            m[2] = (list(m[2]) + [v] if v not in m[2] else m[2]) if workload == "list-append" else v
    elif choice == "swap-versions" and workload == "list-append":  # two versions swapped in every read: G0
        lists = [m[2] for _, m in reads if len(m[2]) >= 2]
        if lists:
            pick = rng.choice(lists)
            j = rng.randrange(len(pick) - 1)
            a, b = pick[j], pick[j + 1]
            key = next(m[1] for _, m in reads if m[2] is pick)
            for _, m in reads:
                if m[1] == key and a in m[2] and b in m[2]:
                    x, y = m[2].index(a), m[2].index(b)
                    m[2][x], m[2][y] = b, a
    elif choice == "drop-middle" and workload == "list-append":  # a version missing inside a read
        lists = [m for _, m in reads if len(m[2]) >= 2]
        if lists:
            m = rng.choice(lists)
            del m[2][rng.randrange(len(m[2]) - 1)]
    elif choice == "duplicate" and workload == "list-append" and reads:
        _, m = rng.choice(reads)
        if m[2]:
            m[2].append(m[2][0])
    elif choice == "garbage" and reads:
        _, m = rng.choice(reads)
        m[2] = list(m[2]) + [999] if workload == "list-append" else 999
    elif choice == "windows":  # windows redrawn: realtime order no longer follows the commits
        for t in txns:
            t.invoke = rng.random() * len(txns)
            t.complete = t.invoke + rng.random() * 2
    return choice


def assign_processes(rng: random.Random, txns: list[Txn]) -> None:
    """Processes run one call at a time: each txn, in invocation order, takes a process free at
    its invocation (an earlier call of it completed before), else a new one; a process whose call
    ended info is never reused (as in faultline and Jepsen)."""
    free_at: dict[int, float] = {}
    for t in sorted(txns, key=lambda t: t.invoke):
        ready = [p for p, at in free_at.items() if at < t.invoke]
        if ready and rng.random() < 0.8:
            t.process = rng.choice(ready)
        else:
            t.process = len(free_at) + 100
        free_at[t.process] = t.complete if t.outcome != "info" else float("inf")


def to_history(txns: list[Txn]) -> list[Op]:
    """Faultline ops: invocations with null reads, completions as executed; info txns without a
    completion value (the client never learnt the reads)."""
    events = []
    for i, t in enumerate(txns):
        invoke_mops = [[f, k, None] if f == "r" else [f, k, v] for f, k, v in t.mops]
        events.append((t.invoke, 0, i, Op("invoke", "txn", invoke_mops, t.process)))
        done = [list(m) for m in t.mops] if t.outcome == "ok" else invoke_mops
        events.append((t.complete, 1, i, Op(t.outcome, "txn", [list(m) for m in done], t.process)))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    ops = [e[3] for e in events]
    for i, op in enumerate(ops):
        op.index = i
    return ops


# ---------------------------------------------------------------------------------------------
# the brute-force judge, from the history alone


@dataclass
class Judged:
    """A history's transactions as the judge sees them."""

    mops: list[list[list[Any]]]
    outcome: list[str]
    invoke: list[int]
    complete: list[int | None]
    process: list[Any]


def judged(history: list[Op]) -> Judged:
    open_: dict[Any, int] = {}
    j = Judged([], [], [], [], [])
    for op in history:
        if op.type == "invoke":
            open_[op.process] = len(j.mops)
            j.mops.append(op.value)
            j.outcome.append("info")
            j.invoke.append(op.index)
            j.complete.append(None)
            j.process.append(op.process)
        else:
            i = open_.pop(op.process)
            j.outcome[i] = op.type
            if op.type == "ok":
                j.mops[i] = op.value
            if op.type != "info":
                j.complete[i] = op.index
    return j


def precedence(j: Judged, kind: str) -> set[tuple[int, int]]:
    """(a, b): a must commit before b starts. realtime: a completed before b was invoked;
    process: a ran before b on one process (a not info: its process retires); key-realtime /
key-process: the same, for a and b touching a common key (each key linearizable / sequential
on its own: in a serial order, a txn takes effect on every key at once)."""
    live = [i for i, o in enumerate(j.outcome) if o != "fail"]
    out = set()
    for a in live:
        for b in live:
            if a == b or j.complete[a] is None:
                continue
            if kind == "realtime" and j.complete[a] < j.invoke[b]:
                out.add((a, b))
            if kind == "process" and j.process[a] == j.process[b] and j.complete[a] < j.invoke[b]:
                out.add((a, b))
            shared = {m[1] for m in j.mops[a]} & {m[1] for m in j.mops[b]}
            if kind == "key-realtime" and shared and j.complete[a] < j.invoke[b]:
                out.add((a, b))
            if kind == "key-process" and shared and j.process[a] == j.process[b] and j.complete[a] < j.invoke[b]:
                out.add((a, b))
    return out


def _reads_match(workload: str, mops: list[list[Any]], view: dict[Any, Any]) -> tuple[bool, dict[Any, Any]]:
    own: dict[Any, Any] = {}
    for f, k, v in mops:
        if f == "r":
            if workload == "list-append":
                want = list(view.get(k, [])) + list(own.get(k, []))
                if list(v or []) != want:
                    return False, own
            else:
                want = own[k] if k in own else view.get(k)
                if v != want:
                    return False, own
        elif f == "append":
            own.setdefault(k, []).append(v)
        else:
            own[k] = v
    return True, own


def _writes(workload: str, mops: list[list[Any]]) -> dict[Any, Any]:
    return _reads_match(workload, [m for m in mops if m[0] != "r"], {})[1]


def _freeze(state: dict[Any, Any]) -> tuple:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in state.items()))


def serial_order_exists(workload: str, j: Judged, before: set[tuple[int, int]]) -> bool:
    """Some order of the ok txns, with any subset of the info txns, explains every ok read."""
    must = {i for i, o in enumerate(j.outcome) if o == "ok"}
    maybe = {i for i, o in enumerate(j.outcome) if o == "info"}
    preds = {i: {a for a, b in before if b == i} for i in must | maybe}
    dead: set[tuple] = set()

    def go(placed: frozenset, state: dict[Any, Any]) -> bool:
        if must <= placed:
            return True
        memo = (placed, _freeze(state))
        if memo in dead:
            return False
        for i in sorted((must | maybe) - placed):
            if not preds[i] <= placed:  # only completed txns precede others, so never an info one
                continue
            if j.outcome[i] == "ok":
                ok, writes = _reads_match(workload, j.mops[i], state)
                if not ok:
                    continue
            else:
                writes = _writes(workload, j.mops[i])
            nxt = dict(state)
            _apply(workload, nxt, writes)
            if go(placed | {i}, nxt):
                return True
        dead.add(memo)
        return False

    return go(frozenset(), {})


def si_order_exists(workload: str, j: Judged, before: set[tuple[int, int]]) -> bool:
    """Some interleaving of start and commit points of the ok txns (and any subset of the info
    txns) where each reads its snapshot plus its own writes and first-committer-wins holds."""
    must = {i for i, o in enumerate(j.outcome) if o == "ok"}
    maybe = {i for i, o in enumerate(j.outcome) if o == "info"}
    everyone = must | maybe
    preds = {i: {a for a, b in before if b == i} for i in everyone}
    writes = {i: _writes(workload, j.mops[i]) for i in everyone}
    dead: set[tuple] = set()

    def go(committed: frozenset, active: tuple, state: dict[Any, Any]) -> bool:
        # active: sorted tuple of (txn, keys committed by others since its start)
        if must <= committed:  # an info txn still running may simply never commit
            return True
        memo = (committed, active, _freeze(state))
        if memo in dead:
            return False
        running = {i for i, _ in active}
        # commit an active txn
        for idx, (i, since) in enumerate(active):
            if set(writes[i]) & since:
                continue  # first-committer-wins would abort it
            nxt = dict(state)
            _apply(workload, nxt, writes[i])
            rest = tuple((a, s | frozenset(writes[i])) for a, s in active[:idx] + active[idx + 1:])
            if go(committed | {i}, rest, nxt):
                return True
        # start a txn whose predecessors all committed
        for i in sorted(everyone - committed - running):
            if not preds[i] <= committed:
                continue
            if j.outcome[i] == "ok" and not _reads_match(workload, j.mops[i], state)[0]:
                continue
            if go(committed, tuple(sorted(active + ((i, frozenset()),))), state):
                return True
        dead.add(memo)
        return False

    return go(frozenset(), (), {})
