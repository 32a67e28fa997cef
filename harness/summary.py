"""The verdict a person reads at the end of `faultline test`: one line per checker, then what
each checker's evidence holds, drawn by kind (`harness.seams.EVIDENCE_KINDS`) and never by the
checker's name, so an outside checker's evidence prints like a shipped one's.

Only a line or two per evidence item: the report (its path is printed last) shows it whole.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from rich.console import Console

from harness import store

VERDICT_STYLE = {True: ("valid", "bold green"), False: ("INVALID", "bold red"), "unknown": ("unknown", "bold yellow")}
SHOWN = 20  # elements or indices per line
TEXT_CHARS = 160


def verdict(valid: Any) -> tuple[str, str]:
    """The word and rich style for a verdict; anything but True or False reads as unknown."""
    return VERDICT_STYLE[valid] if isinstance(valid, bool) else VERDICT_STYLE["unknown"]


def print_summary(console: Console, results: dict[str, Any], run_dir: Path | None) -> None:
    """The run's verdict and stats, each checker's verdict and figures (`*_count`) and a line per
    evidence item, then where results.json and the report are. Lines are soft-wrapped: the
    terminal folds them, and a pipe gets them whole."""
    from rich.markup import escape  # here, so `verdict` alone does not import rich
    word, style = verdict(results.get("valid"))
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    console.print(f"[{style}]{word}[/]  {escape(str(results.get('reason', '')))}", soft_wrap=True)
    if stats:
        console.print(
            f"  {stats.get('ops', 0)} ops in {stats.get('duration_s', 0):.1f} s: "
            f"{stats.get('ok', 0)} ok, {stats.get('fail', 0)} fail, {stats.get('info', 0)} info; "
            f"{stats.get('nemesis_events', 0)} nemesis events", soft_wrap=True
        )
    checkers = results.get("checkers") if isinstance(results.get("checkers"), dict) else {}
    for name, result in checkers.items():
        if not isinstance(result, dict):
            continue
        cword, cstyle = verdict(result.get("valid"))
        figures = ", ".join(f"{k.removesuffix('_count')} {v}" for k, v in result.items() if k.endswith("_count"))
        line = f"{name}: {result.get('reason', '')}" + (f" ({figures})" if figures else "")
        console.print(f"  [{cstyle}]{cword}[/] {escape(line)}", soft_wrap=True)
        items = result.get("evidence")
        for item in items if isinstance(items, list) else ():
            if isinstance(item, dict):
                console.print(f"    {escape(evidence_line(item))}", soft_wrap=True)
    if run_dir is not None:
        # Soft-wrapped, so a path stays one line to copy even when the output is a pipe.
        for label, path in (("results:", run_dir / store.RESULTS_FILE), ("report: ", run_dir / store.REPORT_FILE)):
            if path.exists():  # a full disk may have kept either from being written
                console.print(f"  {label} {escape(str(path))}", soft_wrap=True)


def evidence_line(item: dict[str, Any]) -> str:
    """One evidence item as one line of plain text: `label: what it holds`."""
    kind = item.get("kind")
    label = _text(item.get("label") or kind or "evidence")
    describe = _LINES.get(kind) if isinstance(kind, str) else None
    return f"{label}: {describe(item) if describe else f'evidence of kind {_text(kind)} (see the report)'}"


def _listed(item: dict[str, Any], field: str) -> tuple[list[Any], int]:
    values = item.get(field) if isinstance(item.get(field), list) else []
    count = item.get("count")
    total = count if isinstance(count, int) and not isinstance(count, bool) and count >= len(values) else len(values)
    return values, total


def _some(values: list[Any], total: int, shown: int = SHOWN) -> str:
    """`1, 2, 3`, or `1, 2, … (57 in all)` when there are more than are shown."""
    text = ", ".join(_text(v) for v in values[:shown])
    return text + (f", … ({total} in all)" if total > min(len(values), shown) else "")


def _elements(item: dict[str, Any]) -> str:
    values, total = _listed(item, "elements")
    return _some(values, total)


def _ops(item: dict[str, Any]) -> str:
    indices, total = _listed(item, "indices")
    return f"{total} op{'s' if total != 1 else ''}, at history index {_some(indices, total, 10)}"


def _window(item: dict[str, Any]) -> str:
    window = item.get("window") if isinstance(item.get("window"), list) else []
    # A window lists each op's invocation and completion; count the ops.
    calls = sum(1 for op in window if isinstance(op, dict) and op.get("type") == "invoke") or len(window)
    facts = [f"{calls} op{'s' if calls != 1 else ''}"]
    for field in ("model", "key"):
        if item.get(field) is not None:
            facts.append(f"{field} {_text(item[field])}")
    failed = item.get("failed") if isinstance(item.get("failed"), list) else []
    if failed:
        facts.append("could not place " + ", ".join(_op_text(op) for op in failed[:3]))
    return "; ".join(facts)


def _cycle(item: dict[str, Any]) -> str:
    steps = item.get("steps") if isinstance(item.get("steps"), list) else []
    parts = []
    for step in steps[:SHOWN]:
        if isinstance(step, dict):
            parts.append(f"op {_text(step.get('op'))} -{_text(step.get('edge') or '')}->")
    if steps and isinstance(steps[-1], dict) and len(steps) <= SHOWN:
        parts.append(f"op {_text(steps[-1].get('to'))}")
    return f"cycle of {len(steps)} step{'s' if len(steps) != 1 else ''}: " + " ".join(parts)


def _table(item: dict[str, Any]) -> str:
    rows, total = _listed(item, "rows")
    columns = item.get("columns") if isinstance(item.get("columns"), list) else []
    text = f"{total} row{'s' if total != 1 else ''}"
    if rows and isinstance(rows[0], list):
        cells = [f"{_text(c)} {_text(v)}" for c, v in zip(columns, rows[0])] + [_text(v) for v in rows[0][len(columns):]]
        text += f"; first: {', '.join(cells)}"
    return text


def _intervals(item: dict[str, Any]) -> str:
    bars, total = _listed(item, "bars")
    names = [_text(b.get("label")) for b in bars if isinstance(b, dict)]
    text = f"{total} interval{'s' if total != 1 else ''}: {_some(names, total)}"
    overlap = item.get("overlap")
    if isinstance(overlap, list) and len(overlap) == 2 and all(isinstance(t, (int, float)) for t in overlap):
        text += f"; overlapping from {overlap[0] / 1e9:.3f} s to {overlap[1] / 1e9:.3f} s"
    return text


def _op_text(op: Any) -> str:
    if isinstance(op, dict):
        f, value, process, index = (_text(op.get(k)) for k in ("f", "value", "process", "index"))
        return f"{f} {value} by process {process} (op {index})"
    return f"op {_text(op)}"


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=repr, ensure_ascii=False)
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


_LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "elements": _elements,
    "ops": _ops,
    "window": _window,
    "cycle": _cycle,
    "table": _table,
    "intervals": _intervals,
}
