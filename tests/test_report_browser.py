"""Reports and the store index opened in real headless Chromium, as a person would open them."""

from __future__ import annotations

import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness.report import write_report
from harness.report.browser import chromium_available, open_browser, wait_for, watch_page
from harness.report.synthetic import make_run

EVIL = "<img src=x onerror=alert(1)>"

pytestmark = pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """One browser for the module (starting Chromium is the slow part); each test opens its own
    pages, which it closes with the browser at the end."""
    with open_browser(tmp_path_factory.mktemp("chromium-profile")) as context:
        yield context


# Generous: the suite shares two cores with whatever else the machine runs.
PAGE_TIMEOUT_MS = 120_000


def new_page(browser):
    page = browser.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    return page


def open_report(browser, report: Path):
    page = new_page(browser)
    watch = watch_page(page)
    page.goto(report.as_uri())
    wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
    return page, watch


def canvas_pixel(page, x: float, y: float) -> list[int]:
    """The timeline canvas's colour at page point (x, y)."""
    return page.evaluate(
        """([x, y]) => {
            const c = document.getElementById("timeline"), r = c.getBoundingClientRect();
            const k = c.width / c.clientWidth;
            return Array.from(c.getContext("2d").getImageData(Math.round((x - r.left) * k), Math.round((y - r.top) * k), 1, 1).data);
        }""",
        [x, y],
    )


def css_color(page, variable: str) -> list[int]:
    hex_color = page.evaluate(f"getComputedStyle(document.documentElement).getPropertyValue('{variable}').trim()")
    return [int(hex_color[i : i + 2], 16) for i in (1, 3, 5)]


def test_timeline_shows_ops_and_click_shows_details_with_hostile_value_inert(browser, tmp_path):
    run = make_run(tmp_path / "store", calls=400)
    report = write_report(run.run_dir)
    page, watch = open_report(browser, report)

    assert page.evaluate("window.faultlineReport.drawn") > 100, "the whole run is drawn at first"
    call = page.evaluate(f"window.faultlineReport.findCall({run.evil_index})")
    assert call >= 0
    # Zoom on the hostile op so its bar is wide, then click it as a person would.
    page.evaluate(f"window.faultlineReport.zoomTo(0, {50_000})")
    wait_for(page, "window.faultlineReport.frames >= 2")
    point = page.evaluate(f"window.faultlineReport.locate({call})")
    assert point is not None
    assert canvas_pixel(page, point["x"], point["y"]) == css_color(page, "--ok") + [255], "an ok op is drawn in the ok colour"
    page.mouse.click(point["x"], point["y"])

    details = page.locator("#details")
    assert details.locator("pre.op-value").first.text_content() == '"' + EVIL + '"'
    assert "ok" in details.text_content() and "invoked at" in details.text_content()
    assert page.locator("img").count() == 0, "no element was made from a history value"
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)

    assert watch.problems == [], watch.problems
    assert watch.dialogs == []


def test_zoom_and_pan_change_the_view(browser, tmp_path):
    run = make_run(tmp_path / "store", calls=400)
    page, watch = open_report(browser, write_report(run.run_dir))
    canvas = page.locator("#timeline").bounding_box()
    before = page.locator("#view-range").text_content()
    page.mouse.move(canvas["x"] + canvas["width"] / 2, canvas["y"] + 100)
    page.mouse.wheel(0, -600)
    wait_for(page, f"document.getElementById('view-range').textContent !== {before!r}")
    zoomed = page.locator("#view-range").text_content()
    page.mouse.down()
    page.mouse.move(canvas["x"] + canvas["width"] / 2 - 200, canvas["y"] + 100, steps=5)
    page.mouse.up()
    wait_for(page, f"document.getElementById('view-range').textContent !== {zoomed!r}")
    page.click("#zoom-reset")
    wait_for(page, f"document.getElementById('view-range').textContent === {before!r}")
    assert watch.problems == []


def test_evidence_is_drawn_by_kind_and_links_into_the_timeline(browser, tmp_path):
    run = make_run(tmp_path / "store", calls=400)
    page, watch = open_report(browser, write_report(run.run_dir))
    section = page.locator("#evidence-section")
    assert section.is_visible()
    bars = section.locator(".win .bar")
    assert bars.count() == 4
    assert section.locator(".win .bar.failed").count() == 1
    assert "cas-register" in section.text_content()
    assert section.locator("pre").first.text_content() == '{"value":2,"note":"<i>state</i>"}'
    assert section.locator("table.prefix tr.jump").count() == 3
    assert section.locator("i, b").count() == 0, "tags inside evidence values stay text"
    lost = section.locator(".evidence-item[data-kind=elements]")  # the set checker's, drawn by kind
    assert "set: lost" in lost.locator("h3").text_content() and lost.locator(".elements").text_content() == "3, 9"

    section.locator(".win .bar.failed").click()
    wait_for(page, "document.querySelector('#details pre.op-value') !== null")
    assert "read 99" not in page.locator("#details").text_content()  # details come from the history
    assert page.locator("#details").text_content().count("add") >= 1
    page.screenshot(path=str(tmp_path / "evidence.png"), full_page=True)
    assert watch.problems == []


def test_node_logs_open_as_text(browser, tmp_path):
    run = make_run(tmp_path / "store", calls=40)
    page, watch = open_report(browser, write_report(run.run_dir))
    page.locator("#files a", has_text="server.log").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("nodes/n1/server.log")
    assert "<script>alert('log')</script>" in page.locator("body").text_content()
    assert watch.dialogs == []


def fetch_text(url: str) -> str:
    """The body at url, whatever the status (a 404 page is still an answer)."""
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()


def test_serve_lists_runs_on_loopback_and_links_to_reports(browser, tmp_path):
    store = tmp_path / "store"
    write_report(make_run(store, calls=40, name="alpha-set", stamp="20261121T100000").run_dir)
    beta = make_run(store, calls=40, name="beta-set", stamp="20261121T110000")  # no report yet
    server = subprocess.Popen(
        [sys.executable, "-c", "from harness.report.commands import serve_command; serve_command()",
         "--store", str(store), "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = server.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert match, f"serve said {line!r}; stderr: {server.stderr.read() if server.poll() is not None else ''}"
        base = f"http://127.0.0.1:{match.group(1)}/"
        with urllib.request.urlopen(base, timeout=60) as response:
            assert response.status == 200
            assert "alpha-set" in response.read().decode()
        assert "root:" not in fetch_text(base + "../../../etc/passwd")

        page = new_page(browser)
        watch = watch_page(page)
        page.goto(base)
        rows = page.locator("#runs tbody tr:not([hidden])")
        assert rows.count() == 2
        page.fill("#filter", "beta")
        wait_for(page, "document.querySelectorAll('#runs tbody tr:not([hidden])').length === 1")
        page.fill("#filter", "")
        page.click("#runs th[data-column='1']")  # sort by test name, ascending
        wait_for(page, "document.querySelector('#runs tbody tr td:nth-child(2)').textContent === 'alpha-set'")
        page.click("#runs th[data-column='1']")
        wait_for(page, "document.querySelector('#runs tbody tr td:nth-child(2)').textContent === 'beta-set'")
        page.screenshot(path=str(tmp_path / "index.png"), full_page=True)
        # The server builds a missing report when it is first asked for.
        page.locator("#runs tbody tr", has_text="beta-set").locator("a").click()
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        assert "beta-set" in page.title()
        assert (beta.run_dir / "report.html").is_file()
        assert watch.problems == [], watch.problems
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
        server.stderr.close()


def test_an_empty_history_still_opens_cleanly(browser, tmp_path):
    run_dir = tmp_path / "store" / "empty" / "20261121T190000"
    run_dir.mkdir(parents=True)
    (run_dir / "history.jsonl").write_text("")
    (run_dir / "test.json").write_text('{"name": "empty", "concurrency": 3}')
    page, watch = open_report(browser, write_report(run_dir))
    wait_for(page, "window.faultlineReport.charts >= 1")
    assert page.evaluate("window.faultlineReport.drawn") == 0
    assert "verdict-unknown" in page.content()
    assert watch.problems == [], watch.problems
