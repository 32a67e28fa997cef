"""The memory limit is hard: it holds for the resident size of the whole process tree."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from checkers.linearizable.wgl import accelerated

LIMIT = 250 * 2**20
# Peaks are sampled every 10 ms; what the interpreter allocates after the search stopped
# (the verdict, the reason) comes on top of what the search was allowed.
MARGIN = 16 * 2**20


def _hard_history(path: Path, keys: int) -> Path:
    """Per key, 30 writes of 1 or 2 invoked, then 31 reads alternating 1, 2, then the 30 writes
    complete: not linearizable (each read needs a write of its own), but the search must try a
    great many subsets of the writes to know it, and no fast path applies (values repeat). The
    writes complete, so each is its own op to the search: crashed writes of one value would be
    merged by its symmetry rule (wgl._twins), and the same history with them crashed is decided
    at once (test_linearizable.py)."""
    rows = []
    for k in range(keys):
        rows += [{"type": "invoke", "f": "write", "value": [k, 1 + p % 2], "process": 40 * k + p} for p in range(30)]
    for j in range(31):
        for k in range(keys):
            rows.append({"type": "invoke", "f": "read", "value": [k, None], "process": 1000 + k})
            rows.append({"type": "ok", "f": "read", "value": [k, 1 + j % 2], "process": 1000 + k})
    for k in range(keys):
        rows += [{"type": "ok", "f": "write", "value": [k, 1 + p % 2], "process": 40 * k + p} for p in range(30)]
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    return path


def _tree_resident(pid: int) -> int:
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * 4096
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except OSError:
            pass  # it ended between the two reads
    return total


@pytest.mark.skipif(not accelerated(), reason="the hard limit is the C search's")
@pytest.mark.parametrize("keys", [1, 2])  # two hard keys: worker processes share the limit
def test_memory_limit_holds_for_the_process_tree(tmp_path, keys):
    path = _hard_history(tmp_path / "hard.jsonl", keys)
    faultline = str(Path(sys.executable).with_name("faultline"))
    process = subprocess.Popen([faultline, "analyze", str(path), "--checker", "linearizable", "--model",
                                "cas-register", "--keyed", "--memory-limit", str(LIMIT), "--time-limit", "600"],
                               stdout=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _tree_resident(process.pid))
        time.sleep(0.01)
    out = process.stdout.read()
    assert process.returncode == 2, out
    assert "memory limit" in out
    assert peak <= LIMIT + MARGIN, f"peak resident size of the tree {peak / 2**20:.0f} MiB"
