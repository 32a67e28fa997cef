"""How big and how fast a report of a large history is (issue 6 targets: < 20 MB, timeline
interactive in < 2 s).

Builds a synthetic run of --calls client calls (each an invoke and a completion, so the history
holds about twice as many ops), writes its report, opens it in headless Chromium and prints:
file size, time to write it, time to first paint and to an interactive timeline, and the cost
of redrawing the timeline zoomed out and zoomed in. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/report_size.py [--calls 100000] [--concurrency 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.report import write_report  # noqa: E402
from harness.report.browser import chromium_available, open_browser, wait_for, watch_page  # noqa: E402
from harness.report.synthetic import make_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--screenshot", type=Path, help="save a screenshot of the loaded report here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="faultline-report-bench-") as tmp:
        run = make_run(Path(tmp) / "store", calls=args.calls, concurrency=args.concurrency)
        history_mb = (run.run_dir / "history.jsonl").stat().st_size / 1e6
        started = time.perf_counter()
        report = write_report(run.run_dir)
        write_s = time.perf_counter() - started
        size_mb = report.stat().st_size / 1e6
        print(f"history: {run.calls} calls, {run.events} ops, {history_mb:.1f} MB")
        print(f"report.html: {size_mb:.2f} MB (target < 20 MB), written in {write_s:.2f} s")

        missing = chromium_available()
        if missing:
            print(f"browser figures skipped: {missing}")
            return 0
        with open_browser(Path(tmp) / "profile") as browser:
            for attempt in ("cold", "warm"):
                page = browser.new_page()
                watch = watch_page(page)
                page.goto(report.as_uri())
                wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
                # performance.now() counts from the start of navigation, so these are load times.
                ready_ms = page.evaluate("window.faultlineReport.readyAt")
                paint_ms = page.evaluate(
                    "(performance.getEntriesByName('first-contentful-paint')[0] || {startTime: NaN}).startTime"
                )
                print(f"{attempt} load: first contentful paint {paint_ms:.0f} ms, timeline interactive {ready_ms:.0f} ms (target < 2000 ms)")
                if attempt == "warm":
                    whole = [page.evaluate("window.faultlineReport.redraw()") for _ in range(5)]
                    drawn_whole = page.evaluate("window.faultlineReport.drawn")
                    page.evaluate("window.faultlineReport.zoomTo(5e6, 6e6)")
                    zoomed = [page.evaluate("window.faultlineReport.redraw()") for _ in range(5)]
                    drawn_zoomed = page.evaluate("window.faultlineReport.drawn")
                    print(f"redraw, whole run: median {sorted(whole)[2]:.1f} ms ({drawn_whole} bars drawn)")
                    print(f"redraw, 1 s window: median {sorted(zoomed)[2]:.1f} ms ({drawn_zoomed} bars drawn)")
                    if args.screenshot:
                        page.click("#zoom-reset")
                        charts = page.evaluate("window.faultlineReport.charts")
                        wait_for(page, f"window.faultlineReport.charts > {charts}")
                        page.screenshot(path=str(args.screenshot))
                        print(f"screenshot: {args.screenshot}")
                if watch.problems:
                    print(f"page problems: {watch.problems}")
                page.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
