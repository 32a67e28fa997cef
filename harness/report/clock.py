"""The report's clock section: each node's clock offset over the run, from `results["clock"]`
(`{node: [[t_s, offset_s], ...]}`, written by the runner when a clock nemesis ran).

Drawn here as inline SVG, one small plot per node on the same time axis as the run, so it needs
no script and loads nothing. Straight lines through the points are the offset at every moment
(the runner adds the points that make steps and drifts exact). Node names are escaped; points
that are not pairs of finite numbers are dropped, so a hand-edited results.json cannot break the
page.
"""

from __future__ import annotations

import html
import math
from typing import Any

PLOT_WIDTH, PLOT_HEIGHT, MARGIN = 600, 48, 4


def clock_offsets(results: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """The usable part of `results["clock"]`, node -> [(t, offset)] sorted by time."""
    clock = results.get("clock") if isinstance(results, dict) else None
    if not isinstance(clock, dict):
        return {}
    out = {}
    for node, points in clock.items():
        if not isinstance(points, list):
            continue
        usable = [(float(p[0]), float(p[1])) for p in points if _is_point(p)]
        if usable:
            out[str(node)] = sorted(usable, key=lambda p: p[0])
    return out


def _is_point(p: Any) -> bool:
    return (
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in p)
    )


def clock_section(results: dict[str, Any], run_seconds: float) -> str:
    """The section's HTML, or "" when the run has no clock offsets."""
    offsets = clock_offsets(results)
    if not offsets:
        return ""
    end = max([run_seconds] + [points[-1][0] for points in offsets.values()]) or 1.0
    rows = []
    for node, points in sorted(offsets.items()):
        values = [v for _, v in points]
        low, high = min(values), max(values)
        changes = sum(1 for a, b in zip(values, values[1:]) if a != b)
        rows.append(
            f'<tr data-node="{_esc(node)}"><th>{_esc(node)}</th><td>{_plot(node, points, end, low, high)}</td>'
            f"<td>{_seconds(low)}</td><td>{_seconds(high)}</td><td>{_seconds(values[-1])}</td><td>{changes}</td></tr>"
        )
    return (
        '<section id="clock"><h2>Clock offsets</h2>'
        f'<p class="hint">Each node\'s wall clock minus real time, over the run (0 to {end:.1f} s), '
        "as set by the clock nemesis. The grey line is zero.</p>"
        '<table class="clock"><thead><tr><th>node</th><th>offset over time</th><th>lowest</th>'
        "<th>highest</th><th>at the end</th><th>changes</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></section>"
    )


def _plot(node: str, points: list[tuple[float, float]], end: float, low: float, high: float) -> str:
    low, high = min(low, 0.0), max(high, 0.0)  # zero is always in view, as the reference
    span = (high - low) or 1.0
    inner = PLOT_HEIGHT - 2 * MARGIN

    def x(t: float) -> float:
        return round(PLOT_WIDTH * min(max(t, 0.0), end) / end, 2)

    def y(v: float) -> float:
        return round(MARGIN + inner * (high - v) / span, 2)

    line = " ".join(f"{x(t)},{y(v)}" for t, v in points)
    if points[-1][0] < end:  # the last setting holds to the end of the run
        line += f" {x(end)},{y(points[-1][1])}"
    zero = y(0.0)
    label = f"clock offset of {node}, from {_seconds(low)} to {_seconds(high)}"
    return (
        f'<svg class="clock-plot" viewBox="0 0 {PLOT_WIDTH} {PLOT_HEIGHT}" width="100%" height="{PLOT_HEIGHT}" '
        f'preserveAspectRatio="none" role="img" aria-label="{_esc(label)}">'
        f'<line x1="0" y1="{zero}" x2="{PLOT_WIDTH}" y2="{zero}" stroke="#bbb" stroke-width="1"/>'
        f'<polyline points="{line}" fill="none" stroke="#8a5cc7" stroke-width="1.5" vector-effect="non-scaling-stroke"/>'
        "</svg>"
    )


def _seconds(value: float) -> str:
    return f"{value:+.3f} s" if value else "0 s"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)
