"""Turn a run (spec, history, results) into the compact data a report page draws.

A report for 100,000 operations must stay small and load fast, so calls are stored as columns
(one array per field) rather than one object per call, and times are microseconds since the
test started. The page never interprets history values: it shows them as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from harness.history import FAIL, INFO, NEMESIS, OK, Call, Op, pair_calls, with_indices
from harness.report.evidence import draw_evidence
from harness.report.values import clipped, jsonable

# Outcome codes shared with report.js.
KIND_OK, KIND_FAIL, KIND_INFO, KIND_OPEN = 0, 1, 2, 3
_KINDS = {OK: KIND_OK, FAIL: KIND_FAIL, INFO: KIND_INFO}

# When a run names no drawing for its faults (an imported Jepsen history, say), these common
# start/stop pairs still let the report shade the fault intervals.
DEFAULT_FAULT_PAIRS = {
    "kill": "start",
    "pause": "resume",
    "partition": "heal",
    "start-partition": "stop-partition",
    "start-kill": "stop-kill",
    "start-pause": "stop-pause",
    "start": "stop",
    "clock-skew": "clock-reset",
    "bump-clock": "reset-clock",
}
_FALLBACK_COLORS = ["#e66", "#69c", "#c9c", "#e93", "#6b6", "#999"]


@dataclass
class FaultInterval:
    """A stretch of time during which one fault was in force."""

    name: str
    color: str
    start_us: int
    end_us: int
    value: Any = None


@dataclass
class ReportData:
    """Everything the page draws, in the shape report.js expects."""

    end_us: int
    lanes: list[str]
    fs: list[str]
    nodes: list[str]
    calls: dict[str, list[Any]]
    faults: list[FaultInterval]
    fault_colors: dict[str, str]
    evidence: list[dict[str, Any]]  # every checker's evidence items, resolved to calls
    latency_quantiles: list[dict[str, Any]] = field(default_factory=list)
    lanes_are_threads: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "end": self.end_us,
            "lanes": self.lanes,
            "fs": self.fs,
            "nodes": self.nodes,
            "calls": self.calls,
            "faults": [
                {"name": f.name, "color": f.color, "t0": f.start_us, "t1": f.end_us, "value": f.value}
                for f in self.faults
            ],
            "faultColors": self.fault_colors,
            "evidence": self.evidence,
        }


def build_report_data(ops: Sequence[Op], test: dict[str, Any], results: dict[str, Any]) -> ReportData:
    """Pair the history's calls and lay them out in lanes, faults and evidence."""
    ops = with_indices(list(ops))
    _fill_missing_times(ops)
    start_ns = min((op.time for op in ops), default=0)
    end_us = max(((op.time - start_ns) // 1000 for op in ops), default=0)
    calls = pair_calls(ops)

    threads = test.get("concurrency")
    threads = threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else None
    lane_of = _lane_numbers(calls, threads)
    fs: dict[str, int] = {}
    nodes: dict[str, int] = {}
    columns: dict[str, list[Any]] = {k: [] for k in ("lane", "p", "t0", "t1", "k", "f", "iv", "cv", "i0", "i1", "n", "e")}
    call_of_index: dict[int, int] = {}
    for number, call in enumerate(calls):
        inv, done = call.invoke, call.completion
        columns["lane"].append(lane_of[_lane_key(inv.process, threads)])
        columns["p"].append(jsonable(inv.process))
        columns["t0"].append((inv.time - start_ns) // 1000)
        columns["t1"].append((done.time - start_ns) // 1000 if done is not None else -1)
        columns["k"].append(_KINDS.get(done.type, KIND_INFO) if done is not None else KIND_OPEN)
        columns["f"].append(fs.setdefault(_text(inv.f), len(fs)))
        columns["iv"].append(clipped(inv.value))
        columns["cv"].append(clipped(done.value) if done is not None else None)
        columns["i0"].append(inv.index)
        columns["i1"].append(done.index if done is not None else -1)
        node = inv.node if inv.node is not None else (done.node if done is not None else None)
        columns["n"].append(nodes.setdefault(_text(node), len(nodes)) if node is not None else -1)
        error = done.error if done is not None else None
        columns["e"].append(clipped(error))
        call_of_index[inv.index] = number
        if done is not None:
            call_of_index[done.index] = number

    draw = _fault_drawing(test, calls)
    faults = _fault_intervals(calls, draw, start_ns, end_us)
    fault_colors = {}
    for spec in draw.values():
        fault_colors[spec["start"]] = spec["color"]
        fault_colors.setdefault(spec["stop"], spec["color"])

    lanes = [""] * len(lane_of)
    for key, number in lane_of.items():
        lanes[number] = key
    evidence = draw_evidence(results, calls, call_of_index, start_ns)
    return ReportData(
        end_us=end_us,
        lanes=lanes,
        fs=list(fs),
        nodes=list(nodes),
        calls=columns,
        faults=faults,
        fault_colors=fault_colors,
        evidence=evidence,
        latency_quantiles=latency_quantiles(calls),
        lanes_are_threads=threads is not None,
    )


def _fill_missing_times(ops: list[Op]) -> None:
    """Histories without times (some EDN corpora) are drawn by position instead: one
    millisecond per op keeps their order readable."""
    if any(op.time is None for op in ops):
        for position, op in enumerate(ops):
            op.time = position * 1_000_000


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(jsonable(value))


def _lane_key(process: Any, threads: int | None) -> str:
    """The lane's label. With the run's concurrency known, a client lane is a thread: a process
    retired by an `info` op continues as process + concurrency in the same lane, so the lanes
    stay few and each shows one worker's whole run instead of a ragged stair of short lives."""
    if threads and isinstance(process, int) and not isinstance(process, bool):
        return f"thread {process % threads}"
    if process == NEMESIS:
        return NEMESIS
    return f"p {_text(process)}"


def _lane_numbers(calls: list[Call], threads: int | None) -> dict[str, int]:
    """The nemesis first, then client lanes in numeric order, then anything else."""
    keys = {_lane_key(c.invoke.process, threads): c.invoke.process for c in calls}

    def order(key: str) -> tuple[int, float, str]:
        process = keys[key]
        if process == NEMESIS:
            return (0, 0, key)
        if isinstance(process, int) and not isinstance(process, bool):
            return (1, process % threads if threads else process, key)
        return (2, 0, key)

    return {key: number for number, key in enumerate(sorted(keys, key=order))}


def _fault_drawing(test: dict[str, Any], calls: list[Call]) -> dict[str, dict[str, str]]:
    """The run's `nemesis_draw`, or start/stop pairs guessed from the nemesis ops seen."""
    draw = test.get("nemesis_draw")
    if isinstance(draw, dict) and draw:
        cleaned = {}
        for name, spec in draw.items():
            if isinstance(spec, dict) and "start" in spec and "stop" in spec:
                cleaned[_text(name)] = {
                    "start": _text(spec["start"]),
                    "stop": _text(spec["stop"]),
                    "color": _safe_color(spec.get("color"), len(cleaned)),
                }
        if cleaned:
            return cleaned
    seen = {_text(c.invoke.f) for c in calls if c.invoke.process == NEMESIS}
    guessed = {}
    for start, stop in DEFAULT_FAULT_PAIRS.items():
        if start in seen:
            guessed[start] = {"start": start, "stop": stop, "color": _safe_color(None, len(guessed))}
    return guessed


def _safe_color(color: Any, position: int) -> str:
    """Colours go into canvas styles; accept only plain hex so a spec cannot inject anything."""
    if isinstance(color, str) and len(color) in (4, 7) and color.startswith("#"):
        if all(c in "0123456789abcdefABCDEF" for c in color[1:]):
            return color
    return _FALLBACK_COLORS[position % len(_FALLBACK_COLORS)]


def _fault_intervals(
    calls: list[Call], draw: dict[str, dict[str, str]], start_ns: int, end_us: int
) -> list[FaultInterval]:
    """A fault is in force from the invocation of its start op to the completion of its stop op;
    one never stopped lasts to the end of the history."""
    starts = {spec["start"]: name for name, spec in draw.items()}
    stops = {spec["stop"]: name for name, spec in draw.items()}
    open_faults: dict[str, FaultInterval] = {}
    faults: list[FaultInterval] = []
    for call in calls:
        if call.invoke.process != NEMESIS:
            continue
        f = _text(call.invoke.f)
        begin_us = (call.invoke.time - start_ns) // 1000
        finish_us = (call.completion.time - start_ns) // 1000 if call.completion is not None else end_us
        # Closing first: with guessed pairs one f can both stop one fault and start another.
        if f in stops and stops[f] in open_faults:
            interval = open_faults.pop(stops[f])
            interval.end_us = finish_us
            faults.append(interval)
        elif f in starts and starts[f] not in open_faults:
            name = starts[f]
            value = call.completion.value if call.completion is not None else call.invoke.value
            open_faults[name] = FaultInterval(name, draw[name]["color"], begin_us, end_us, jsonable(value))
    faults.extend(open_faults.values())
    faults.sort(key=lambda interval: interval.start_us)
    return faults


def latency_quantiles(calls: list[Call]) -> list[dict[str, Any]]:
    """Per operation type: how many calls ended each way, and latency quantiles of the ok ones
    (in milliseconds), the numbers a person compares across runs."""
    by_f: dict[str, dict[str, Any]] = {}
    for call in calls:
        if not call.invoke.is_client or call.completion is None or call.invoke is call.completion:
            continue
        row = by_f.setdefault(_text(call.invoke.f), {"ok": [], "fail": 0, "info": 0})
        if call.completion.type == OK:
            row["ok"].append((call.completion.time - call.invoke.time) / 1e6)
        elif call.completion.type == FAIL:
            row["fail"] += 1
        else:
            row["info"] += 1
    rows = []
    for f in sorted(by_f):
        latencies = sorted(by_f[f]["ok"])
        rows.append(
            {
                "f": f,
                "ok": len(latencies),
                "fail": by_f[f]["fail"],
                "info": by_f[f]["info"],
                "p50": _quantile(latencies, 0.5),
                "p90": _quantile(latencies, 0.9),
                "p99": _quantile(latencies, 0.99),
                "max": latencies[-1] if latencies else None,
            }
        )
    return rows


def _quantile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]
