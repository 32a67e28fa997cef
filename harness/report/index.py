"""The store's index page: one row per run, sortable and filterable, linking to each report."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.report.page import esc, inline_policy

_VERDICT_WORDS = {True: "valid", False: "invalid"}


@dataclass
class RunSummary:
    """What the index shows of one run directory."""

    path: str  # relative to the store, with forward slashes
    started: str
    test: str
    system: str
    mode: str
    workload: str
    nemesis: str
    verdict: str
    reason: str
    has_report: bool


def find_runs(store: Path) -> list[RunSummary]:
    """Every store/<test>/<time>/ holding a test.json or a history, newest first."""
    runs = []
    for run_dir in sorted(store.glob("*/*")):
        if run_dir.parent.is_symlink() or run_dir.is_symlink() or not run_dir.is_dir():
            continue
        if not ((run_dir / "test.json").is_file() or (run_dir / "history.jsonl").is_file()):
            continue
        runs.append(_summarise(store, run_dir))
    runs.sort(key=lambda r: r.started, reverse=True)
    return runs


def find_campaigns(store: Path) -> list[str]:
    """Campaign pages in the store (a campaign's own store, or campaigns kept under it), as
    paths relative to the store."""
    pages = [store / "campaign.html"] + sorted(store.glob("*/campaign.html"))
    return [p.relative_to(store).as_posix() for p in pages if p.is_file() and not p.is_symlink() and not p.parent.is_symlink()]


def _summarise(store: Path, run_dir: Path) -> RunSummary:
    test = _load(store, run_dir / "test.json")
    results = _load(store, run_dir / "results.json")
    valid = results.get("valid") if results else None
    verdict = _VERDICT_WORDS.get(valid, "unknown") if isinstance(valid, bool) else ("unknown" if results else "no results")
    nemesis = test.get("nemesis")
    if isinstance(nemesis, list):
        nemesis = ", ".join(str(n) for n in nemesis) or "none"
    return RunSummary(
        path=run_dir.relative_to(store).as_posix(),
        started=str(test.get("started_at") or run_dir.name),
        test=str(test.get("name") or run_dir.parent.name),
        system=str(test.get("system") or ""),
        mode=str(test.get("mode") or ""),
        workload=str(test.get("workload") or ""),
        nemesis=str(nemesis or ""),
        verdict=verdict,
        reason=str(results.get("reason") or "") if results else "",
        # The server builds a missing report on first view, so a history is enough.
        has_report=(run_dir / "report.html").is_file() or (run_dir / "history.jsonl").is_file(),
    )


def _load(store: Path, path: Path) -> dict[str, Any]:
    """A run whose files are missing or damaged still gets a row; its cells are just blank.
    A file that is a link out of the store is not read: the index shows only the store."""
    root = os.path.realpath(store)
    if os.path.commonpath([root, os.path.realpath(path)]) != root:
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def index_policy() -> str:
    """The index page's content security policy: nothing loads, only its own script and style run."""
    return inline_policy(_INDEX_JS, _INDEX_CSS)


def render_index(store: Path) -> str:
    runs = find_runs(store)
    rows = []
    for run in runs:
        target = f"{run.path}/report.html" if run.has_report else f"{run.path}/"
        link = f'<a href="/{esc(quote(target))}">{"report" if run.has_report else "files"}</a>'
        cells = [run.started, run.test, run.system, run.mode, run.workload, run.nemesis]
        tds = "".join(f"<td>{esc(c)}</td>" for c in cells)
        rows.append(
            f'<tr data-verdict="{esc(run.verdict)}">{tds}'
            f'<td title="{esc(run.reason)}"><span class="verdict verdict-{esc(run.verdict.replace(" ", "-"))}">{esc(run.verdict)}</span></td>'
            f"<td>{link}</td></tr>"
        )
    campaigns = "".join(f'<li><a href="/{esc(quote(page))}">{esc(page)}</a></li>' for page in find_campaigns(store))
    body = "".join(rows) or '<tr><td colspan="8">No runs in this store yet: run `faultline test` first.</td></tr>'
    headers = ["time", "test", "system", "mode", "workload", "nemesis", "verdict", ""]
    ths = "".join(f'<th data-column="{n}">{esc(h)}</th>' for n, h in enumerate(headers))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{index_policy()}">
<title>faultline runs</title>
<style>{_INDEX_CSS}</style></head><body>
<h1>faultline runs <small>{esc(str(store))}</small></h1>
<div class="filters">
<input id="filter" type="search" placeholder="filter: any text, e.g. seedkv partition" aria-label="filter runs">
<select id="verdict" aria-label="verdict"><option value="">any verdict</option><option>valid</option><option>invalid</option><option>unknown</option><option>no results</option></select>
<span id="shown">{len(runs)} runs</span>
</div>
{'<h2>campaigns</h2><ul id="campaigns">' + campaigns + '</ul>' if campaigns else ''}
<table id="runs"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table>
<script>{_INDEX_JS}</script>
</body></html>"""


_INDEX_CSS = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 16px 24px; color: #222; }
h1 small { font-size: 13px; color: #777; font-weight: normal; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #eee; }
th { cursor: pointer; user-select: none; background: #f4f4f4; }
th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
.filters { margin: 8px 0; display: flex; gap: 10px; align-items: center; }
#filter { width: 320px; padding: 4px; }
.verdict { padding: 1px 8px; border-radius: 9px; color: #fff; background: #757575; font-size: 12px; }
.verdict-valid { background: #2e7d32; } .verdict-invalid { background: #c62828; }
"""

# Sorting and filtering run on the rendered rows: cells are text, so nothing is parsed as HTML.
_INDEX_JS = """
(function () {
  "use strict";
  const tbody = document.querySelector("#runs tbody");
  const rows = Array.from(tbody.querySelectorAll("tr[data-verdict]"));
  const filter = document.getElementById("filter"), verdict = document.getElementById("verdict");
  const shown = document.getElementById("shown");
  function apply() {
    const words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    let n = 0;
    for (const row of rows) {
      const text = row.textContent.toLowerCase();
      const ok = words.every((w) => text.includes(w)) && (!verdict.value || row.dataset.verdict === verdict.value);
      row.hidden = !ok;
      if (ok) n++;
    }
    shown.textContent = n + " of " + rows.length + " runs";
  }
  filter.addEventListener("input", apply);
  verdict.addEventListener("change", apply);
  let sortColumn = 0, ascending = false;
  document.querySelectorAll("#runs th").forEach((th) => th.addEventListener("click", () => {
    const column = Number(th.dataset.column);
    ascending = column === sortColumn ? !ascending : true;
    sortColumn = column;
    document.querySelectorAll("#runs th").forEach((h) => h.classList.remove("asc", "desc"));
    th.classList.add(ascending ? "asc" : "desc");
    rows.sort((a, b) => {
      const x = a.cells[column].textContent, y = b.cells[column].textContent;
      return (ascending ? 1 : -1) * x.localeCompare(y, undefined, { numeric: true });
    });
    for (const row of rows) tbody.appendChild(row);
  }));
  apply();
})();
"""
