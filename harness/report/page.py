"""Render a run's report as one self-contained HTML page.

The header, checker results, quantile table and links are rendered here, escaped; the timeline,
charts and the checkers' evidence (by kind: a failing window, elements, ops, a table, a cycle)
are drawn by report.js from a JSON block embedded in the page. Nothing is fetched: a content security policy forbids every network load, so the page
opens from disk offline and an injected tag could not load anything even if escaping failed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from harness.report.clock import clock_section
from harness.report.data import ReportData
from harness.report.values import jsonable

_VERDICTS = {True: ("valid", "verdict-valid"), False: ("invalid", "verdict-invalid")}
_CHECKER_JSON_LIMIT = 20_000


@dataclass
class Link:
    """A file the report points to, by a path relative to the report."""

    label: str
    href: str
    group: str


def asset(name: str) -> str:
    return resources.files("harness.report").joinpath("assets", name).read_text(encoding="utf-8")


def inline_policy(script: str, style: str) -> str:
    """A content security policy that loads nothing and runs only this exact inline script and
    style, named by their hashes: markup that slipped past escaping could not run a script of
    its own, and `faultline serve` sends the same policy as a header."""
    return (f"default-src 'none'; script-src {_source_hash(script)}; style-src {_source_hash(style)}; "
            "base-uri 'none'; form-action 'none'")


@functools.cache
def report_policy() -> str:
    """The policy of a report written by this version of faultline."""
    return inline_policy(asset("report.js"), asset("report.css"))


def _source_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def embed_json(value: Any) -> str:
    """JSON that is safe inside a <script> element: no '<', '>' or '&' can close it early."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def esc(value: Any) -> str:
    if not isinstance(value, str):
        value = json.dumps(jsonable(value), ensure_ascii=False) if value is not None else "—"
    return html.escape(value, quote=True)


def render_page(test: dict[str, Any], results: dict[str, Any], data: ReportData, links: list[Link]) -> str:
    title = f"{test.get('name') or 'faultline run'} — {_verdict_word(results.get('valid'))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{report_policy()}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{asset('report.css')}</style>",
        "</head><body>",
        _header(test, results, data),
        _checkers(results),
        _timeline_section(data.lanes_are_threads),
        clock_section(results, data.end_us / 1e6),
        _charts_section(data),
        '<section id="evidence-section" hidden><h2>Evidence</h2><div id="evidence"></div></section>',
        _links(links),
        f'<script type="application/json" id="report-data">{embed_json(data.to_json_dict())}</script>',
        f"<script>{asset('report.js')}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _verdict_word(valid: Any) -> str:
    """valid / invalid / unknown; anything but a real boolean (the string "unknown", a missing
    result) reads as unknown."""
    return _VERDICTS[valid][0] if isinstance(valid, bool) else "unknown"


def _verdict_badge(valid: Any) -> str:
    css = _VERDICTS[valid][1] if isinstance(valid, bool) else "verdict-unknown"
    return f'<span class="verdict {css}">{_verdict_word(valid)}</span>'


def _runtime_fact(test: dict[str, Any]) -> str | None:
    """The runtime, with its hosts file, and a warning when host keys went unchecked: a reader
    must know the nodes' identities were taken on trust."""
    runtime = test.get("runtime")
    if runtime is None:
        return None
    parts = [str(runtime)]
    if test.get("hosts"):
        parts.append(f"hosts {test['hosts']}")
    if test.get("insecure_host_keys"):
        parts.append("host keys NOT checked (--insecure-host-keys)")
    return ", ".join(parts)


def _header(test: dict[str, Any], results: dict[str, Any], data: ReportData) -> str:
    stats = results.get("stats") if isinstance(results.get("stats"), dict) else {}
    duration = stats.get("duration_s")
    if not isinstance(duration, (int, float)):
        duration = data.end_us / 1e6
    nemesis = test.get("nemesis")
    if isinstance(nemesis, list):
        nemesis = ", ".join(str(n) for n in nemesis) or "none"
    nodes = test.get("nodes")
    if isinstance(nodes, list):
        nodes = ", ".join(str(n) for n in nodes)
    facts = [
        ("system", test.get("system")),
        ("mode", test.get("mode")),
        ("workload", test.get("workload")),
        ("nemesis", nemesis),
        ("nodes", nodes),
        ("concurrency", test.get("concurrency")),
        ("runtime", _runtime_fact(test)),
        ("seed", test.get("seed")),
        ("started", test.get("started_at")),
        ("duration", f"{duration:.1f} s"),
    ]
    for key in ("ops", "ok", "fail", "info"):
        if key in stats:
            facts.append((f"{key}" if key != "ops" else "operations", stats[key]))
    cells = "".join(f"<div><dt>{esc(k)}</dt><dd>{esc(v)}</dd></div>" for k, v in facts if v is not None)
    reason = results.get("reason")
    reason_html = f'<p class="reason">{esc(reason)}</p>' if reason else ""
    return (
        f"<header><h1>{esc(test.get('name') or 'faultline run')} {_verdict_badge(results.get('valid'))}</h1>"
        f"{reason_html}<dl class=\"facts\">{cells}</dl></header>"
    )


def _checkers(results: dict[str, Any]) -> str:
    checkers = results.get("checkers")
    if not isinstance(checkers, dict) or not checkers:
        return ""
    rows = []
    for name, result in checkers.items():
        result = result if isinstance(result, dict) else {"result": result}
        summary = _checker_summary(result)
        full = json.dumps(jsonable(result), indent=2, ensure_ascii=False)
        if len(full) > _CHECKER_JSON_LIMIT:
            full = full[:_CHECKER_JSON_LIMIT] + f"\n… {len(full) - _CHECKER_JSON_LIMIT} more characters in results.json"
        rows.append(
            f"<tr><th>{esc(name)}</th><td>{_verdict_badge(result.get('valid'))}</td>"
            f"<td>{summary}<details><summary>full result</summary><pre>{esc(full)}</pre></details></td></tr>"
        )
    return f'<section id="checkers"><h2>Checkers</h2><table class="checkers">{"".join(rows)}</table></section>'


def _checker_summary(result: dict[str, Any]) -> str:
    """The reason, counts and short scalar facts: what a person reads before the full JSON."""
    bits = []
    if result.get("reason"):
        bits.append(f'<div class="reason">{esc(result["reason"])}</div>')
    facts = []
    for key, value in result.items():
        if key in ("valid", "reason"):
            continue
        if isinstance(value, (int, float, str, bool)) and len(str(value)) <= 80:
            facts.append(f"<span><b>{esc(key)}</b> {esc(str(value))}</span>")
        elif isinstance(value, list) and value and len(value) <= 20 and all(isinstance(v, (int, str)) for v in value):
            facts.append(f"<span><b>{esc(key)}</b> {esc(value)}</span>")
    if facts:
        bits.append(f'<div class="checker-facts">{"".join(facts[:12])}</div>')
    return "".join(bits)


def _timeline_section(lanes_are_threads: bool) -> str:
    note = (
        " Each client lane is a thread: a process retired by an info op continues in the same lane"
        " as process + concurrency."
        if lanes_are_threads
        else ""
    )
    return f"""<section id="timeline-section"><h2>Timeline</h2>
<div class="toolbar">
<button type="button" id="zoom-in" title="zoom in (or scroll on the timeline)">zoom in</button>
<button type="button" id="zoom-out">zoom out</button>
<button type="button" id="zoom-reset">whole run</button>
<span id="view-range"></span>
<span class="legend"><i class="k-ok"></i>ok <i class="k-fail"></i>fail <i class="k-info"></i>info <i class="k-open"></i>never completed</span>
<span id="fault-legend"></span>
</div>
<div id="timeline-wrap"><canvas id="timeline" tabindex="0" aria-label="operations timeline: scroll to zoom, drag to pan, click an operation for its details"></canvas></div>
<div id="details" class="details"><p class="hint">Scroll to zoom, drag to pan (shift+scroll moves through lanes), click an operation for its details.{note}</p></div>
</section>"""


def _charts_section(data: ReportData) -> str:
    rows = []
    for row in data.latency_quantiles:
        cells = [esc(row["f"]), str(row["ok"]), str(row["fail"]), str(row["info"])]
        cells += [_ms(row[k]) for k in ("p50", "p90", "p99", "max")]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    table = (
        '<table class="quantiles"><thead><tr><th>operation</th><th>ok</th><th>fail</th><th>info</th>'
        "<th>p50</th><th>p90</th><th>p99</th><th>max</th></tr></thead><tbody>"
        + ("".join(rows) or '<tr><td colspan="8">no completed client operations</td></tr>')
        + "</tbody></table><p class=\"hint\">Latency of ok operations, in milliseconds.</p>"
    )
    return f"""<section id="charts"><h2>Latency and throughput</h2>
<p class="hint">Both charts follow the timeline's zoom; shaded bands are faults.</p>
<h3>Latency (ms, log scale) by invocation time</h3><canvas id="latency" class="chart"></canvas>
<h3>Throughput (completions per second)</h3><canvas id="throughput" class="chart"></canvas>
<h3>Latency quantiles per operation</h3>{table}</section>"""


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _links(links: list[Link]) -> str:
    if not links:
        return ""
    groups: dict[str, list[str]] = {}
    for link in links:
        href = quote(link.href, safe="/")
        groups.setdefault(link.group, []).append(f'<li><a href="{esc(href)}">{esc(link.label)}</a></li>')
    body = "".join(f"<h3>{esc(group)}</h3><ul>{''.join(items)}</ul>" for group, items in groups.items())
    return f'<section id="files"><h2>Files</h2>{body}</section>'
