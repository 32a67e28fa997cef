"""The report draws a list-append cycle as an inline SVG graph (real headless Chromium)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.report.browser import chromium_available, open_browser, wait_for

pytestmark = pytest.mark.skipif(chromium_available() is not None, reason=str(chromium_available()))
ELLE = Path("/work/shared/corpora/elle")
ELLE = next((p for p in (Path(__file__).resolve().parents[3] / "shared/corpora/elle", ELLE) if p.exists()), ELLE)


def test_g2_item_cycle_is_drawn_with_one_node_per_txn(tmp_path: Path) -> None:
    out = tmp_path / "analysis"
    subprocess.run([str(Path(sys.executable).parent / "faultline"), "analyze", str(ELLE / "si-without-g-single.edn"),
                    "--checker", "list-append", "--model", "serializable", "--out", str(out)], check=False)
    report = out / "report.html"
    assert report.exists()
    with open_browser(tmp_path / "profile") as context:
        page = context.new_page()
        page.set_default_timeout(120_000)
        page.goto(report.as_uri())
        wait_for(page, "window.faultlineReport && window.faultlineReport.ready")
        assert page.eval_on_selector_all("svg.cycle-graph", "e => e.length") == 1
        assert page.eval_on_selector_all("svg.cycle-graph circle", "e => e.length") == 3
        labels = page.eval_on_selector_all("svg.cycle-graph text", "e => e.map(t => t.textContent)")
        assert sorted(l for l in labels if l in ("rw", "ww")) == ["rw", "rw", "ww"]
        assert {"T10", "T20", "T30"} <= set(labels)
