"""The checker entry points: history in, Elle-style result out."""

from __future__ import annotations

import contextlib
import gc
import resource
import time
from typing import Any, Iterator, Mapping, Sequence

from checkers import evidence
from checkers.txn import direct, list_append, models, rw_register
from checkers.txn.cycles import Cycle, Unfinished, find_cycles
from checkers.txn.graph import PROCESS, REALTIME, RW, WR, WW, Deadline, Edges, Graph, OutOfTime
from checkers.txn.transactions import Txn, transactions
from harness.history import Op

DEFAULT_TIME_LIMIT = 60.0
DEFAULT_MEMORY_MB = 4096


def check_list_append(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    with _memory_ceiling(options), _no_cyclic_gc():
        return _check(history, options, list_append.analyse, "append")


def check_rw_register(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    with _memory_ceiling(options), _no_cyclic_gc():
        return _check(history, options, lambda txns, graph, deadline: rw_register.analyse(txns, graph, options, deadline),
                      "w")


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def _check(history: Sequence[Op], options: Mapping[str, Any], analyse, write: str) -> dict[str, Any]:
    start = time.monotonic()
    limit = float(options.get("time-limit") or options.get("time_limit") or DEFAULT_TIME_LIMIT)
    deadline = Deadline(start + limit)
    wanted_models = [models.model_name(m) for m in _listed(options.get("model"))] or (
        [] if options.get("anomalies") else ["strict-serializable"])
    forbidden: set[str] = set()
    for m in wanted_models:
        forbidden |= models.FORBIDS[m]
    for a in models.expand_anomalies(_listed(options.get("anomalies"))):
        forbidden |= {a} | ({a + "-process", a + "-realtime"} if a in models.CYCLES else set())
    phases: dict[str, float] = {}
    clock = _Phases(phases)
    try:
        txns = transactions(history, deadline)
        clock("read")
        edges = Edges(len(txns))
        found = analyse(txns, edges, deadline)
        clock("infer")
        for name, cases in direct.analyse(txns, write).items():
            found.setdefault(name, []).extend(cases)
        clock("direct")
        deadline.check()
        _order_edges(txns, edges, models.extras_needed(forbidden), deadline)
        clock("order")
        deadline.check()
        graph = Graph(edges)
        del edges
        clock("freeze")
        deadline.check()
    except OutOfTime:
        done = ", ".join(phases) or "nothing"
        return {"valid": "unknown", "reason": f"time limit {limit:g}s reached while building the graph "
                                              f"(done: {done}); no cycle class was searched",
                "models": wanted_models, "unfinished": ["graph"], "stats": {"phases": phases}}
    except MemoryError:
        return {"valid": "unknown", "reason": "memory ceiling reached while building the graph",
                "models": wanted_models, "unfinished": ["graph"]}
    try:
        cycles, unfinished, left = find_cycles(graph, models.extras_needed(forbidden), deadline)
    except MemoryError:
        cycles, unfinished, left = [], ["every cycle class (memory ceiling reached)"], []
    clock("cycles")
    ok = [t for t in txns if t.outcome == "ok"]
    by_index = {t.id: t for t in txns}
    anomalies: dict[str, Any] = {}
    ev: list[dict[str, Any]] = []
    for name, cases in found.items():
        anomalies[name] = [{"ops": [by_index[i].index for i in c["txns"]], "why": c["why"]} for c in cases[:20]]
        ev.append(evidence.ops(name, [by_index[c["txns"][-1]].index for c in cases], [c["why"] for c in cases]))
    for c in cycles:
        steps = [{"op": by_index[a].index, "edge": _kind_name(k), "to": by_index[b].index,
                  "why": _explain(graph, by_index, a, k, b)} for a, k, b in c.steps]
        anomalies[c.anomaly] = [{"cycle": steps}]
        ev.append({"kind": "cycle", "label": c.anomaly, "steps": steps, "count": len(steps)})
    names = set(anomalies)
    not_, also_not = models.ruled_out(names)
    bad = sorted(names & forbidden)
    result: dict[str, Any] = {
        "anomaly-types": sorted(names), "anomalies": anomalies, "not": not_, "also-not": also_not,
        "models": wanted_models, "evidence": ev,
        "stats": {"txns": len(txns), "ok": len(ok), "edges": graph.edge_count,
                  "seconds": round(time.monotonic() - start, 3), "phases": phases},
    }
    blamed = [i for name, cases in found.items() if name in forbidden for c in cases for i in c["txns"]]
    blamed += [i for c in cycles if c.anomaly in forbidden for a, _, b in c.steps for i in (a, b)]
    if blamed:  # the earliest invocation among the evidence of a forbidden anomaly (time to detect)
        result["first_anomaly_index"] = min(by_index[i].index for i in blamed)
    relevant_unfinished = [u for u in unfinished if u in forbidden]
    if bad:
        result["valid"] = False
        result["reason"] = f"{', '.join(bad)} found; not {', '.join(not_)}"
    elif relevant_unfinished:
        result["valid"] = "unknown"
        result["reason"] = (f"no forbidden anomaly found, but the search for {', '.join(relevant_unfinished)} "
                            f"did not finish within {limit:g}s")
    else:
        result["valid"] = True
        result["reason"] = f"no anomaly forbidden by {', '.join(wanted_models) or 'the named classes'}"
    if unfinished:
        result["unfinished"] = unfinished
        result["unfinished-components"] = [_left_off(u, by_index) for u in left]
    return result


def _left_off(u: Unfinished, txns: dict[int, Txn]) -> dict[str, Any]:
    """Where a search was left off, for the reader: its classes, and each component not
    finished by its size and first operations (history indices)."""
    if u.components is None:
        return {"classes": u.classes, "components": "not computed"}
    return {"classes": u.classes,
            "components": [{"txns": len(c), "first-ops": [txns[i].index for i in c[:5]]} for c in u.components]}


class _Phases:
    """Seconds spent in each phase of the check, for the stats (and the benchmark's profile)."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self.into[name] = round(now - self.last, 3)
        self.last = now


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The check allocates millions of small containers and frees none of them until it ends:
    the cyclic collector would walk the whole growing heap again and again for nothing (at
    100k txns it was a third of the time). It is switched back on as it was."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


@contextlib.contextmanager
def _memory_ceiling(options: Mapping[str, Any]) -> Iterator[None]:
    """An address-space ceiling while the check runs, so a history too big for the machine ends
    in MemoryError (an `unknown`) instead of the kernel's OOM killer. The previous limit comes
    back afterwards: the check may run inside a long-lived process (`faultline test`, a pytest
    run) whose later work, a browser among it, needs far more address space than memory."""
    memory = options.get("memory_limit")  # bytes, from `analyze --memory-limit`
    want = int(memory) if memory else int(options.get("memory-mb", DEFAULT_MEMORY_MB)) * 1024 * 1024
    import numpy  # noqa: F401  loaded before the ceiling: its thread pools reserve address space
    import scipy.sparse.csgraph  # noqa: F401
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    lowered = soft == resource.RLIM_INFINITY or soft > want
    if lowered:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    try:
        yield
    finally:
        if lowered:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _order_edges(txns: list[Txn], graph: Edges, extras: list[int], deadline: Deadline) -> None:
    """Process edges (each process's consecutive ok txns) and real-time edges (A completed
    before B was invoked), the latter as Elle builds them: to the frontier of recent
    completions only, which keeps their number small yet their transitive closure exact. An
    info txn gets process and real-time edges in only: it may have committed at any time after
    its invocation, and it retires its process."""
    if PROCESS in extras:
        last: dict[Any, int] = {}
        src: list[int] = []
        dst: list[int] = []
        for t in txns:
            if t.outcome == "fail":
                continue
            before = last.get(t.process)
            if before is not None:
                src.append(before)
                dst.append(t.id)
            if t.outcome == "ok":  # an info txn retires its process: nothing follows it
                last[t.process] = t.id
        graph.add_many(src, dst, PROCESS)
    ok = [t for t in txns if t.outcome == "ok"]
    if REALTIME in extras and ok:
        deadline.check()
        src, dst = _realtime_frontier(ok, [t for t in txns if t.outcome != "fail"])
        graph.add_many(src, dst, REALTIME)


def _realtime_frontier(ok: list[Txn], targets: list[Txn]) -> tuple[list[int], list[int]]:
    """Elle's frontier edges, computed with arrays instead of by replaying the events. Walking
    the history, the frontier gains T when T completes and loses it when some U invoked after
    T's completion completes; so T is in the frontier when B is invoked exactly when
    end(T) < start(B) < D(T), D(T) being the earliest completion among the txns invoked after
    T completed. Only ok txns (`ok`) complete; every txn that may have committed (`targets`,
    ok and info) is invoked, and its predecessors are the frontier then. Each T's successors
    are one run of `targets` in invocation order."""
    import numpy as np

    def column(txns: list[Txn], field: str) -> Any:
        return np.fromiter((getattr(t, field) for t in txns), dtype=np.int64, count=len(txns))

    ids, ends = column(ok, "id"), column(ok, "end")
    ok_starts = column(ok, "start")
    ok_by_start = np.argsort(ok_starts, kind="stable")
    # earliest completion among the ok txns from each invocation-order position on
    earliest_end = np.append(np.minimum.accumulate(ends[ok_by_start][::-1])[::-1], np.iinfo(np.int64).max)
    leaves = earliest_end[np.searchsorted(ok_starts[ok_by_start], ends, side="right")]  # D(T)
    target_ids, starts = column(targets, "id"), column(targets, "start")
    by_start = np.argsort(starts, kind="stable")
    sorted_starts = starts[by_start]
    lo = np.searchsorted(sorted_starts, ends, side="right")  # first target invoked after T completed
    hi = np.searchsorted(sorted_starts, leaves, side="left")  # ...and before D(T)
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    src = np.repeat(ids, counts)
    run_start = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    dst = target_ids[by_start[run_start + np.arange(total)]]
    return src.tolist(), dst.tolist()


def _kind_name(kind: int) -> str:
    return {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}[kind]


def _explain(graph: Graph, txns: dict[int, Txn], a: int, kind: int, b: int) -> str:
    ta, tb = txns[a], txns[b]
    key, value = graph.why(a, b, kind)
    A, B = f"T{ta.index}", f"T{tb.index}"
    if kind == WW:
        return f"{A} < {B} because {B} wrote {value!r} to key {key!r} after {A}'s write"
    if kind == WR:
        return f"{A} < {B} because {B} read {A}'s write of {value!r} to key {key!r}"
    if kind == RW:
        return f"{A} < {B} because {A} read key {key!r} without {B}'s write of {value!r}, the next version"
    if kind == PROCESS:
        return f"{A} < {B} because process {tb.process} ran {B} after {A}"
    return f"{A} < {B} because {A} completed before {B} was invoked"
