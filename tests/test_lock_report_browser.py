"""The report draws overlapping holders and leaders as an intervals chart (real headless
Chromium): a no-fencing history's two holders with the stale write marked, and two leaders."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.journal import write_history
from harness.report.browser import chromium_available, open_browser, wait_for
from test_leader_checker import history as leader_history
from test_lock_checkers import grant, history as lock_history, write

pytestmark = pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))


def analyze(tmp_path: Path, ops, checker: str) -> Path:
    path = tmp_path / f"{checker}.jsonl"
    write_history(path, ops)
    out = tmp_path / f"{checker}-analysis"
    subprocess.run([str(Path(sys.executable).parent / "faultline"), "analyze", str(path), "--checker", checker,
                    "--out", str(out)], check=False)
    assert (out / "report.html").exists()
    return out / "report.html"


def chart_facts(tmp_path: Path, report: Path) -> dict:
    with open_browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(report.as_uri())
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        chart = page.locator(".evidence-item[data-kind=intervals] svg.intervals-chart")
        facts = {"charts": chart.count(), "certain": chart.locator("rect.certain").count(),
                 "overlap": chart.locator("rect.overlap").count(), "marks": chart.locator("rect.mark").count(),
                 "labels": chart.locator("text").all_text_contents()}
        # A marked op links into the timeline: its details show there.
        chart.locator("rect.mark").first.click()
        wait_for(page, "document.querySelector('#details pre.op-value') !== null")
        facts["details"] = page.locator("#details").text_content()
        page.screenshot(path=str(tmp_path / "chart.png"), full_page=True)
        return facts


def test_a_stale_write_is_drawn_over_the_two_holders(tmp_path: Path) -> None:
    ops = lock_history((0, "acquire", 0.0, 0.1, "ok", grant(1)), (1, "acquire", 2.5, 2.6, "ok", grant(2)),
                       (1, "write", 2.7, 2.8, "ok", write(2)), (0, "write", 3.0, 3.1, "ok", write(1)))
    facts = chart_facts(tmp_path, analyze(tmp_path, ops, "fencing"))
    assert facts["charts"] == 1 and facts["certain"] == 2 and facts["overlap"] == 1 and facts["marks"] == 2
    assert {"token 1 holder", "token 2 holder"} <= set(facts["labels"])
    assert "history index 6" in facts["details"], "the stale write, the first mark"


def test_two_leaders_are_drawn_with_their_overlap(tmp_path: Path) -> None:
    ops = leader_history((0, "n1", 0.0, 0.1, "ok", True, 1), (1, "n2", 0.5, 0.6, "ok", True, 2),
                         (0, "n1", 1.0, 1.1, "ok", True, 1), (1, "n2", 2.0, 2.1, "ok", True, 2))
    facts = chart_facts(tmp_path, analyze(tmp_path, ops, "leader"))
    assert facts["charts"] == 1 and facts["certain"] == 2 and facts["overlap"] == 1 and facts["marks"] == 1
    assert {"n1 epoch 1", "n2 epoch 2"} <= set(facts["labels"])
