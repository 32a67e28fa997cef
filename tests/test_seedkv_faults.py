"""seedkv's fixed mode under every fault it declares at once, through `faultline test`: the issue 5
self-test needs correct modes valid under partition, kill, pause and clock faults together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.runtime.local import list_namespaces

pytestmark = [pytest.mark.slow, pytest.mark.root]

FAULTLINE = str(Path(sys.executable).parent / "faultline")


def test_fixed_mode_is_valid_under_partition_kill_pause_and_clock(tmp_path: Path) -> None:
    proc = subprocess.run(
        [FAULTLINE, "test", "--system", "seedkv", "--mode", "fixed", "--workload", "set",
         "--nemesis", "partition,kill,pause,clock", "--nodes", "3", "--time-limit", "30", "--seed", "8",
         "--store", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = (tmp_path / "latest").resolve()
    faults = {json.loads(line)["f"] for line in (run_dir / "history.jsonl").read_text().splitlines()
              if '"nemesis"' in line and '"info"' in line}
    assert {"partition", "kill", "pause"} <= faults and faults & {"bump", "strobe", "drift"}, faults
    assert set(json.loads((run_dir / "results.json").read_text())["clock"]) == {"n1", "n2", "n3"}
    prefix = json.loads((run_dir / "test.json").read_text())["prefix"]
    assert not [ns for ns in list_namespaces() if ns.startswith(prefix + "-")]
    assert not list(run_dir.rglob("faketime.rc*"))
