"""What a campaign leaves for people and CI: campaign.json, campaign.html and junit.xml, all
drawn from the recorded results (so a merge of shard stores writes the same three)."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from harness import store
from harness.campaign.runner import TestResult
from harness.report.page import esc, inline_policy

CAMPAIGN_FILE, PAGE_FILE, JUNIT_FILE = "campaign.json", "campaign.html", "junit.xml"


def verdict_word(result: TestResult) -> str:
    if result.status != "done":
        return result.status  # interrupted, error
    return {True: "valid", False: "invalid"}.get(result.valid, "unknown")


def write_outputs(out_dir: Path, name: str, results: Iterable[TestResult], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write the three files into `out_dir`; returns campaign.json's content."""
    ordered = sorted(results, key=lambda r: r.test.id)
    counts = Counter(verdict_word(r) for r in ordered)
    data = {
        "name": name,
        "tests": [_entry(r, out_dir) for r in ordered],
        "counts": dict(counts),
        "unexpected": sum(not r.as_expected for r in ordered),
        **(extra or {}),
    }
    store.write_json(out_dir / CAMPAIGN_FILE, data)
    _write_text(out_dir / PAGE_FILE, render_page(name, ordered, out_dir))
    _write_text(out_dir / JUNIT_FILE, render_junit(name, ordered))
    return data


def _entry(result: TestResult, out_dir: Path) -> dict[str, Any]:
    entry = result.to_dict()
    entry["verdict"] = verdict_word(result)
    if result.run_dir:
        report = Path(result.run_dir) / store.REPORT_FILE
        entry["report"] = str(report)
        entry["results"] = str(Path(result.run_dir) / store.RESULTS_FILE)
    return entry


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _link(result: TestResult, out_dir: Path) -> str | None:
    if not result.run_dir:
        return None
    rel = os.path.relpath(Path(result.run_dir) / store.REPORT_FILE, out_dir)
    return quote(Path(rel).as_posix())


def render_page(name: str, results: list[TestResult], out_dir: Path) -> str:
    """A matrix of verdicts: a row per system and mode, a column per nemesis, a cell per seed
    linking to its report; rows holding an unexpected cell come first, and the unexpected
    tests are listed above the matrix."""
    rows = sorted({(r.test.system, r.test.mode) for r in results})
    columns = sorted({r.test.nemesis for r in results})
    cells: dict[tuple[str, str, str], list[TestResult]] = {}
    for r in results:
        cells.setdefault((r.test.system, r.test.mode, r.test.nemesis), []).append(r)
    bad_rows = {(r.test.system, r.test.mode) for r in results if not r.as_expected}
    rows.sort(key=lambda row: row not in bad_rows)
    counts = Counter(verdict_word(r) for r in results)
    unexpected = [r for r in results if not r.as_expected]

    def cell(r: TestResult) -> str:
        word = verdict_word(r)
        mark = "expected" if r.as_expected else "unexpected"
        title = f"{r.test.id}: {word}, expected {r.test.expect}. {r.reason}"
        text = f"s{r.test.options.get('seed')}"
        link = _link(r, out_dir)
        inner = f'<a href="{esc(link)}">{esc(text)}</a>' if link else esc(text)
        return f'<span class="cell v-{esc(word)} {mark}" title="{esc(title)}">{inner}</span>'

    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = []
    for system, mode in rows:
        tds = "".join("<td>" + "".join(cell(r) for r in sorted(cells.get((system, mode, c), []), key=lambda r: r.test.options.get("seed", 0))) + "</td>"
                      for c in columns)
        flag = ' class="has-unexpected"' if (system, mode) in bad_rows else ""
        body.append(f"<tr{flag}><th>{esc(system)}</th><th>{esc(mode)}</th>{tds}</tr>")
    listed = "".join(
        f"<li><b>{esc(r.test.id)}</b>: {esc(verdict_word(r))}, expected {esc(str(r.test.expect))}"
        f"{' (' + esc(', '.join(r.anomalies)) + ')' if r.anomalies else ''} — {esc(r.reason[:300])}"
        + (f' <a href="{esc(_link(r, out_dir) or "")}">report</a>' if r.run_dir else "") + "</li>"
        for r in unexpected)
    summary = " · ".join(f"{n} {esc(w)}" for w, n in sorted(counts.items()))
    verdict_line = (f'<p class="bad">{len(unexpected)} of {len(results)} tests not as expected</p>' if unexpected
                    else f'<p class="good">all {len(results)} tests as expected</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{page_policy()}">
<title>faultline campaign {esc(name)}</title>
<style>{_CSS}</style></head><body>
<h1>campaign {esc(name)}</h1>
{verdict_line}
<p>{summary}</p>
{'<h2>Not as expected</h2><ul id="unexpected">' + listed + '</ul>' if unexpected else ''}
<table id="matrix"><thead><tr><th>system</th><th>mode</th>{head}</tr></thead>
<tbody>{''.join(body)}</tbody></table>
<p class="legend"><span class="cell v-valid expected">valid</span> <span class="cell v-invalid expected">invalid</span>
<span class="cell v-unknown expected">unknown</span> <span class="cell v-error expected">error</span>
<span class="cell v-interrupted expected">interrupted</span>
<span class="cell v-valid unexpected">not as expected</span> · a cell per seed, linking to its report</p>
</body></html>"""


def page_policy() -> str:
    return inline_policy("", _CSS)


_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #eee; vertical-align: top; }
thead th { background: #f4f4f4; }
tr.has-unexpected > th { color: #b71c1c; }
.cell { display: inline-block; min-width: 28px; margin: 1px; padding: 1px 6px; border-radius: 4px; color: #fff;
        text-align: center; font-size: 12px; background: #757575; }
.cell a { color: inherit; text-decoration: none; }
.v-valid { background: #2e7d32; } .v-invalid { background: #c62828; } .v-unknown { background: #f9a825; }
.v-error { background: #6a1b9a; } .v-interrupted { background: #546e7a; }
.unexpected { outline: 3px solid #000; outline-offset: -1px; font-weight: bold; }
.bad { color: #b71c1c; font-weight: bold; } .good { color: #2e7d32; font-weight: bold; }
.legend { margin-top: 16px; color: #555; }
"""


def render_junit(name: str, results: list[TestResult]) -> str:
    """One testcase per test: a failure (with the checker's summary and the report path) when
    it did not meet its expectation, an error when faultline itself failed, skipped when it was
    interrupted."""
    suite = ET.Element("testsuite", name=f"faultline.{name}", tests=str(len(results)),
                       failures=str(sum(r.status == "done" and not r.as_expected for r in results)),
                       errors=str(sum(r.status == "error" for r in results)),
                       skipped=str(sum(r.status == "interrupted" for r in results)),
                       time=f"{sum(r.seconds for r in results):.2f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=f"faultline.{r.test.system}.{r.test.mode}", name=r.test.id,
                             time=f"{r.seconds:.2f}")
        report = str(Path(r.run_dir) / store.REPORT_FILE) if r.run_dir else "no report"
        text = f"{r.reason}\nanomalies: {', '.join(r.anomalies) or 'none'}\nreport: {report}"
        if r.status == "interrupted":
            ET.SubElement(case, "skipped", message="interrupted before it ended")
        elif r.status == "error":
            ET.SubElement(case, "error", message=f"faultline failed: {r.reason[:200]}").text = text
        elif not r.as_expected:
            ET.SubElement(case, "failure", message=f"expected {r.test.expect}, got {verdict_word(r)}: {r.reason[:200]}").text = text
        ET.SubElement(case, "system-out").text = f"report: {report}"
    root = ET.Element("testsuites", name=f"faultline.{name}")
    root.append(suite)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
