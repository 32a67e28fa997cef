"""Entry points that write report.html: for a run directory, or for a bare history file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from harness.history import HistoryError

from harness.history_reader import read_history
from harness.report.data import build_report_data
from harness.report.page import Link, render_page

REPORT_NAME = "report.html"
_RUN_FILES = (
    ("history", "history.jsonl"),
    ("results", "results.json"),
    ("test spec", "test.json"),
    ("harness log", "harness.log"),
)


class ReportError(ValueError):
    """A run that cannot be reported on; the message names the file and what to do."""


def write_report(run_dir: Path) -> Path:
    """Write `run_dir/report.html` from the run's test.json, history.jsonl and results.json.

    A missing results.json is allowed (the run may have crashed before checking): the report
    then shows the verdict as unknown. Returns the report's path.
    """
    run_dir = Path(run_dir)
    history_path = run_dir / "history.jsonl"
    if not history_path.is_file():
        raise ReportError(f"{history_path}: no history here; is {run_dir} a run directory (store/<test>/<time>/)?")
    test = _read_json(run_dir / "test.json")
    results = _read_json(run_dir / "results.json")
    return _write(history_path, test, results, run_dir)


def write_report_for(
    history_path: Path, results: dict[str, Any], out_dir: Path, test: dict[str, Any] | None = None
) -> Path:
    """Write `out_dir/report.html` for a history file that may not live in a run directory
    (`faultline analyze` on a stored or imported JSONL/EDN history). The spec is taken from
    `test`, else from a test.json beside the history, else left blank. Returns the report's path.
    """
    history_path = Path(history_path)
    if test is None:
        test = _read_json(history_path.parent / "test.json")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return _write(history_path, test, results, out_dir)


def _write(history_path: Path, test: dict[str, Any], results: dict[str, Any], out_dir: Path) -> Path:
    try:
        ops = read_history(history_path, allow_empty=True)  # a run stopped before its first op still gets a page
    except HistoryError as e:
        raise ReportError(str(e)) from None
    if not test.get("name"):
        test = {**test, "name": history_path.name}
    data = build_report_data(ops, test, results)
    page = render_page(test, results, data, _links(history_path, out_dir))
    target = out_dir / REPORT_NAME
    # Write then rename, so a browser open on the old report never sees half a page.
    partial = target.with_name(REPORT_NAME + ".partial")
    try:
        partial.write_text(page, encoding="utf-8")
        partial.replace(target)
    except OSError:
        partial.unlink(missing_ok=True)  # a full disk must not leave half a page behind
        raise
    return target


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{path}: cannot read it as JSON ({e}); fix or remove the file and rebuild the report") from None
    return value if isinstance(value, dict) else {}


def _links(history_path: Path, report_dir: Path) -> list[Link]:
    """The history, the run's own files beside it, and every node log, relative to the report."""
    source_dir = history_path.parent
    links = [Link("history", _relative(history_path, report_dir), "run")]
    linked = {history_path.resolve(), (report_dir / REPORT_NAME).resolve()}
    for label, name in _RUN_FILES[1:]:
        for folder in dict.fromkeys((report_dir, source_dir)):
            if (folder / name).is_file():
                links.append(Link(label, _relative(folder / name, report_dir), "run"))
                linked.add((folder / name).resolve())
                break
    # Whatever else the run left beside its history (a system's own summary, say).
    if (source_dir / "test.json").is_file():
        for path in sorted(source_dir.iterdir()):
            if path.is_file() and path.resolve() not in linked and not path.name.endswith(".partial"):
                links.append(Link(path.name, _relative(path, report_dir), "run"))
    nodes_dir = source_dir / "nodes"
    if nodes_dir.is_dir():
        # A node's own files and every log under it; its data files (raft logs, snapshots) stay out.
        wanted = (p for p in nodes_dir.rglob("*") if p.is_file() and (p.suffix == ".log" or len(p.relative_to(nodes_dir).parts) == 2))
        for path in sorted(wanted):
            node = path.relative_to(nodes_dir).parts[0]
            links.append(Link(str(path.relative_to(nodes_dir / node)), _relative(path, report_dir), f"node {node}"))
    return links


def _relative(path: Path, report_dir: Path) -> str:
    return Path(os.path.relpath(path.resolve(), report_dir.resolve())).as_posix()
