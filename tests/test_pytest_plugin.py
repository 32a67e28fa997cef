"""The pytest plug-in from a user's side: a suite of its own (run by a child pytest, which finds
the plug-in through its pytest11 entry point) with seedkv's two modes, selected with -k and run
by two pytest-xdist workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import exposure
from harness.history_reader import read_history

USER_SUITE = '''
import pytest

@pytest.mark.faultline(system="seedkv", mode="fixed", workload="set", nemesis="kill", time_limit=10, seed=1)
def test_fixed_mode_keeps_every_add(faultline):
    assert faultline.result.valid is True and faultline.result.run_dir

def test_seed_mode_keeps_every_add(faultline):
    # Seed 1 kills a node after acknowledged adds, then reads it (tests/test_seedkv.py): the loss is
    # shown, so this expectation fails.
    faultline.run(system="seedkv", mode="seed", workload="set", nemesis="kill", time_limit=30, seed=1)

def test_left_out_by_k(faultline):
    raise AssertionError("-k should have left this out")
'''


@pytest.mark.slow
@pytest.mark.root
def test_a_user_suite_runs_faultline_tests_with_k_and_xdist(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(USER_SUITE)
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "-k", "mode",
            "--basetemp", str(tmp_path / "base"), "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path / "test_user.py")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    out = done.stdout + done.stderr
    seed_run = next((tmp_path / "base").glob("*/test_seed_mode_keeps_every_a*/faultline/*/*/history.jsonl")).parent
    window = exposure.lost_after_kill(read_history(seed_run / "history.jsonl"))
    assert window, f"seed 1 never killed a node holding acknowledged adds and read it after: {seed_run}"
    assert "1 failed, 1 passed" in out and "test_left_out_by_k" not in out, out[-4000:]  # xdist counts no deselected
    assert "FAILED" in out and "test_seed_mode_keeps_every_add" in out
    # The failure carries the checker's summary and the report path.
    assert "expected valid, got invalid" in out and "set:" in out and "lost" in out, out[-4000:]
    assert str(seed_run / "report.html") in out.replace("\n", ""), out[-4000:]
    assert seed_run.parents[3].name.startswith("popen-gw")  # run inside a pytest-xdist worker
