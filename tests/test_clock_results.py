"""Clock offsets in the results: the clock nemesis's `results` hook (`KeepsResults`) turns the
settings it made into `results["clock"]`, the report draws it, and a real `faultline test
--nemesis clock` run ends with each node's offsets in results.json and on the page."""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history_reader import read_history
from harness.report import write_report
from harness.report.browser import chromium_available, open_browser, wait_for, watch_page
from harness.report.synthetic import make_run
from harness.judge import analyze
from harness.seams import KeepsResults
from nemeses.clock import ClockNemesis, NodeClock, offset_points

FAULTLINE = str(Path(sys.executable).parent / "faultline")
EVIL = "<img src=x onerror=alert(1)>"
ORIGIN = 1_000_000.0  # the history's time zero, in wall seconds


def timeline() -> dict[str, list[NodeClock]]:
    """n1: bumped +2 s at 1 s, set drifting at x1.5 from 3 s, reset at 5 s; n2 untouched. The
    first settings come from the nemesis's setup, before the clients started."""
    return {
        "n1": [NodeClock(0.0, 1.0, ORIGIN - 0.5), NodeClock(2.0, 1.0, ORIGIN + 1),
               NodeClock(2.0, 1.5, ORIGIN + 3), NodeClock(0.0, 1.0, ORIGIN + 5)],
        "n2": [NodeClock(0.0, 1.0, ORIGIN - 0.5), NodeClock(0.0, 1.0, ORIGIN + 5)],
    }


def test_the_timeline_becomes_offsets_over_time() -> None:
    clock = offset_points(timeline(), ORIGIN)
    # A step at 1 s, a straight climb of 0.5 s per second from 3 s to 5 s, a step back to zero.
    assert clock["n1"] == [[0.0, 0.0], [1.0, 0.0], [1.0, 2.0], [3.0, 2.0], [5.0, 3.0], [5.0, 0.0]]
    assert clock["n2"] == [[0.0, 0.0], [5.0, 0.0]]


def test_the_nemesis_hands_its_offsets_over_through_the_results_hook() -> None:
    nemesis = ClockNemesis()
    assert isinstance(nemesis, KeepsResults)
    assert nemesis.results(ORIGIN) == {}, "a nemesis that never set a clock adds nothing"
    nemesis.timeline = timeline()
    results = nemesis.results(ORIGIN)
    assert set(results) == {"clock"}
    assert results["clock"] == offset_points(timeline(), ORIGIN)
    json.dumps(results)  # goes into results.json as it is


def test_analyze_keeps_the_runs_clock_offsets(tmp_path: Path) -> None:
    run = make_run(tmp_path / "store", calls=40)
    results_path = run.run_dir / "results.json"
    results = json.loads(results_path.read_text())
    results["clock"] = {"n1": [[0.0, 0.0], [0.1, 1.5]]}
    results_path.write_text(json.dumps(results))
    again = analyze(run.run_dir / "history.jsonl", {"set": {}})
    assert again["clock"] == {"n1": [[0.0, 0.0], [0.1, 1.5]]}


def run_with_clock(tmp_path: Path) -> Path:
    run = make_run(tmp_path / "store", calls=60)
    results_path = run.run_dir / "results.json"
    results = json.loads(results_path.read_text())
    results["clock"] = {
        "n1": [[0.0, 0.0], [0.05, 0.0], [0.05, 205.323], [0.1, 205.323], [0.1, 0.0]],
        "n2": [[0.0, 0.0], [0.02, -2.6], [0.08, -2.6]],
        EVIL: [[0.0, 0.0], ["bad", 1], [0.03, float("nan")], [0.04, 7.25]],
    }
    results_path.write_text(json.dumps(results))
    write_report(run.run_dir)
    return run.run_dir / "report.html"


def test_the_report_shows_each_nodes_offsets_escaped(tmp_path: Path) -> None:
    page = run_with_clock(tmp_path).read_text(encoding="utf-8")
    section = page[page.index('<section id="clock">'):]
    section = section[: section.index("</section>")]
    for node, high, low in (("n1", "+205.323 s", "0 s"), ("n2", "0 s", "-2.600 s")):
        row = section[section.index(f'<tr data-node="{node}">'):]
        row = row[: row.index("</tr>")]
        assert "<polyline" in row and high in row and low in row
    assert EVIL not in page and html.escape(EVIL, quote=True) in section
    assert "+7.250 s" in section  # the malformed point was dropped, the good ones kept


def test_a_report_without_clock_offsets_has_no_clock_section(tmp_path: Path) -> None:
    run = make_run(tmp_path / "store", calls=20)
    assert '<section id="clock">' not in write_report(run.run_dir).read_text(encoding="utf-8")


@pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))
def test_the_clock_plots_render_in_a_browser(tmp_path: Path) -> None:
    report = run_with_clock(tmp_path)
    with open_browser(tmp_path / "chromium-profile") as browser:
        page = browser.new_page()
        page.set_default_timeout(120_000)
        watch = watch_page(page)
        page.goto(report.as_uri())
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        plots = page.locator("#clock svg.clock-plot")
        assert plots.count() == 3
        box = plots.first.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 20
        # n1's line climbs to the top of its plot for the +205 s bump: its highest point is
        # near the plot's top edge, its zero line near the bottom.
        top, zero = page.evaluate("""() => {
            const svg = document.querySelector('#clock tr[data-node="n1"] svg');
            const ys = svg.querySelector('polyline').getAttribute('points').trim().split(' ').map(p => +p.split(',')[1]);
            return [Math.min(...ys), +svg.querySelector('line').getAttribute('y1')];
        }""")
        assert top < 10 and zero > 38
        assert "+205.323 s" in page.locator('#clock tr[data-node="n1"]').inner_text()
        assert not page.locator("#clock img").count()
        assert not watch.problems, watch.problems
        page.close()


@pytest.mark.slow
@pytest.mark.root
def test_a_clock_run_records_each_nodes_offsets_in_results_and_report(tmp_path: Path) -> None:
    run = subprocess.run(
        [FAULTLINE, "test", "--system", "raftkv", "--workload", "register", "--nemesis", "clock",
         "--nemesis-interval", "1", "--time-limit", "6", "--rate", "20", "--seed", "3", "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert run.returncode in (0, 1, 2), run.stdout + run.stderr
    run_dir = (tmp_path / "latest").resolve()
    results = json.loads((run_dir / "results.json").read_text())
    clock = results["clock"]
    assert set(clock) == {"n1", "n2", "n3"}
    for points in clock.values():
        times = [t for t, _ in points]
        assert times == sorted(times) and times[0] == 0.0
        assert points[-1][1] == 0.0, "the final heal resets every clock"
    # Every offset a fault op reports is one its node's line passes through.
    faults = [op for op in read_history(run_dir / "history.jsonl")
              if op.type == "info" and op.f in ("bump", "drift", "strobe")]
    assert faults, "the schedule should have moved some clocks in 6 s"
    for op in faults:
        if op.f == "bump":
            for node, offset in op.value["offsets"].items():
                assert any(abs(value - offset) < 1e-3 for _, value in clock[node]), (node, offset, clock[node])
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert '<section id="clock">' in page and page.count('class="clock-plot"') == 3
