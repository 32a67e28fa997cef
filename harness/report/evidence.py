"""Every checker's evidence, drawn by kind and resolved to this history's calls.

Checkers declare their evidence in their result (`result["evidence"]`, kinds as
`harness.seams.EVIDENCE_KINDS` describes them); the report never looks a checker up by name,
so an outside checker's evidence shows like a shipped one's. Ops a checker points at (by history
index, or as op dicts) become calls of the timeline, so the page can jump to them. Lists are cut
to a few hundred entries, which keeps a report with a million lost elements small.
"""

from __future__ import annotations

from typing import Any, Callable

from harness.history import Call, Op, pair_calls
from harness.report.values import as_text, clipped, jsonable

ENTRIES_SHOWN = 200  # elements, ops, rows or steps per item
ITEMS_SHOWN = 20  # items per checker
PREFIX_ROWS_SHOWN = 500


def draw_evidence(results: Any, calls: list[Call], call_of_index: dict[int, int], start_ns: int) -> list[dict[str, Any]]:
    """The page's evidence items, checker by checker in the results' order. Each names its
    checker, the checker's verdict, its kind and label; the rest depends on the kind."""
    checkers = results.get("checkers") if isinstance(results, dict) else None
    if not isinstance(checkers, dict):
        return []
    resolver = _Resolver(calls, call_of_index, start_ns)
    drawn: list[dict[str, Any]] = []
    for name, result in checkers.items():
        if not isinstance(result, dict):
            continue
        items = result.get("evidence")
        if not isinstance(items, list):
            items = _older_window(result)
        items = [item for item in items if isinstance(item, dict)]
        for item in items[:ITEMS_SHOWN]:
            kind = item.get("kind")
            draw = _DRAW.get(kind, _draw_other) if isinstance(kind, str) else _draw_other
            try:
                entry = draw(item, result, resolver)
            except (TypeError, ValueError, KeyError, AttributeError):  # a malformed item still shows
                entry = _draw_other(item, result, resolver)
            entry.update(checker=as_text(name), valid=jsonable(result.get("valid")),
                         label=as_text(item.get("label") or kind or "evidence"))
            drawn.append(entry)
        if len(items) > ITEMS_SHOWN:
            drawn.append({"checker": as_text(name), "valid": jsonable(result.get("valid")), "kind": "other",
                          "label": "more evidence", "text": f"{len(items) - ITEMS_SHOWN} more items in results.json"})
    return drawn


def _older_window(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Runs stored before checkers declared evidence: a result shaped like the linearizability
    checker's (failed ops and a window at the top level) is read as one window item."""
    if result.get("valid") is not False or not isinstance(result.get("window"), list) or "failed_ops" not in result:
        return []
    item = {"kind": "window", "label": "failing window", "model": result.get("model"), "key": result.get("key"),
            "failed": result.get("failed_ops"), "window": result["window"]}
    prefixes = [p for p in result.get("prefixes") or () if isinstance(p, dict) and isinstance(p.get("ops"), list)]
    if prefixes:
        item["prefix"] = max(prefixes, key=lambda p: len(p["ops"]))
    if "state_before" in result:
        item["state_before"] = result["state_before"]
    return [item]


class _Resolver:
    """Turns a checker's references to ops into entries describing this history's calls."""

    def __init__(self, calls: list[Call], call_of_index: dict[int, int], start_ns: int) -> None:
        self.calls, self.call_of_index, self.start_ns = calls, call_of_index, start_ns

    def call_of(self, ref: Any) -> int:
        """The call number of a history index or op dict, or -1."""
        index = ref.get("index") if isinstance(ref, dict) else ref
        if isinstance(index, bool) or not isinstance(index, int):
            return -1
        return self.call_of_index.get(index, -1)

    def entry(self, ref: Any) -> dict[str, Any]:
        number = self.call_of(ref)
        if number >= 0:
            return call_entry(self.calls[number], number, self.start_ns)
        return {"call": -1, "text": f"op {ref} (not in this history)" if isinstance(ref, int) else as_text(ref)}

    def entries(self, refs: Any) -> list[dict[str, Any]]:
        """One entry per distinct call, in the order the checker listed them. Op dicts the
        history does not hold (a checker that rebuilt them) are paired among themselves."""
        entries: list[dict[str, Any]] = []
        seen: set[int] = set()
        loose: list[Op] = []
        for ref in refs if isinstance(refs, list) else []:
            number = self.call_of(ref)
            if number >= 0:
                if number not in seen:
                    seen.add(number)
                    entries.append(call_entry(self.calls[number], number, self.start_ns))
            elif isinstance(ref, dict):
                try:
                    loose.append(Op.from_dict(ref))
                except ValueError:
                    entries.append({"call": -1, "text": as_text(ref)})
            else:
                entries.append(self.entry(ref))
        if loose:
            if any(op.time is None for op in loose):
                for position, op in enumerate(loose):
                    op.time = self.start_ns + position * 1_000_000
            for call in pair_calls(loose):
                entries.append(call_entry(call, -1, self.start_ns))
        return entries


def call_entry(call: Call, number: int, start_ns: int) -> dict[str, Any]:
    """What the page shows of one call: who, what, how it ended and when."""
    inv, done = call.invoke, call.completion
    return {
        "call": number,
        "index": inv.index,
        "process": jsonable(inv.process),
        "f": jsonable(inv.f),
        "iv": clipped(inv.value),
        "cv": clipped(done.value) if done is not None else None,
        "type": done.type if done is not None else "invoke",
        "t0": (inv.time - start_ns) // 1000 if inv.time is not None else 0,
        "t1": (done.time - start_ns) // 1000 if done is not None and done.time is not None else -1,
    }


def _listed(item: dict[str, Any], field: str) -> tuple[list[Any], int]:
    """The item's list under `field`, cut to ENTRIES_SHOWN, and how many there are in all."""
    values = item.get(field) if isinstance(item.get(field), list) else []
    count = item.get("count")
    total = count if isinstance(count, int) and not isinstance(count, bool) and count >= len(values) else len(values)
    return values[:ENTRIES_SHOWN], total


def _draw_elements(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    values, total = _listed(item, "elements")
    return {"kind": "elements", "elements": [as_text(v) for v in values], "count": total}


def _draw_ops(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    indices, total = _listed(item, "indices")
    notes = item.get("notes") if isinstance(item.get("notes"), list) else []
    ops = []
    for n, index in enumerate(indices):
        entry = resolver.entry(index)
        if n < len(notes) and notes[n] is not None:
            entry["note"] = as_text(notes[n])
        ops.append(entry)
    return {"kind": "ops", "ops": ops, "count": total}


def _draw_table(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    columns = [as_text(c) for c in item.get("columns")] if isinstance(item.get("columns"), list) else []
    op_columns = {as_text(c) for c in item.get("op_columns")} if isinstance(item.get("op_columns"), list) else set()
    linked = {n for n, c in enumerate(columns) if c in op_columns}
    rows, total = _listed(item, "rows")
    cells = []
    for row in rows:
        row = row if isinstance(row, list) else [row]
        out = []
        for n, value in enumerate(row):
            cell: dict[str, Any] = {"text": as_text(value)}
            if n in linked:
                cell["call"] = resolver.call_of(value)
            out.append(cell)
        cells.append(out)
    return {"kind": "table", "columns": columns, "rows": cells, "count": total}


def _draw_cycle(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    steps, total = _listed(item, "steps")
    drawn = []
    for step in steps:
        step = step if isinstance(step, dict) else {"why": step}
        drawn.append({"from": resolver.entry(step.get("op")), "edge": as_text(step.get("edge") or ""),
                      "to": resolver.entry(step.get("to")), "why": as_text(step.get("why") or "")})
    return {"kind": "cycle", "steps": drawn, "count": total}


def _draw_intervals(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """Bars in microseconds from the run's start, like the timeline's calls."""
    def us(ns: Any) -> int | None:
        return (int(ns) - resolver.start_ns) // 1000 if isinstance(ns, (int, float)) and not isinstance(ns, bool) else None

    bars, total = _listed(item, "bars")
    drawn = []
    for bar in bars:
        start, end = us(bar.get("start")), us(bar.get("end"))
        if start is None or end is None:
            raise ValueError("an interval needs a start and an end")
        lo, hi = us(bar.get("from")), us(bar.get("to"))
        drawn.append({"label": as_text(bar.get("label") or ""), "lane": as_text(bar.get("lane") or bar.get("label") or ""),
                      "start": start, "end": end, "from": start if lo is None else min(lo, start),
                      "to": end if hi is None else max(hi, end), "ops": resolver.entries(bar.get("ops") or [])})
    overlap = item.get("overlap")
    window = [us(overlap[0]), us(overlap[1])] if isinstance(overlap, list) and len(overlap) == 2 else None
    marks = item.get("marks") if isinstance(item.get("marks"), list) else []
    return {"kind": "intervals", "bars": drawn, "count": total,
            "overlap": window if window and None not in window else None,
            "marks": [{"op": resolver.entry(m.get("op")), "note": as_text(m.get("note") or "")}
                      for m in marks[:ENTRIES_SHOWN] if isinstance(m, dict)]}


def _draw_window(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """The failing window with real invoke/complete times, the op that could not be placed
    outlined, and the end of the longest linearizable prefix."""
    failed = resolver.entries(item.get("failed"))
    failed_calls = {e["call"] for e in failed if e.get("call", -1) >= 0}
    window = resolver.entries(item.get("window"))
    for entry in window:
        entry["failed"] = entry.get("call", -1) in failed_calls
    prefix = None
    found = item.get("prefix")
    if isinstance(found, dict) and isinstance(found.get("ops"), list):
        states = found.get("states") if isinstance(found.get("states"), list) else []
        rows = [{"op": _clipped_op(op), "state": clipped(states[i]) if i < len(states) else None,
                 "call": resolver.call_of(op)} for i, op in enumerate(found["ops"])]
        earlier = found.get("omitted") if isinstance(found.get("omitted"), int) else 0
        # The ops just before the failure explain it; a long prefix is cut from the front.
        prefix = {"rows": rows[-PREFIX_ROWS_SHOWN:], "omitted": earlier + max(0, len(rows) - PREFIX_ROWS_SHOWN)}
    return {
        "kind": "window",
        "model": jsonable(item.get("model")),
        "key": jsonable(item.get("key")),
        "reason": as_text(item.get("reason") or result.get("reason") or ""),
        "failed": failed,
        "window": window,
        "prefix": prefix,
        "hasStateBefore": "state_before" in item,
        "stateBefore": clipped(item.get("state_before")),
    }


def _clipped_op(op: Any) -> Any:
    if isinstance(op, dict):
        return {k: clipped(v) for k, v in op.items()}
    return clipped(op)


def _draw_other(item: dict[str, Any], result: dict[str, Any], resolver: _Resolver) -> dict[str, Any]:
    """A kind this report does not know: shown as its JSON, so nothing a checker says is lost."""
    return {"kind": "other", "text": as_text({k: v for k, v in item.items() if k != "label"})}


_DRAW: dict[str, Callable[[dict[str, Any], dict[str, Any], _Resolver], dict[str, Any]]] = {
    "elements": _draw_elements,
    "ops": _draw_ops,
    "table": _draw_table,
    "cycle": _draw_cycle,
    "intervals": _draw_intervals,
    "window": _draw_window,
}
