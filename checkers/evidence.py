"""Evidence items in the shapes `harness.seams.EVIDENCE_KINDS` declares, for checkers to list
under `result["evidence"]`.

The report and the CLI summary draw evidence by its kind, so a checker says what it found
(these elements, these ops, these rows) and never needs the report to know its name. Each
helper keeps at most `limit` entries and records how many there were in all (`count`), so a
run with a million lost elements still has a small result. Plain dicts, no classes: an outside
checker can build the same items by hand.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

LIMIT = 200


def elements(label: str, values: Iterable[Any], limit: int = LIMIT) -> dict[str, Any]:
    """Values the checker names with one label: lost, unexpected, duplicated elements."""
    values = list(values)
    return {"kind": "elements", "label": label, "elements": values[:limit], "count": len(values)}


def ops(label: str, indices: Iterable[int], notes: Sequence[str] | None = None, limit: int = LIMIT) -> dict[str, Any]:
    """History ops to point at, by their history index, each with an optional note."""
    indices = list(indices)
    item: dict[str, Any] = {"kind": "ops", "label": label, "indices": indices[:limit], "count": len(indices)}
    if notes is not None:
        item["notes"] = list(notes)[:limit]
    return item


def table(label: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], op_columns: Sequence[str] = (),
          count: int | None = None, limit: int = LIMIT) -> dict[str, Any]:
    """Facts as rows. Cells of the columns named in `op_columns` are history indices, which the
    report links to the timeline. `count` is the number of rows in all when `rows` was cut."""
    rows = [list(row) for row in rows]
    item: dict[str, Any] = {"kind": "table", "label": label, "columns": list(columns), "rows": rows[:limit],
                            "count": len(rows) if count is None else count}
    if op_columns:
        item["op_columns"] = list(op_columns)
    return item


def interval(label: str, start: int, end: int, lo: int | None = None, hi: int | None = None,
             ops: Iterable[int] = (), lane: str | None = None) -> dict[str, Any]:
    """One bar of an `intervals` item, in history nanoseconds (like `Op.time`): certain from
    `start` to `end`, possibly from `lo` to `hi`; `ops` are the history indices it rests on."""
    bar: dict[str, Any] = {"label": label, "start": start, "end": end, "ops": list(ops)}
    if lo is not None:
        bar["from"] = lo
    if hi is not None:
        bar["to"] = hi
    if lane is not None:
        bar["lane"] = lane
    return bar


def intervals(label: str, bars: Sequence[dict[str, Any]], overlap: Sequence[int] | None = None,
              marks: Iterable[tuple[int, str]] = (), limit: int = LIMIT) -> dict[str, Any]:
    """Intervals over time (holders, leaders) as bars, with the span where two overlapped and
    the ops to mark (history index, note): the report draws them as a chart."""
    bars = list(bars)
    item: dict[str, Any] = {"kind": "intervals", "label": label, "bars": bars[:limit], "count": len(bars),
                            "marks": [{"op": index, "note": note} for index, note in marks]}
    if overlap is not None:
        item["overlap"] = [int(overlap[0]), int(overlap[1])]
    return item
