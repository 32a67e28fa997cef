"""A run whose store fills up: a real `faultline test` on a 256 KiB tmpfs.

The disk fills within a second or two of an unthrottled run. The run must then stop, heal and
tear its cluster down, end with one clear error naming the store (exit 3), leave no half-written
file, and keep every op it recorded analysable: `faultline analyze` of the run afterwards judges
every complete line of its journal (and a journal a crash tore, too).

Prints the reliability figure: ops the run held, ops the journal kept whole, ops analysable
after the fact, and ops lost (want 0).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

import pytest
from tmpfs import mounted_tmpfs

pytestmark = [pytest.mark.reliability, pytest.mark.slow, pytest.mark.root]

REPO = Path(__file__).resolve().parents[1]
FAULTLINE = REPO / ".venv" / "bin" / "faultline"


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs, always unmounted."""
    with mounted_tmpfs(tmp_path / "small-store", "256k") as mount:
        yield mount


def faultline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # A wide terminal, so the verdict line is one line however long the store's path is.
    env = {**os.environ, "COLUMNS": "1000"}
    return subprocess.run([str(FAULTLINE), *args], capture_output=True, text=True, timeout=600, cwd=cwd, env=env)


def whole_lines(history: Path) -> int:
    """Ops whose line in the journal is complete (ends in a newline and decodes): what a full
    disk must not take from the analysis."""
    count = 0
    for line in history.read_bytes().split(b"\n")[:-1]:
        try:
            if isinstance(json.loads(line), dict):
                count += 1
        except ValueError:
            pass
    return count


def analysed_ops(stats: dict[str, int]) -> int:
    return sum(stats[k] for k in ("ops", "ok", "fail", "info", "nemesis_events"))


def namespaces_with(prefix: str) -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in listing.splitlines() if line.split() and line.split()[0].startswith(prefix + "-")]


def test_a_run_that_fills_its_store_stops_heals_and_keeps_every_op_analysable(small_store: Path, tmp_path: Path) -> None:
    run = faultline("test", "--system", "seedkv", "--workload", "set", "--nemesis", "kill", "--rate", "0",
                    "--nemesis-interval", "0.5", "--time-limit", "60", "--seed", "11", "--store", str(small_store),
                    cwd=tmp_path)
    output = run.stdout + run.stderr
    assert run.returncode == 3, output
    assert "Traceback" not in output and "Logging error" not in output, output
    # One error, naming the journal in the store; the verdict of what was seen is still printed.
    errors = [line for line in output.splitlines() if "no space left on device" in line]
    assert len(errors) == 1, output
    (error,) = errors
    assert re.search(rf"writing {re.escape(str(small_store))}/\S+/history\.jsonl", error), error
    assert re.match(r"(unknown|INVALID) +harness error: ", error), error
    assert not [line for line in run.stderr.splitlines() if line.strip()], run.stderr

    run_dir = (small_store / "latest").resolve()
    test = json.loads((run_dir / "test.json").read_text())
    assert namespaces_with(test["prefix"]) == []  # the cluster was torn down
    # Nothing half-written: no temporary files, and whatever results.json there is is whole.
    leftovers = [p.name for p in run_dir.rglob("*") if p.name.endswith((".tmp", ".partial"))]
    assert leftovers == []
    if (run_dir / "results.json").exists():
        results = json.loads((run_dir / "results.json").read_text())
        assert results["harness_error"] is True and "no space left on device" in results["reason"]
    held = int(re.search(r"its (\d+) ops, held in memory, were checked", error).group(1))

    # After the fact, on a copy with room to write: every complete op is judged.
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    recorded = whole_lines(copy / "history.jsonl")
    assert 0 < recorded <= held
    again = faultline("analyze", str(copy), "--json", cwd=tmp_path)
    assert again.returncode in (0, 1, 2), again.stdout + again.stderr  # a verdict, not an error
    analysed = analysed_ops(json.loads(again.stdout)["stats"])

    # A crash can tear the last line, as a full disk with no room left to mend it would: the
    # reader takes every whole line before it.
    torn = copy / "history.jsonl"
    with open(torn, "ab") as f:
        f.write(b'{"index": 999999, "time": 1, "type": "inv')
    torn_run = faultline("analyze", str(copy), "--json", cwd=tmp_path)
    assert torn_run.returncode in (0, 1, 2), torn_run.stdout + torn_run.stderr
    analysed_torn = analysed_ops(json.loads(torn_run.stdout)["stats"])

    lost = recorded - analysed
    print(f"\nfull disk (256 KiB tmpfs store): ops recorded {recorded} (of {held} the run held and checked), "
          f"ops analysable after the fact {analysed}, lost {lost}; with a torn last line: analysable "
          f"{analysed_torn}, lost {recorded - analysed_torn}")
    assert lost == 0 and analysed_torn == recorded
