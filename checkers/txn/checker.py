"""The checker entry points: history in, Elle-style result out."""

from __future__ import annotations

import contextlib
import resource
import time
from typing import Any, Iterator, Mapping, Sequence

from checkers import evidence
from checkers.txn import direct, list_append, models, rw_register
from checkers.txn.cycles import Cycle, find_cycles
from checkers.txn.graph import PROCESS, REALTIME, RW, WR, WW, Deadline, Graph, OutOfTime
from checkers.txn.transactions import Txn, transactions
from harness.history import Op

DEFAULT_TIME_LIMIT = 60.0
DEFAULT_MEMORY_MB = 4096


def check_list_append(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    with _memory_ceiling(options):
        return _check(history, options, list_append.analyse, "append")


def check_rw_register(history: Sequence[Op], options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    options = options or {}
    with _memory_ceiling(options):
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
    txns = transactions(history)
    ok = [t for t in txns if t.outcome == "ok"]
    graph = Graph(len(txns))
    try:
        found = analyse(txns, graph, deadline)
        for name, cases in direct.analyse(txns, write).items():
            found.setdefault(name, []).extend(cases)
        deadline.check()
        _order_edges(txns, graph, models.extras_needed(forbidden))
        deadline.check()
    except OutOfTime:
        return {"valid": "unknown", "reason": f"time limit {limit:g}s reached while building the graph",
                "models": wanted_models, "unfinished": ["graph"]}
    except MemoryError:
        return {"valid": "unknown", "reason": "memory ceiling reached while building the graph",
                "models": wanted_models, "unfinished": ["graph"]}
    try:
        cycles, unfinished = find_cycles(graph, models.extras_needed(forbidden), deadline)
    except MemoryError:
        cycles, unfinished = [], ["every cycle class (memory ceiling reached)"]
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
        "stats": {"txns": len(txns), "ok": len(ok), "seconds": round(time.monotonic() - start, 3)},
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
    return result


@contextlib.contextmanager
def _memory_ceiling(options: Mapping[str, Any]) -> Iterator[None]:
    """An address-space ceiling while the check runs, so a history too big for the machine ends
    in MemoryError (an `unknown`) instead of the kernel's OOM killer. The previous limit comes
    back afterwards: the check may run inside a long-lived process (`faultline test`, a pytest
    run) whose later work, a browser among it, needs far more address space than memory."""
    memory = options.get("memory_limit")  # bytes, from `analyze --memory-limit`
    want = int(memory) if memory else int(options.get("memory-mb", DEFAULT_MEMORY_MB)) * 1024 * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    lowered = soft == resource.RLIM_INFINITY or soft > want
    if lowered:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    try:
        yield
    finally:
        if lowered:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _order_edges(txns: list[Txn], graph: Graph, extras: list[int]) -> None:
    """Process edges (each process's consecutive ok txns) and real-time edges (A completed
    before B was invoked), the latter as Elle builds them: to the frontier of recent
    completions only, which keeps their number small yet their transitive closure exact. An
    info txn gets real-time edges in only: it may have committed at any time after its
    invocation."""
    if PROCESS in extras:
        last: dict[Any, int] = {}
        for t in txns:
            if t.outcome != "fail":
                if t.process in last:
                    graph.add(last[t.process], t.id, PROCESS)
                if t.outcome == "ok":  # an info txn retires its process: nothing follows it
                    last[t.process] = t.id
    if REALTIME in extras:
        events = []
        for t in txns:
            if t.outcome == "ok":
                events.append((t.start, 1, t))
                events.append((t.end, 0, t))
            elif t.outcome == "info":  # it may have committed, but only after its invocation
                events.append((t.start, 1, t))
        events.sort(key=lambda e: (e[0], e[1]))
        frontier: list[int] = []
        preds: dict[int, list[int]] = {}
        for _, is_invoke, t in events:
            if is_invoke:
                preds[t.id] = frontier
                for p in frontier:
                    graph.add(p, t.id, REALTIME)
            else:
                drop = set(preds.get(t.id, ()))
                frontier = [p for p in frontier if p not in drop] + [t.id]


def _kind_name(kind: int) -> str:
    return {WW: "ww", WR: "wr", RW: "rw", PROCESS: "process", REALTIME: "realtime"}[kind]


def _explain(graph: Graph, txns: dict[int, Txn], a: int, kind: int, b: int) -> str:
    ta, tb = txns[a], txns[b]
    key, value = graph.why.get((a, b, kind), (None, None))
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
