"""The journal when the disk will not take another byte: one clear error naming the file, the
file cut back to whole lines, every op still in memory, and a run that stops as a whole (no
worker thread dying alone with a traceback while the others go on).

The disks are real: /dev/full (every write fails with ENOSPC) and, as root, a small tmpfs.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import pytest
from tmpfs import mounted_tmpfs

from harness.generator.combinators import clients, limit
from harness.history import Op
from harness.history_reader import read_history
from harness.journal import HistoryWriter, JournalError
from harness.interpreter import Interpreter
from harness.spec import RunStatus, TestSpec
from workloads.set import UniqueAdds

DEV_FULL = Path("/dev/full")


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, always unmounted."""
    with mounted_tmpfs(tmp_path / "tiny", "64k") as mount:
        yield mount


def add(i: int, process: int = 0) -> Op:
    return Op(type="invoke", f="add", value=i, process=process, time=i)


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_a_journal_that_cannot_be_written_says_so_once_and_takes_no_more() -> None:
    writer = HistoryWriter(DEV_FULL, flush_each=True)
    with pytest.raises(JournalError) as first:
        writer.append(add(0))
    message = str(first.value)
    assert message.startswith(f"no space left on device writing {DEV_FULL} (ENOSPC)")
    assert first.value.path == DEV_FULL and first.value.on_disk == 0
    # From then on nothing goes on as if it were recorded: every call fails at once, the same way.
    with pytest.raises(JournalError, match="no space left on device"):
        writer.append(add(1))
    with pytest.raises(JournalError, match="no space left on device"):
        writer.flush()
    writer.close()  # quiet: the failure is kept for whoever owns the journal
    assert writer.failure is first.value
    # Every op is still in memory, numbered, for the run to check.
    assert [(op.index, op.value) for op in writer.ops] == [(0, 0), (1, 1)]


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs /dev/full")
def test_a_with_block_raises_the_failure_of_its_last_flush() -> None:
    with pytest.raises(JournalError, match=f"writing {DEV_FULL}"):
        with HistoryWriter(DEV_FULL, flush_each=False) as writer:
            writer.append(add(0))  # buffered: the failure comes with the flush at the end
    assert len(writer.ops) == 1


@pytest.mark.root
def test_a_full_disk_leaves_only_whole_lines_in_the_journal(tiny_disk: Path) -> None:
    path = tiny_disk / "history.jsonl"
    writer = HistoryWriter(path, flush_each=False)
    appended = 0
    try:
        with pytest.raises(JournalError) as failure:
            while appended < 10_000:
                writer.append(Op(type="ok", f="add", value=appended, process=appended % 5, time=appended, error="x" * 40))
                appended += 1
                if appended % 7 == 0:  # several lines a write, so the disk fills mid-line
                    writer.flush()
    finally:
        writer.close()
    data = path.read_bytes()
    assert data.endswith(b"\n")  # the torn line was cut off
    lines = [json.loads(line) for line in data.splitlines()]
    assert [line["index"] for line in lines] == list(range(len(lines)))
    assert failure.value.on_disk == len(lines) > 0
    assert f"the file holds the first {len(lines)} ops whole" in str(failure.value)
    assert len(writer.ops) == appended > len(lines)  # the failure came with a flush


class _NoCluster:
    nodes = [SimpleNamespace(name="n1")]


class _FillingClient:
    """Acknowledges every op; its `fill_at`-th op fills the disk the journal is on, as another
    program writing to the same disk would, so a later write of the journal fails."""

    calls = 0

    def __init__(self, disk: Path, fill_at: int):
        self.disk, self.fill_at = disk, fill_at

    def open(self, cluster: Any, node: Any) -> None:
        pass

    def invoke(self, op: Op) -> Op:
        _FillingClient.calls += 1
        if _FillingClient.calls == self.fill_at:
            with open(self.disk / "filler", "wb") as f:
                try:
                    while True:
                        f.write(b"\0" * 4096)
                        f.flush()
                except OSError:
                    pass
        return op.complete("ok")

    def close(self) -> None:
        pass


@pytest.mark.root
def test_a_run_whose_journal_fails_stops_every_worker_without_a_thread_traceback(
    tiny_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uncaught: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", uncaught.append)
    _FillingClient.calls = 0
    # concurrency 1: the worker takes its next op itself, so its own flush meets the full disk.
    spec = TestSpec(system="filling", workload="set", concurrency=1, time_limit=20, final_timeout=10)
    system = SimpleNamespace(client=lambda cluster: _FillingClient(tiny_disk, fill_at=50))
    journal = HistoryWriter(tiny_disk / "history.jsonl", flush_each=False)
    interpreter = Interpreter(spec, _NoCluster(), system, [], journal, RunStatus(), logging.getLogger("test-journal"))
    try:
        with pytest.raises(JournalError, match="no space left on device writing .*history.jsonl"):
            interpreter.run(clients(limit(1_000_000, UniqueAdds())))
    finally:
        journal.close()
    assert uncaught == []
    assert not [t.name for t in interpreter.threads if t.is_alive()]
    assert journal.failure is not None and len(journal.ops) > journal.failure.on_disk >= 50
    lines = (tiny_disk / "history.jsonl").read_bytes().splitlines()
    assert len(lines) == journal.failure.on_disk


class CtrlCAfterWrite:
    """A journal file whose first write succeeds and then Ctrl-C arrives: a signal can land in
    the main thread between a write returning and the journal's bookkeeping after it."""

    def __init__(self, real: object) -> None:
        self.real, self.armed = real, True

    def write(self, data: bytes) -> int:
        written = self.real.write(data)
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        return written

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)


def test_ctrl_c_right_after_a_write_never_writes_a_line_twice(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    journal = HistoryWriter(path, flush_each=False)
    for process in range(3):
        journal.append(Op("invoke", "read", None, process))
    journal._file = CtrlCAfterWrite(journal._file)  # the moment the reliability suite hit
    with pytest.raises(KeyboardInterrupt):
        journal.flush()
    journal.append(Op("invoke", "read", None, 3))
    journal.close()
    assert [op.index for op in read_history(path)] == [0, 1, 2, 3]
