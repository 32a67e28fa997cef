"""Synthetic run directories shaped exactly like the runner's, for exercising reports.

The report's tests and `benchmarks/report_size.py` need runs of any size, with faults, retired
processes, crashed invocations and checkers' evidence, without starting a cluster.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NEMESIS_DRAW = {
    "kill": {"start": "kill", "stop": "start", "color": "#e66"},
    "partition": {"start": "partition", "stop": "heal", "color": "#69c"},
}


@dataclass
class SyntheticRun:
    run_dir: Path
    calls: int
    events: int
    evil_index: int  # history index of the invoke that carries a hostile value


def make_run(
    store: Path,
    calls: int = 200,
    concurrency: int = 5,
    seed: int = 7,
    evil_value: Any = "<img src=x onerror=alert(1)>",
    name: str = "seedkv-set",
    stamp: str = "20261121T190000",
    with_evidence: bool = True,
) -> SyntheticRun:
    """Write store/<name>/<stamp>/ with test.json, history.jsonl, results.json, node logs."""
    rng = random.Random(seed)
    run_dir = Path(store) / name / stamp
    run_dir.mkdir(parents=True, exist_ok=True)
    step_ns = 3_000_000  # mean time one thread spends per call, think time included
    duration_ns = max(200_000_000, calls * step_ns // concurrency)
    interval_ns = max(duration_ns // 8, 1)
    nodes = ["n1", "n2", "n3"]

    faults: list[tuple[int, int]] = []
    events: list[tuple[int, int, dict[str, Any]]] = []  # (time, order of creation, op)
    t, package = interval_ns // 2, 0
    while t + interval_ns < duration_ns:
        name_, spec = list(NEMESIS_DRAW.items())[package % 2]
        begin, end = t, t + interval_ns // 2
        value = {"grudge": {"n1": ["n2", "n3"], "n2": ["n1"], "n3": ["n1"]}} if name_ == "partition" else ["n2"]
        _call(events, "nemesis", spec["start"], None, value, begin, begin + 20_000_000, "info")
        _call(events, "nemesis", spec["stop"], None, "healed" if name_ == "partition" else ["n2"], end, end + 15_000_000, "info")
        faults.append((begin, end))
        t += interval_ns
        package += 1

    per_thread = [calls // concurrency + (1 if i < calls % concurrency else 0) for i in range(concurrency)]
    element = 0
    for thread in range(concurrency):
        process, now = thread, rng.randrange(1_000_000)
        for number in range(per_thread[thread]):
            faulty = any(a <= now <= b for a, b in faults)
            latency = int(rng.lognormvariate(13.5 if not faulty else 15.5, 0.6))  # ~0.7 ms / ~5 ms
            roll = rng.random()
            last = number == per_thread[thread] - 1
            if last and thread == 0:
                outcome = None  # the controller crashed mid-call: an invoke with no completion
            elif roll < (0.10 if faulty else 0.01):
                outcome = "info"
            elif roll < (0.25 if faulty else 0.05):
                outcome = "fail"
            else:
                outcome = "ok"
            f = "add" if not last else "read"
            value = element if f == "add" else None
            result = value if f == "add" else list(range(0, element, 2))
            _call(events, process, f, rng.choice(nodes), value, now, now + latency, outcome, result)
            element += 1
            if outcome == "info":
                process += concurrency
            now += latency + 1 + int(rng.expovariate(1 / max(1, step_ns - latency)))

    # The hostile value rides on one ok add near the start, where the first screen shows it.
    events.sort(key=lambda e: (e[0], e[1]))
    ops = [op for _, _, op in events]
    for position, op in enumerate(ops):
        op["index"] = position
    evil = next(op for op in ops if op["process"] == 0 and op["type"] == "invoke" and op["f"] == "add")
    evil_done = next(op for op in ops[evil["index"] + 1 :] if op["process"] == 0)
    evil["value"] = evil_value
    evil_done.update(type="ok", value=evil_value)
    evil_done.pop("error", None)

    end_ns = ops[-1]["time"]
    _write_json(run_dir / "test.json", {
        "name": name, "system": "seedkv", "mode": "seed", "workload": "set", "nemesis": list(NEMESIS_DRAW),
        "nodes": nodes, "concurrency": concurrency, "time_limit": round(duration_ns / 1e9), "seed": seed,
        "rate": 0, "nemesis_interval": round(interval_ns / 1e9, 3), "runtime": "local",
        "started_at": "2026-11-21T19:00:00Z", "nemesis_draw": NEMESIS_DRAW,
    })
    with open(run_dir / "history.jsonl", "w", encoding="utf-8") as f:
        for op in ops:
            f.write(json.dumps(op, separators=(",", ":")) + "\n")
    kinds = [op["type"] for op in ops if op["type"] != "invoke" and op["process"] != "nemesis"]
    lost = {"kind": "elements", "label": "lost", "elements": [3, 9], "count": 2}
    checkers: dict[str, Any] = {"set": {"valid": False, "lost": [3, 9], "lost_count": 2, "ok_count": kinds.count("ok"),
                                        "reason": "2 acknowledged adds missing from the final read", "evidence": [lost]}}
    if with_evidence:
        checkers["linearizable"] = _evidence(ops)
    _write_json(run_dir / "results.json", {
        "valid": False, "exit_code": 1, "reason": "set: 2 acknowledged adds lost",
        "stats": {"ops": len(kinds), "ok": kinds.count("ok"), "fail": kinds.count("fail"), "info": kinds.count("info"), "duration_s": round(end_ns / 1e9, 1)},
        "checkers": checkers,
    })
    for node in nodes:
        log_dir = run_dir / "nodes" / node
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "server.log").write_text(f"{node} started\n<script>alert('log')</script>\n", encoding="utf-8")
    (run_dir / "harness.log").write_text("run finished\n", encoding="utf-8")
    return SyntheticRun(run_dir, calls, len(ops), evil["index"])


def _call(events: list, process: Any, f: str, node: str | None, value: Any, begin: int, end: int,
          outcome: str | None, result: Any = ...) -> None:
    invoke = {"time": begin, "type": "invoke", "process": process, "f": f, "value": value}
    if node is not None:
        invoke["node"] = node
    events.append((begin, len(events), invoke))
    if outcome is not None:
        done = dict(invoke, time=end, type=outcome, value=value if result is ... else result)
        if outcome == "fail":
            done["error"] = "not-leader"
        events.append((end, len(events), done))


def _evidence(ops: list[dict[str, Any]]) -> dict[str, Any]:
    """A result in the linearizability checker's format, with its `window` evidence, built from
    four real client calls, as if a register read had returned a value no write put there."""
    completions = [op for op in ops if op["type"] == "ok" and op["process"] != "nemesis"][5:9]
    invokes = []
    for done in completions:
        invokes.append(next(op for op in reversed(ops[: done["index"]]) if op["process"] == done["process"] and op["type"] == "invoke"))
    window = sorted(invokes + completions, key=lambda op: op["index"])
    failed = completions[-1]
    prefix_ops = completions[:-1]
    state = {"value": 2, "note": "<i>state</i>"}
    return {
        "valid": False, "model": "cas-register", "key": "k<b>1</b>",
        "reason": f"no linearization places op {failed['index']}: read 99 but the register holds 2",
        "failed_ops": [failed],
        "prefixes": [{"ops": prefix_ops, "states": [0, 1, 2]}],
        "window": window,
        "state_before": state,
        "evidence": [{"kind": "window", "label": "failing window", "model": "cas-register", "key": "k<b>1</b>",
                      "failed": [failed], "window": window,
                      "prefix": {"ops": prefix_ops, "states": [0, 1, 2], "omitted": 0},
                      "state_before": state}],
    }


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
