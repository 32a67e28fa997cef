"""An outside checker's evidence shows in the report and the summary, drawn by kind.

The checker here is a function faultline has never heard of, under a name no shipped module
knows; its result declares one evidence item of each kind in `seams.EVIDENCE_KINDS`. The report
(its data, its page in a real headless Chromium) and the end-of-run summary must show all of it.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Mapping

import pytest
from rich.console import Console

from harness.history import Op

from harness.journal import write_history
from harness.report import write_report_for
from harness.report.browser import chromium_available, open_browser, wait_for, watch_page
from harness.report.data import build_report_data
from harness.seams import EVIDENCE_KINDS
from harness.summary import print_summary

NAME = "acme-anomalies"
EVIL = "<img src=x onerror=alert(1)>"


def history() -> list[Op]:
    """Three writers and a reader of one register, one op a millisecond apart."""
    ops = []
    for n, (process, f, value, result) in enumerate(
        [(0, "write", 1, 1), (1, "write", 2, 2), (2, "read", None, 1), (0, "write", 3, 3)]
    ):
        t = n * 10_000_000
        ops.append(Op(type="invoke", f=f, value=value, process=process, time=t))
        ops.append(Op(type="ok", f=f, value=result, process=process, time=t + 4_000_000))
    for i, op in enumerate(ops):
        op.index = i
    return ops


def outside_check(history: list[Op], options: Mapping[str, Any]) -> dict[str, Any]:
    """A checker from outside faultline: it names its findings only through evidence kinds."""
    lost = list(range(100, 130))
    op_dicts = [op.to_dict() for op in history]
    return {
        "valid": False,
        "reason": "the acme checker found everything at once",
        "anomalies": ["acme-everything"],
        "evidence": [
            {"kind": "elements", "label": "vanished", "elements": lost[:25], "count": len(lost)},
            {"kind": "ops", "label": "suspicious reads", "indices": [4], "notes": ["read 1 after 2 was written"]},
            {"kind": "window", "label": "acme window", "model": "acme-register", "key": "k",
             "failed": [op_dicts[5]], "window": op_dicts[:6],
             "prefix": {"ops": [op_dicts[1], op_dicts[3]], "states": [1, 2], "omitted": 0}, "state_before": 2},
            {"kind": "cycle", "label": "G-acme", "steps": [
                {"op": 0, "edge": "ww", "to": 2, "why": "2 overwrote 1"},
                {"op": 2, "edge": "rw", "to": 4, "why": "the read missed 2"},
                {"op": 4, "edge": "wr", "to": 0, "why": "the read saw 1"},
            ]},
            {"kind": "intervals", "label": "two holders", "bars": [
                {"label": "holder A", "start": 4_000_000, "end": 20_000_000, "from": 0, "ops": [1]},
                {"label": "holder B", "start": 14_000_000, "end": 34_000_000, "from": 10_000_000, "ops": [3, 7], "lane": "B"},
            ], "overlap": [14_000_000, 20_000_000], "marks": [{"op": 3, "note": "granted while A held"}, {"op": 5, "note": "a read"}]},
            {"kind": "table", "label": "writes " + EVIL, "columns": ["write", "value"],
             "rows": [[0, 1], [2, 2], [6, EVIL]], "op_columns": ["write"]},
        ],
    }


def results_of(ops: list[Op]) -> dict[str, Any]:
    return {"valid": False, "reason": f"{NAME}: invalid", "checkers": {NAME: outside_check(ops, {})}}


def test_the_outside_checker_uses_every_declared_kind():
    kinds = [item["kind"] for item in outside_check(history(), {})["evidence"]]
    assert sorted(kinds) == sorted(EVIDENCE_KINDS)


def test_the_report_data_draws_each_kind_resolved_to_calls():
    ops = history()
    evidence = build_report_data(ops, {}, results_of(ops)).evidence
    assert [(e["checker"], e["kind"]) for e in evidence] == [
        (NAME, "elements"), (NAME, "ops"), (NAME, "window"), (NAME, "cycle"), (NAME, "intervals"), (NAME, "table")]
    elements, reads, window, cycle, intervals, table = evidence
    assert elements["label"] == "vanished" and elements["count"] == 30 and elements["elements"][:2] == ["100", "101"]
    [read] = reads["ops"]
    assert (read["call"], read["f"], read["cv"], read["note"]) == (2, "read", 1, "read 1 after 2 was written")
    assert [(e["call"], e["failed"]) for e in window["window"]] == [(0, False), (1, False), (2, True)]
    assert window["model"] == "acme-register" and window["hasStateBefore"] and window["stateBefore"] == 2
    assert [row["call"] for row in window["prefix"]["rows"]] == [0, 1]
    assert window["reason"] == "the acme checker found everything at once"
    assert [(s["from"]["call"], s["edge"], s["to"]["call"]) for s in cycle["steps"]] == [
        (0, "ww", 1), (1, "rw", 2), (2, "wr", 0)]
    a, b = intervals["bars"]
    assert (a["start"], a["end"], a["from"], a["to"]) == (4000, 20000, 0, 20000), "µs from the start; from/to default to the span"
    assert [op["call"] for op in b["ops"]] == [1, 3] and b["lane"] == "B" and intervals["overlap"] == [14000, 20000]
    assert [(m["op"]["call"], m["note"]) for m in intervals["marks"]] == [(1, "granted while A held"), (2, "a read")]
    assert table["columns"] == ["write", "value"]
    assert [[cell.get("call") for cell in row] for row in table["rows"]] == [[0, None], [1, None], [3, None]]
    assert table["rows"][2][1]["text"] == EVIL, "carried as text, shown as text"


def test_an_unknown_kind_is_shown_as_its_json_rather_than_dropped():
    ops = history()
    results = {"checkers": {NAME: {"valid": False, "evidence": [{"kind": "graph", "label": "deps", "edges": [[0, 2]]}]}}}
    [item] = build_report_data(ops, {}, results).evidence
    assert (item["kind"], item["label"]) == ("other", "deps")
    assert '"graph"' in item["text"] and "[[0, 2]]" in item["text"]


def test_the_summary_prints_each_kind_of_the_outside_checkers_evidence():
    out = io.StringIO()
    print_summary(Console(file=out, width=200, color_system=None), results_of(history()), None)
    text = out.getvalue()
    assert f"INVALID {NAME}: the acme checker found everything at once" in text
    assert "vanished: 100, 101, 102" in text and "… (30 in all)" in text
    assert "suspicious reads: 1 op, at history index 4" in text
    assert "acme window: 3 ops; model acme-register; key k; could not place read 1 by process 2 (op 5)" in text
    assert "G-acme: cycle of 3 steps: op 0 -ww-> op 2 -rw-> op 4 -wr-> op 0" in text
    assert "two holders: 2 intervals: holder A, holder B; overlapping from 0.014 s to 0.020 s" in text
    assert f"writes {EVIL}: 3 rows; first: write 0, value 1" in text


def test_huge_evidence_is_cut_short_in_the_report_and_the_summary():
    ops = history()
    huge = {"valid": False, "evidence": [{"kind": "elements", "label": "lost", "elements": list(range(1_000_000))},
                                         {"kind": "ops", "label": "reads", "indices": [4] * 10_000}]}
    elements, reads = build_report_data(ops, {}, {"checkers": {NAME: huge}}).evidence
    assert len(elements["elements"]) == 200 and elements["count"] == 1_000_000
    assert len(reads["ops"]) == 200 and reads["count"] == 10_000
    out = io.StringIO()
    print_summary(Console(file=out, width=200, color_system=None), {"checkers": {NAME: huge}}, None)
    assert "lost: 0, 1, 2" in out.getvalue() and "… (1000000 in all)" in out.getvalue()
    assert len(out.getvalue()) < 2_000


def test_the_summary_of_a_shipped_checker_comes_from_its_evidence_too():
    from checkers import set as set_checker

    ops = []
    for element in range(25):
        ops += [Op(type="invoke", f="add", value=element, process=0), Op(type="ok", f="add", value=element, process=0)]
    ops += [Op(type="invoke", f="read", process=1, node="n1"), Op(type="ok", f="read", value=[24], process=1, node="n1")]
    for i, op in enumerate(ops):
        op.index = i
    result = set_checker.check(ops, {})
    out = io.StringIO()
    print_summary(Console(file=out, width=200, color_system=None), {"valid": False, "checkers": {"set": result}}, None)
    assert "    lost: 0, 1, 2, 3" in out.getvalue() and ", 19, … (24 in all)" in out.getvalue()
    assert "adds of lost elements: 24 ops, at history index 0, 2, 4" in out.getvalue()


def write_outside_report(tmp_path: Path) -> Path:
    ops = history()
    path = tmp_path / "run" / "history.jsonl"
    path.parent.mkdir()
    write_history(path, ops)
    return write_report_for(path, results_of(ops), tmp_path / "run")


def test_the_page_embeds_the_evidence_and_escapes_its_labels(tmp_path):
    page = write_outside_report(tmp_path).read_text(encoding="utf-8")
    assert "<img" not in page
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    data = json.loads(match.group(1))
    assert {e["kind"] for e in data["evidence"]} == set(EVIDENCE_KINDS)
    assert '<section id="evidence-section" hidden><h2>Evidence</h2>' in page


@pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))
def test_the_outside_checkers_evidence_is_drawn_in_a_real_browser_and_links_into_the_timeline(tmp_path):
    report = write_outside_report(tmp_path)
    with open_browser(tmp_path / "chromium-profile") as browser:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        watch = watch_page(page)
        page.goto(report.as_uri())
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        section = page.locator("#evidence-section")
        assert section.is_visible()
        items = section.locator(".evidence-item")
        assert [items.nth(i).get_attribute("data-kind") for i in range(items.count())] == [
            "elements", "ops", "window", "cycle", "intervals", "table"]
        assert all(items.nth(i).get_attribute("data-checker") == NAME for i in range(items.count()))

        def item(kind: str):
            return section.locator(f".evidence-item[data-kind={kind}]")

        assert f"{NAME}: vanished" in item("elements").locator("h3").text_content()
        assert item("elements").locator(".elements").text_content().startswith("100, 101, 102")
        assert "30 elements in all" in item("elements").text_content()
        assert item("window").locator(".win .bar").count() == 3
        assert item("window").locator(".win .bar.failed").count() == 1
        assert item("window").locator("table.prefix tr.jump").count() == 2
        assert item("cycle").locator("li").count() == 3
        assert "—rw→" in item("cycle").text_content()
        chart = item("intervals").locator("svg.intervals-chart")
        assert chart.locator("rect.certain").count() == 2 and chart.locator("rect.overlap").count() == 1
        assert chart.locator("rect.mark").count() == 2, "one on holder B's row, one (not a bar's op) on a row of its own"
        assert item("table").locator("td", has_text=EVIL).count() == 1
        assert page.locator("img").count() == 0, "a hostile cell stays text"

        # Each kind's ops jump to the call in the timeline: the details show that call.
        item("ops").locator("tr.jump").click()
        wait_for(page, "document.querySelector('#details pre.op-value') !== null")
        assert "history index 4" in page.locator("#details").text_content()
        item("table").locator("td.jump", has_text="6").click()
        wait_for(page, "document.querySelector('#details').textContent.includes('history index 6')")
        item("cycle").locator("span.jump").first.click()
        wait_for(page, "document.querySelector('#details').textContent.includes('history index 0')")
        chart.locator("rect.mark").first.click()
        wait_for(page, "document.querySelector('#details').textContent.includes('history index 2')")
        page.screenshot(path=str(tmp_path / "outside-evidence.png"), full_page=True)
        assert watch.problems == [], watch.problems
        assert watch.dialogs == []
