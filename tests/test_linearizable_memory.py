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
# What the interpreter allocates after the search stopped
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


# Runs the command from a bare interpreter and reports wait4's ru_maxrss for it: the exact
# high-water mark of the largest process of its tree. From a bare interpreter (about 8 MB)
# because Linux counts the resident size a process had just before exec in that figure, and
# a child forked from pytest would start with pytest's.
_MEASURE = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
os.write(2, f"{usage.ru_maxrss * 1024} {os.waitstatus_to_exitcode(status)}".encode())
"""


def _high_water(pid: int) -> int:
    """The sum over the processes of the tree under `pid` (not `pid` itself) of each one's
    resident high-water mark (VmHWM: unlike a sample of the resident size, it misses no peak
    of that process between samples)."""
    total, todo = 0, _children(pid)
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass  # it ended between the listing and the read
        todo += _children(p)
    return total


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(c) for c in f.read().split()]
    except OSError:
        return []


@pytest.mark.skipif(not accelerated(), reason="the hard limit is the C search's")
@pytest.mark.parametrize("keys", [1, 2])  # two hard keys: worker processes share the limit
def test_memory_limit_holds_for_the_process_tree(tmp_path, keys):
    """Two bounds, both within the limit plus MARGIN: the largest process's exact peak (wait4),
    and, every 5 ms, the sum of the peaks so far of the processes alive then. At the moment the
    tree is largest, each of its processes' peaks so far is at least its size then, so the next
    look after that moment sees at least the tree's peak (more: pages a worker shares with its
    parent count twice), unless a process of it ended within those 5 ms."""
    path = _hard_history(tmp_path / "hard.jsonl", keys)
    faultline = str(Path(sys.executable).with_name("faultline"))
    process = subprocess.Popen([sys.executable, "-S", "-c", _MEASURE, faultline, "analyze", str(path), "--checker",
                                "linearizable", "--model", "cas-register", "--keyed", "--memory-limit", str(LIMIT),
                                "--time-limit", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    tree = 0
    while process.poll() is None:
        tree = max(tree, _high_water(process.pid))
        time.sleep(0.005)
    out, measured = process.communicate()
    largest, code = (int(x) for x in measured.split()[-2:])
    assert code == 2, out
    assert "memory limit" in out
    assert tree > 0, "the tree was never seen"
    assert largest <= LIMIT + MARGIN, f"peak resident size of the largest process {largest / 2**20:.0f} MiB"
    assert tree <= LIMIT + MARGIN, f"the tree's peak resident size {tree / 2**20:.0f} MiB"
